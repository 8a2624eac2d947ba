"""Celery tasks of the search app; each runs inside the schema named by its first argument."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_shutting_down

from portal.celery import TenantTask
from search.services.indexing import requeue_active_jobs, run_index_job


@shared_task(base=TenantTask, acks_late=True)
def index_repository(schema_name: str, job_id: int) -> str | None:
    """Run one index job; a duplicate delivery of the same job is a logged no-op."""
    job = run_index_job(job_id)
    return None if job is None else job.status


@worker_shutting_down.connect
def _hand_back_running_jobs(**_: Any) -> None:
    """A worker stopping mid-job hands the job back so the redelivered message resumes it."""
    requeue_active_jobs()
