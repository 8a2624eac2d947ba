"""Celery tasks of the search app; each runs inside the schema named by its first argument."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_shutting_down

from portal.celery import TenantTask
from search.services.indexing import recover_stalled_jobs, requeue_active_jobs, run_index_job
from search.warming import warm_tenant_cache


@shared_task(base=TenantTask, acks_late=True)
def index_repository(schema_name: str, job_id: int) -> str | None:
    """Run one index job; a duplicate delivery of the same job is a logged no-op."""
    job = run_index_job(job_id)
    return None if job is None else job.status


@shared_task(base=TenantTask)
def warm_search_cache(schema_name: str) -> int:
    """Re-run the tenant's popular queries after its index changed."""
    return warm_tenant_cache(schema_name)


@shared_task
def warm_all_search_caches() -> int:
    """Queue warming for every ready tenant (beat runs this every few minutes)."""
    from tenants.models import Tenant

    schemas = list(
        Tenant.objects.filter(status=Tenant.Status.READY)
        .exclude(schema_name="public")
        .values_list("schema_name", flat=True)
    )
    for schema_name in schemas:
        warm_search_cache.delay(schema_name)
    return len(schemas)


@shared_task
def recover_stalled_index_jobs() -> int:
    """Resend the messages of jobs no worker will run, in every ready tenant (beat, 1 min)."""
    from django_tenants.utils import schema_context

    from tenants.models import Tenant

    schemas = (
        Tenant.objects.filter(status=Tenant.Status.READY)
        .exclude(schema_name="public")
        .values_list("schema_name", flat=True)
    )
    resent = 0
    for schema_name in schemas:
        with schema_context(schema_name):
            resent += len(recover_stalled_jobs())
    return resent


@worker_shutting_down.connect
def _hand_back_running_jobs(**_: Any) -> None:
    """A worker stopping mid-job hands the job back so the redelivered message resumes it."""
    requeue_active_jobs()
