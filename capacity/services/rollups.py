"""Move minute counters from Redis into PostgreSQL and roll them up to hours and days.

The flush is idempotent at every level: a minute hash is drained once (read and deleted in
one MULTI) and added to its minute row, and hour and day rows are recomputed from the level
below rather than incremented, so re-running a rollup never double-counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from capacity import counters, histogram
from capacity.conf import capacity_setting
from capacity.counters import (
    COUNTER_FIELDS,
    GAUGE_FIELDS,
    USAGE_FIELDS,
    USAGE_FLOAT_FIELDS,
    USAGE_GAUGES,
)
from capacity.models import ProcessRollup, Resolution, Source, UsageRollup
from capacity.recording import record_storage
from capacity.storage import tenant_storage
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlushReport:
    minutes: int
    process_minutes: int
    hours: int
    days: int
    deleted: int


def _truncate(at: datetime, resolution: str) -> datetime:
    at = at.replace(second=0, microsecond=0)
    if resolution in (Resolution.HOUR, Resolution.DAY):
        at = at.replace(minute=0)
    if resolution == Resolution.DAY:
        at = at.replace(hour=0)
    return at


def combine_usage(rows: Sequence[UsageRollup]) -> dict[str, Any]:
    """Return the field values of one bucket made of ``rows``: counters and histograms are
    summed; a gauge takes the last value observed (rows ordered by ``bucket_start``)."""
    values: dict[str, Any] = {name: 0 for name in COUNTER_FIELDS}
    values["latency_histogram"] = histogram.merge(r.latency_histogram for r in rows)
    for name in GAUGE_FIELDS:
        values[name] = None
    for row in rows:
        for name in COUNTER_FIELDS:
            values[name] += getattr(row, name)
        for name in GAUGE_FIELDS:
            if getattr(row, name) is not None:
                values[name] = getattr(row, name)
    return values


def _apply_usage_minute(minute_hash: counters.MinuteHash, tenant_ids: set[int]) -> bool:
    if minute_hash.tenant_id not in tenant_ids:
        # The tenant was deleted after recording; its counters go with it.
        return False
    fields = minute_hash.fields
    bucket = counters.minute_start(minute_hash.minute)
    with transaction.atomic():
        row, _ = UsageRollup.objects.select_for_update().get_or_create(
            tenant_id=minute_hash.tenant_id,
            source=Source.MEASURED,
            resolution=Resolution.MINUTE,
            bucket_start=bucket,
        )
        for key, name in USAGE_FIELDS.items():
            setattr(row, name, getattr(row, name) + int(fields.get(key, 0)))
        for key, name in USAGE_FLOAT_FIELDS.items():
            setattr(row, name, getattr(row, name) + float(fields.get(key, 0.0)))
        added = [int(fields.get(f"h{i}", 0)) for i in range(histogram.BUCKET_COUNT)]
        row.latency_histogram = histogram.add(row.latency_histogram, added)
        for key, name in USAGE_GAUGES.items():
            if key in fields:
                setattr(row, name, int(fields[key]))
        row.save()
    return True


def _apply_process_minute(minute_hash: counters.MinuteHash) -> None:
    fields = minute_hash.fields
    samples = int(fields.get("samples", 0))
    with transaction.atomic():
        row, _ = ProcessRollup.objects.select_for_update().get_or_create(
            role=minute_hash.role,
            instance=minute_hash.instance[:100],
            source=Source.MEASURED,
            resolution=Resolution.MINUTE,
            bucket_start=counters.minute_start(minute_hash.minute),
        )
        total = row.memory_bytes_avg * row.samples + int(fields.get("rss_sum", 0))
        row.samples += samples
        row.memory_bytes_avg = total // row.samples if row.samples else 0
        row.memory_bytes_peak = max(row.memory_bytes_peak, int(fields.get("rss_max", 0)))
        row.cpu_seconds += fields.get("cpu_us", 0.0) / 1_000_000
        row.save()


def _level_below(resolution: str) -> tuple[str, timedelta]:
    """The resolution an hour or day row is summed from, and the span it covers."""
    if resolution == Resolution.HOUR:
        return Resolution.MINUTE, timedelta(hours=1)
    return Resolution.HOUR, timedelta(days=1)


def rollup_usage(
    tenant_id: int, bucket: datetime, *, resolution: str, source: str = Source.MEASURED
) -> UsageRollup | None:
    """Recompute one tenant's hour or day row from the rows one level below.

    Return the row, or None when the level below has no rows (nothing is written then).
    """
    below, span = _level_below(resolution)
    start = _truncate(bucket, resolution)
    rows = list(
        UsageRollup.objects.filter(
            tenant_id=tenant_id,
            source=source,
            resolution=below,
            bucket_start__gte=start,
            bucket_start__lt=start + span,
        ).order_by("bucket_start")
    )
    if not rows:
        return None
    row, _ = UsageRollup.objects.update_or_create(
        tenant_id=tenant_id,
        source=source,
        resolution=resolution,
        bucket_start=start,
        defaults=combine_usage(rows),
    )
    return row


def rollup_process(
    role: str, instance: str, bucket: datetime, *, resolution: str, source: str = Source.MEASURED
) -> None:
    """Recompute one process's hour or day row from the rows one level below."""
    below, span = _level_below(resolution)
    start = _truncate(bucket, resolution)
    rows = list(
        ProcessRollup.objects.filter(
            role=role,
            instance=instance,
            source=source,
            resolution=below,
            bucket_start__gte=start,
            bucket_start__lt=start + span,
        )
    )
    if not rows:
        return
    samples = sum(r.samples for r in rows)
    ProcessRollup.objects.update_or_create(
        role=role,
        instance=instance,
        source=source,
        resolution=resolution,
        bucket_start=start,
        defaults={
            "cpu_seconds": sum(r.cpu_seconds for r in rows),
            "samples": samples,
            "memory_bytes_avg": (
                sum(r.memory_bytes_avg * r.samples for r in rows) // samples if samples else 0
            ),
            "memory_bytes_peak": max(r.memory_bytes_peak for r in rows),
        },
    )


def apply_retention(now: datetime) -> int:
    """Delete rows past their resolution's retention; return how many were deleted."""
    limits = {
        Resolution.MINUTE: timedelta(hours=capacity_setting("MINUTE_RETENTION_HOURS")),
        Resolution.HOUR: timedelta(days=capacity_setting("HOUR_RETENTION_DAYS")),
        Resolution.DAY: timedelta(days=capacity_setting("DAY_RETENTION_DAYS")),
    }
    deleted = 0
    for resolution, keep in limits.items():
        for model in (UsageRollup, ProcessRollup):
            count, _ = model.objects.filter(
                resolution=resolution, bucket_start__lt=now - keep
            ).delete()
            deleted += count
    return deleted


def flush_metrics(*, now: datetime | None = None) -> FlushReport:
    """Drain every completed minute from Redis into minute rows, then roll up and prune.

    The current minute stays in Redis (live charts read it there) until it has ended.
    Side effects: Redis hashes deleted; UsageRollup and ProcessRollup rows written and
    deleted. Raise RedisError when Redis is unreachable; nothing is lost then, since the
    hashes stay until the next successful run (or their TTL).
    """
    now = now or timezone.now()
    drained = counters.drain_before(counters.minute_of(now))
    tenant_ids = set(
        Tenant.objects.filter(
            pk__in={h.tenant_id for h in drained if h.tenant_id is not None}
        ).values_list("pk", flat=True)
    )
    usage_hours: set[tuple[int, datetime]] = set()
    process_hours: set[tuple[str, str, datetime]] = set()
    minutes = process_minutes = 0
    for minute_hash in drained:
        hour = _truncate(counters.minute_start(minute_hash.minute), Resolution.HOUR)
        if minute_hash.kind == "u":
            if _apply_usage_minute(minute_hash, tenant_ids):
                minutes += 1
                usage_hours.add((int(minute_hash.tenant_id or 0), hour))
        else:
            _apply_process_minute(minute_hash)
            process_minutes += 1
            process_hours.add((minute_hash.role, minute_hash.instance[:100], hour))

    days = _rollup_touched(usage_hours, process_hours)
    deleted = apply_retention(now)
    report = FlushReport(minutes, process_minutes, len(usage_hours), days, deleted)
    logger.info(
        "capacity.flush.finished",
        extra={
            "minutes": minutes,
            "process_minutes": process_minutes,
            "hours": len(usage_hours),
            "days": days,
            "deleted": deleted,
        },
    )
    return report


def _rollup_touched(
    usage_hours: Iterable[tuple[int, datetime]],
    process_hours: Iterable[tuple[str, str, datetime]],
) -> int:
    usage_days: set[tuple[int, datetime]] = set()
    process_days: set[tuple[str, str, datetime]] = set()
    for tenant_id, hour in usage_hours:
        rollup_usage(tenant_id, hour, resolution=Resolution.HOUR)
        usage_days.add((tenant_id, _truncate(hour, Resolution.DAY)))
    for role, instance, hour in process_hours:
        rollup_process(role, instance, hour, resolution=Resolution.HOUR)
        process_days.add((role, instance, _truncate(hour, Resolution.DAY)))
    for tenant_id, day in usage_days:
        rollup_usage(tenant_id, day, resolution=Resolution.DAY)
    for role, instance, day in process_days:
        rollup_process(role, instance, day, resolution=Resolution.DAY)
    return len(usage_days) + len(process_days)


def sample_storage_gauges(*, now: datetime | None = None) -> int:
    """Record every ready tenant's vectors and stored bytes; return how many were recorded.

    Side effects: reads each tenant schema; one Redis write per tenant.
    """
    now = now or timezone.now()
    recorded = 0
    for tenant in Tenant.objects.filter(status=Tenant.Status.READY).exclude(schema_name="public"):
        storage = tenant_storage(tenant)
        if record_storage(
            tenant.pk, vectors=storage.vectors, stored_bytes=storage.stored_bytes, at=now
        ):
            recorded += 1
    logger.info("capacity.storage_gauges.sampled", extra={"tenants": recorded})
    return recorded
