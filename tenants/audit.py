"""The tenant's audit log of admin actions (rows live in the tenant schema).

Services call :func:`record_event` inside the transaction of the action they record, so an
event exists exactly when its action was committed. The client address comes from the request
being served (``portal.security.ClientAddressMiddleware``); tasks and commands record none.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet

from portal.security import current_client_address
from tenants.accounts.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)

LATEST_EVENTS = 200


def record_event(
    action: AuditAction,
    *,
    target_type: str,
    target_id: object,
    actor: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the current tenant's audit log and return it.

    ``actor`` may be None (management commands, tasks). ``detail`` must be JSON-serialisable
    and must never hold secrets (token plaintext, passwords). Writes one row.
    """
    is_user = getattr(actor, "pk", None) is not None
    event = AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_email=getattr(actor, "email", "") if is_user else "",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
        ip=current_client_address(),
    )
    logger.info(
        "accounts.audit.recorded",
        extra={"audit_event_id": event.pk, "action": str(action), "target_type": target_type},
    )
    return event


def latest_events(limit: int = LATEST_EVENTS) -> QuerySet[AuditEvent]:
    """The newest events of the current tenant first; reads only the tenant schema."""
    return AuditEvent.objects.select_related("actor")[:limit]
