"""Celery tasks of the search app; each runs inside the schema named by its first argument."""

from __future__ import annotations

from celery import shared_task

from portal.celery import TenantTask
from search.services.indexing import run_index_job


@shared_task(base=TenantTask, acks_late=True)
def index_repository(schema_name: str, job_id: int) -> str | None:
    """Run one index job; a duplicate delivery of the same job is a logged no-op."""
    job = run_index_job(job_id)
    return None if job is None else job.status
