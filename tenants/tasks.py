"""Celery tasks of the public schema: tenant provisioning."""

from __future__ import annotations

import logging

from celery import shared_task

from tenants.exceptions import ProvisioningFailed
from tenants.services.provisioning import roll_back_provisioning, run_provisioning

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1, acks_late=True)
def provision_tenant(self, tenant_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run the provisioning steps; retry with backoff, then roll back and mark failed."""
    try:
        return run_provisioning(tenant_id).status
    except ProvisioningFailed as exc:
        if self.request.retries < self.max_retries and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
        roll_back_provisioning(tenant_id)
        return "failed"
