"""Reads of measurements, for one tenant or (operators) all tenants.

:func:`usage_rows` is the one place tenant rows are read: a :class:`Scope` built on a tenant
site by :func:`tenant_scope` always carries the current tenant (``connection.tenant``), and
every other selector here, in the planner and in billing goes through it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from capacity import counters, histogram
from capacity.exceptions import InvalidWindow
from capacity.models import ProcessRollup, Resolution, Source, UsageRollup
from capacity.storage import TenantStorage, tenant_storage
from tenants.models import Tenant


@dataclass(frozen=True)
class Scope:
    """Whose rows a reader may see: one tenant, or every tenant (operators only)."""

    tenant: Tenant | None

    @property
    def is_all_tenants(self) -> bool:
        return self.tenant is None

    @property
    def label(self) -> str:
        return "all tenants" if self.tenant is None else self.tenant.slug


def tenant_scope() -> Scope:
    """Return the scope of the tenant whose site is being served (``connection.tenant``).

    Raise RuntimeError on the public schema: a tenant page reached there is a routing bug,
    and widening the scope to every tenant instead would leak other tenants' rows.
    """
    tenant = getattr(connection, "tenant", None)
    if tenant is None or connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        raise RuntimeError(
            "tenant_scope() needs a tenant schema; operator pages use operator_scope()."
        )
    return Scope(tenant=tenant)


def operator_scope() -> Scope:
    """Return the all-tenants scope; views must have checked that the user is staff."""
    return Scope(tenant=None)


def usage_rows(
    scope: Scope,
    *,
    resolution: str,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
) -> QuerySet[UsageRollup]:
    """Return the scope's usage rows of one resolution, oldest first."""
    rows = UsageRollup.objects.filter(resolution=resolution)
    if scope.tenant is not None:
        rows = rows.filter(tenant_id=scope.tenant.pk)
    if since is not None:
        rows = rows.filter(bucket_start__gte=since)
    if until is not None:
        rows = rows.filter(bucket_start__lt=until)
    if source is not None:
        rows = rows.filter(source=source)
    return rows.order_by("bucket_start", "tenant_id")


def _pending_rows(scope: Scope, since: datetime) -> list[UsageRollup]:
    """Unflushed minutes from Redis, as unsaved rows, so live charts include this minute."""
    tenant_id = None if scope.tenant is None else scope.tenant.pk
    rows = []
    for minute_hash in counters.peek_usage(tenant_id):
        bucket = counters.minute_start(minute_hash.minute)
        if bucket < since:
            continue
        rows.append(
            UsageRollup(
                tenant_id=minute_hash.tenant_id,
                source=Source.MEASURED,
                resolution=Resolution.MINUTE,
                bucket_start=bucket,
                **counters.usage_values(minute_hash),
            )
        )
    return rows


# ------------------------------------------------------------------------------ charts

WINDOWS: dict[str, tuple[str, timedelta]] = {
    "hour": (Resolution.MINUTE, timedelta(hours=1)),
    "day": (Resolution.HOUR, timedelta(days=1)),
    "week": (Resolution.HOUR, timedelta(days=7)),
}
BUCKET_SECONDS = {Resolution.MINUTE: 60, Resolution.HOUR: 3600, Resolution.DAY: 86400}


@dataclass
class Series:
    """One source's chart series; lists are aligned with ``t``."""

    source: str
    t: list[str] = field(default_factory=list)
    requests_per_second: list[float] = field(default_factory=list)
    p50_ms: list[float | None] = field(default_factory=list)
    p95_ms: list[float | None] = field(default_factory=list)
    p99_ms: list[float | None] = field(default_factory=list)
    error_rate: list[float | None] = field(default_factory=list)
    cache_hit_ratio: list[float | None] = field(default_factory=list)
    chunks_per_minute: list[float] = field(default_factory=list)
    vectors: list[int | None] = field(default_factory=list)
    stored_bytes: list[int | None] = field(default_factory=list)
    total_requests: int = 0


def _bucket_starts(start: datetime, end: datetime, resolution: str) -> list[datetime]:
    step = timedelta(seconds=BUCKET_SECONDS[resolution])
    buckets, current = [], start
    while current <= end:
        buckets.append(current)
        current += step
    return buckets


def _truncate(at: datetime, resolution: str) -> datetime:
    at = at.replace(second=0, microsecond=0)
    return at.replace(minute=0) if resolution != Resolution.MINUTE else at


def _build_series(
    source: str,
    rows: Iterable[UsageRollup],
    buckets: list[datetime],
    resolution: str,
) -> Series:
    by_bucket: dict[datetime, list[UsageRollup]] = defaultdict(list)
    for row in rows:
        by_bucket[row.bucket_start].append(row)
    seconds = BUCKET_SECONDS[resolution]
    series = Series(source=source)
    last_gauges: dict[int, tuple[int | None, int | None]] = {}
    for bucket in buckets:
        group = by_bucket.get(bucket, [])
        requests = sum(r.search_requests for r in group)
        errors = sum(r.search_errors for r in group)
        hits = sum(r.cache_l1_hits + r.cache_l2_hits for r in group)
        lookups = hits + sum(r.cache_misses for r in group)
        merged = histogram.merge(r.latency_histogram for r in group)
        for row in group:
            previous = last_gauges.get(row.tenant_id, (None, None))
            last_gauges[row.tenant_id] = (
                row.vectors if row.vectors is not None else previous[0],
                row.stored_bytes if row.stored_bytes is not None else previous[1],
            )
        series.t.append(bucket.isoformat())
        series.requests_per_second.append(round(requests / seconds, 4))
        series.p50_ms.append(_rounded(histogram.percentile(merged, 0.50)))
        series.p95_ms.append(_rounded(histogram.percentile(merged, 0.95)))
        series.p99_ms.append(_rounded(histogram.percentile(merged, 0.99)))
        series.error_rate.append(round(errors / requests, 4) if requests else None)
        series.cache_hit_ratio.append(round(hits / lookups, 4) if lookups else None)
        series.chunks_per_minute.append(
            round(sum(r.chunks_indexed for r in group) / (seconds / 60), 3)
        )
        vectors = [v for v, _ in last_gauges.values() if v is not None]
        stored = [b for _, b in last_gauges.values() if b is not None]
        series.vectors.append(sum(vectors) if vectors else None)
        series.stored_bytes.append(sum(stored) if stored else None)
        series.total_requests += requests
    return series


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def chart_data(scope: Scope, window: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the dashboard's chart series for the window, measured and generated apart.

    Raise :class:`InvalidWindow` for a window other than hour, day or week. Minute windows
    include the current, not yet flushed minute from Redis.
    """
    if window not in WINDOWS:
        raise InvalidWindow(
            f"Unknown window {window!r}; choose one of {', '.join(WINDOWS)}.", field="window"
        )
    now = now or timezone.now()
    resolution, span = WINDOWS[window]
    end = _truncate(now, resolution)
    start = end - span + timedelta(seconds=BUCKET_SECONDS[resolution])
    buckets = _bucket_starts(start, end, resolution)
    rows = list(usage_rows(scope, resolution=resolution, since=start))
    if resolution == Resolution.MINUTE:
        flushed = {(r.tenant_id, r.bucket_start) for r in rows if r.source == Source.MEASURED}
        rows.extend(
            r for r in _pending_rows(scope, start) if (r.tenant_id, r.bucket_start) not in flushed
        )
    series = {
        Source.MEASURED.value: _build_series(
            Source.MEASURED, [r for r in rows if r.source == Source.MEASURED], buckets, resolution
        )
    }
    generated = [r for r in rows if r.source == Source.GENERATED]
    if generated:
        series[Source.GENERATED.value] = _build_series(
            Source.GENERATED, generated, buckets, resolution
        )
    data: dict[str, Any] = {
        "window": window,
        "resolution": resolution,
        "scope": scope.label,
        "generated_at": now.isoformat(),
        "series": {name: vars(s) for name, s in series.items()},
    }
    if scope.is_all_tenants:
        data["processes"] = process_series(start, buckets, resolution)
    return data


def process_series(
    start: datetime, buckets: list[datetime], resolution: str
) -> dict[str, dict[str, list[float | None]]]:
    """Return CPU cores and memory of web and worker processes per bucket (measured only).

    Platform-wide rows: only the all-tenants scope shows them.
    """
    rows = ProcessRollup.objects.filter(
        resolution=resolution, source=Source.MEASURED, bucket_start__gte=start
    )
    seconds = BUCKET_SECONDS[resolution]
    grouped: dict[tuple[str, datetime], list[ProcessRollup]] = defaultdict(list)
    for row in rows:
        grouped[(row.role, row.bucket_start)].append(row)
    result: dict[str, dict[str, list[float | None]]] = {}
    for role in ProcessRollup.Role.values:
        cores: list[float | None] = []
        memory: list[float | None] = []
        for bucket in buckets:
            group = grouped.get((role, bucket), [])
            cores.append(round(sum(r.cpu_seconds for r in group) / seconds, 4) if group else None)
            memory.append(sum(r.memory_bytes_avg for r in group) if group else None)
        result[role] = {"cpu_cores": cores, "memory_bytes": memory}
    return result


# ------------------------------------------------------------------------------ planner inputs


@dataclass(frozen=True)
class HourlySeries:
    """Request counts per hour, contiguous from ``start``; empty when nothing was recorded."""

    source: str
    start: datetime | None
    counts: list[float]


def hourly_requests(
    scope: Scope, *, source: str, weeks: int = 8, now: datetime | None = None
) -> HourlySeries:
    """Return the scope's request counts per completed hour, zeros where none were recorded."""
    now = now or timezone.now()
    end = _truncate(now, Resolution.HOUR)
    rows = usage_rows(
        scope,
        resolution=Resolution.HOUR,
        source=source,
        since=end - timedelta(weeks=weeks),
        until=end,
    ).values_list("bucket_start", "search_requests")
    totals: dict[datetime, float] = defaultdict(float)
    for bucket, requests in rows:
        totals[bucket] += requests
    if not totals:
        return HourlySeries(source=source, start=None, counts=[])
    start = min(totals)
    hours = int((end - start).total_seconds() // 3600)
    counts = [totals.get(start + timedelta(hours=i), 0.0) for i in range(hours)]
    return HourlySeries(source=source, start=start, counts=counts)


@dataclass(frozen=True)
class CpuSample:
    """One minute of measured activity across the platform and the CPU it used."""

    cpu_seconds: float
    searches: int
    chunks: int


def cpu_samples(*, since: datetime) -> list[CpuSample]:
    """Return measured minutes that have process CPU samples, with the platform's searches
    and indexed chunks in the same minute (platform-wide; the fit needs every tenant's load).
    """
    cpu: dict[datetime, float] = defaultdict(float)
    for bucket, seconds in ProcessRollup.objects.filter(
        resolution=Resolution.MINUTE, source=Source.MEASURED, bucket_start__gte=since
    ).values_list("bucket_start", "cpu_seconds"):
        cpu[bucket] += seconds
    load: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for bucket, searches, chunks in usage_rows(
        operator_scope(), resolution=Resolution.MINUTE, source=Source.MEASURED, since=since
    ).values_list("bucket_start", "search_requests", "chunks_indexed"):
        load[bucket][0] += searches
        load[bucket][1] += chunks
    return [
        CpuSample(cpu_seconds=seconds, searches=load[b][0], chunks=load[b][1])
        for b, seconds in sorted(cpu.items())
    ]


@dataclass(frozen=True)
class ProcessFootprint:
    """Percentiles of per-process CPU (cores) and memory (bytes) over measured minutes."""

    role: str
    samples: int
    cpu_p5: float
    cpu_p95: float
    cpu_p99: float
    memory_p5: float
    memory_p99: float
    memory_peak: float


def process_footprint(role: str, *, since: datetime) -> ProcessFootprint | None:
    """Return the footprint of one process role, or None without measured minutes."""
    rows = list(
        ProcessRollup.objects.filter(
            role=role,
            resolution=Resolution.MINUTE,
            source=Source.MEASURED,
            bucket_start__gte=since,
            samples__gt=0,
        ).values_list("cpu_seconds", "memory_bytes_avg", "memory_bytes_peak")
    )
    if not rows:
        return None
    cores = sorted(r[0] / 60 for r in rows)
    memory = sorted(float(r[1]) for r in rows)
    return ProcessFootprint(
        role=role,
        samples=len(rows),
        cpu_p5=quantile(cores, 0.05),
        cpu_p95=quantile(cores, 0.95),
        cpu_p99=quantile(cores, 0.99),
        memory_p5=quantile(memory, 0.05),
        memory_p99=quantile(memory, 0.99),
        memory_peak=float(max(r[2] for r in rows)),
    )


def quantile(sorted_values: list[float], q: float) -> float:
    """Return the ``q`` quantile of already sorted values (linear interpolation)."""
    if not sorted_values:
        raise ValueError("quantile of an empty list")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def minute_burst_ratio(scope: Scope, *, since: datetime) -> tuple[float, int] | None:
    """Return (p99 of a minute's requests / its hour's mean minute, minutes used), or None.

    This is how far traffic overshoots within an hour, which an autoscaler reacting in
    minutes cannot follow; the HPA target leaves that much headroom.
    """
    per_minute: dict[datetime, float] = defaultdict(float)
    for bucket, requests in usage_rows(
        scope, resolution=Resolution.MINUTE, source=Source.MEASURED, since=since
    ).values_list("bucket_start", "search_requests"):
        per_minute[bucket] += requests
    by_hour: dict[datetime, list[float]] = defaultdict(list)
    for bucket, requests in per_minute.items():
        by_hour[bucket.replace(minute=0)].append(requests)
    ratios = []
    for minutes in by_hour.values():
        mean = sum(minutes) / 60
        if mean > 0:
            ratios.extend(m / mean for m in minutes)
    if len(ratios) < 30:
        return None
    return quantile(sorted(ratios), 0.99), len(ratios)


def scope_storage(scope: Scope) -> list[tuple[Tenant, TenantStorage]]:
    """Return vectors and stored bytes per tenant of the scope, read from their schemas."""
    if scope.tenant is not None:
        return [(scope.tenant, tenant_storage(scope.tenant))]
    tenants = Tenant.objects.filter(status=Tenant.Status.READY).exclude(
        schema_name=settings.PUBLIC_SCHEMA_NAME
    )
    return [(tenant, tenant_storage(tenant)) for tenant in tenants]


def tenants_in_scope(scope: Scope) -> list[Tenant]:
    if scope.tenant is not None:
        return [scope.tenant]
    return list(
        Tenant.objects.filter(status=Tenant.Status.READY).exclude(
            schema_name=settings.PUBLIC_SCHEMA_NAME
        )
    )
