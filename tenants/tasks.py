"""Celery tasks of the public schema: tenant provisioning and tier changes."""

from __future__ import annotations

import logging

from celery import shared_task

from tenants.exceptions import ProvisioningFailed
from tenants.models import Tenant
from tenants.services.provisioning import (
    note_provisioning_retry,
    roll_back_provisioning,
    run_provisioning,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# A tier change waits this long for running index jobs before trying the move again.
TIER_RETRY_COUNTDOWN_SECONDS = 60
TIER_MAX_RETRIES = 30


def backoff_seconds(retries: int) -> int:
    """Return the delay before retry number ``retries + 1``: 2, 4, 8, ... seconds."""
    return int(2 ** (retries + 1))


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1, acks_late=True)
def provision_tenant(self, tenant_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run the provisioning steps; retry with backoff, then roll back and mark failed.

    A retry resumes at the failed step: run_provisioning skips the steps already done. Eager
    Celery (tests, benchmarks) runs the retries at once, without waiting for the countdown.
    """
    try:
        return run_provisioning(tenant_id).status
    except ProvisioningFailed as exc:
        if self.request.retries < self.max_retries:
            countdown = backoff_seconds(self.request.retries)
            note_provisioning_retry(
                tenant_id,
                attempt=self.request.retries + 1,
                max_attempts=MAX_ATTEMPTS,
                countdown_seconds=countdown,
            )
            if self.request.is_eager:
                # Eager apply() runs a returned Retry's signature at once; a raised one would
                # escape to the caller because eager exceptions propagate.
                return self.retry(exc=exc, countdown=countdown, throw=False)
            raise self.retry(exc=exc, countdown=countdown) from exc
        roll_back_provisioning(tenant_id)
        return "failed"


@shared_task(bind=True, max_retries=TIER_MAX_RETRIES, acks_late=True)
def apply_tenant_tier(self, tenant_id: int) -> str:  # type: ignore[no-untyped-def]
    """Bring the namespace bundle and the storage isolation in line with the tenant's tier.

    Wait (retry) while index jobs block the move; a failed move leaves the tenant on its old
    storage with the reason in ``storage_move_error`` and is not retried automatically.
    """
    from tenants.services.isolation import StorageMoveRefused, apply_tier_storage
    from tenants.services.namespaces import provision_namespace

    tenant = Tenant.objects.get(pk=tenant_id)
    provision_namespace(tenant)
    try:
        result = apply_tier_storage(tenant_id)
    except StorageMoveRefused as exc:
        if (exc.data or {}).get("job_ids") and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=TIER_RETRY_COUNTDOWN_SECONDS) from exc
        raise
    if result is None:
        return "unchanged"
    return "dedicated" if result.to_dedicated else "shared"
