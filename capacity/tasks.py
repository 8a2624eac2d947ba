"""Celery tasks of the capacity app; they run in the public schema across all tenants."""

from __future__ import annotations

from celery import shared_task

from capacity.recording import sample_process
from capacity.services.rollups import flush_metrics, sample_storage_gauges


@shared_task(acks_late=True)
def flush_capacity_metrics() -> dict[str, int]:
    """Flush completed minutes to PostgreSQL and roll up; safe to run twice."""
    sample_process(force=True)
    report = flush_metrics()
    return {"minutes": report.minutes, "hours": report.hours, "deleted": report.deleted}


@shared_task(acks_late=True)
def sample_capacity_storage() -> int:
    """Record each tenant's vectors and stored bytes (hourly)."""
    return sample_storage_gauges()
