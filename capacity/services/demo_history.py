"""Write clearly labelled generated history for demos (``source = generated``).

Generated rows never mix with measured ones: they carry their own source value, charts draw
them as a separate dashed series, and the planner's fitted coefficients ignore them.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from capacity import histogram
from capacity.models import ProcessRollup, Resolution, Source, UsageRollup
from capacity.services.rollups import rollup_usage
from tenants.models import Tenant

logger = logging.getLogger(__name__)

BASE_REQUESTS_PER_HOUR = 240.0
WEEKEND_FACTOR = 0.35
GROWTH_PER_WEEK = 0.03


def demand(at: datetime) -> float:
    """Return the expected requests in the hour starting at ``at`` (before noise): a
    working-day curve peaking mid-afternoon, quiet nights and weekends."""
    daily = (
        0.15 + math.exp(-((at.hour - 14) ** 2) / 18) + 0.4 * math.exp(-((at.hour - 10) ** 2) / 8)
    )
    weekly = WEEKEND_FACTOR if at.weekday() >= 5 else 1.0
    return BASE_REQUESTS_PER_HOUR * daily * weekly


def _latency_histogram(
    rng: np.random.Generator, requests: int, load: float
) -> tuple[list[int], float]:
    # Latency rises a little with load, with a long tail of uncached queries.
    samples = rng.lognormal(mean=math.log(25 + 15 * load), sigma=0.6, size=requests)
    counts = histogram.empty()
    for value in samples:
        counts[histogram.bucket_index(float(value))] += 1
    return counts, float(samples.sum())


def _usage_row(
    tenant: Tenant,
    at: datetime,
    resolution: str,
    requests: int,
    rng: np.random.Generator,
    *,
    vectors: int,
    load: float,
) -> UsageRollup:
    counts, latency_sum = _latency_histogram(rng, requests, load)
    errors = int(rng.binomial(requests, 0.004)) if requests else 0
    served = requests - errors
    l1 = int(rng.binomial(served, 0.25)) if served else 0
    l2 = int(rng.binomial(served - l1, 0.12)) if served - l1 else 0
    is_nightly_job = resolution == Resolution.HOUR and at.hour == 2
    chunks = int(rng.integers(300, 900)) if is_nightly_job else 0
    return UsageRollup(
        tenant=tenant,
        source=Source.GENERATED,
        resolution=resolution,
        bucket_start=at,
        search_requests=requests,
        search_errors=errors,
        cache_l1_hits=l1,
        cache_l2_hits=l2,
        cache_misses=served - l1 - l2,
        results_returned=served * 8,
        response_bytes=served * 9000,
        latency_ms_sum=latency_sum,
        latency_histogram=counts,
        index_jobs=int(is_nightly_job),
        files_indexed=chunks // 6,
        chunks_indexed=chunks,
        embed_seconds=chunks / 26.8,
        index_seconds=chunks / 20.0,
        vectors=vectors,
        stored_bytes=vectors * 1664 + vectors * 900,
    )


def seed_demo_history(
    tenant: Tenant, *, weeks: int = 4, now: datetime | None = None, seed: int = 7
) -> int:
    """Replace the tenant's generated history with ``weeks`` of hourly rows (plus the last
    two hours by minute and the day rollups); return the number of rows written.

    Idempotent: earlier generated rows of the tenant are deleted first. Measured rows are
    never touched. Side effects: UsageRollup and ProcessRollup rows (source generated).
    """
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=weeks)
    rng = np.random.default_rng(seed + tenant.pk)
    hours = int((end - start).total_seconds() // 3600)
    rows: list[UsageRollup] = []
    vectors = 20_000
    for offset in range(hours):
        at = start + timedelta(hours=offset)
        trend = 1 + GROWTH_PER_WEEK * offset / 168
        expected = demand(at) * trend
        if at.hour == 2:
            vectors += int(rng.integers(300, 900))
        requests = int(rng.poisson(expected))
        rows.append(
            _usage_row(
                tenant,
                at,
                Resolution.HOUR,
                requests,
                rng,
                vectors=vectors,
                load=expected / BASE_REQUESTS_PER_HOUR,
            )
        )
    minutes = [end - timedelta(minutes=m) for m in range(120, 0, -1)] + [end]
    for at in minutes:
        expected = demand(at) / 60
        rows.append(
            _usage_row(
                tenant,
                at,
                Resolution.MINUTE,
                int(rng.poisson(expected)),
                rng,
                vectors=vectors,
                load=expected * 60 / BASE_REQUESTS_PER_HOUR,
            )
        )
    with transaction.atomic():
        UsageRollup.objects.filter(tenant=tenant, source=Source.GENERATED).delete()
        UsageRollup.objects.bulk_create(rows, batch_size=1000)
        days = {r.bucket_start.replace(hour=0) for r in rows if r.resolution == Resolution.HOUR}
        for day in sorted(days):
            rollup_usage(tenant.pk, day, resolution=Resolution.DAY, source=Source.GENERATED)
        _seed_processes(rng, start, hours)
    logger.info(
        "capacity.demo_history.seeded",
        extra={"tenant_id": tenant.pk, "rows": len(rows), "weeks": weeks},
    )
    return len(rows)


def _seed_processes(rng: np.random.Generator, start: datetime, hours: int) -> None:
    # One generated web and worker process, replaced wholesale like the usage rows.
    ProcessRollup.objects.filter(source=Source.GENERATED).delete()
    rows = []
    for offset in range(hours):
        at = start + timedelta(hours=offset)
        load = demand(at) / BASE_REQUESTS_PER_HOUR
        for role, base in ((ProcessRollup.Role.WEB, 0.05), (ProcessRollup.Role.WORKER, 0.02)):
            memory = int(450 * 2**20 + rng.normal(0, 10 * 2**20))
            rows.append(
                ProcessRollup(
                    role=role,
                    instance="generated:0",
                    source=Source.GENERATED,
                    resolution=Resolution.HOUR,
                    bucket_start=at,
                    cpu_seconds=3600 * (base + 0.2 * load) * float(rng.uniform(0.9, 1.1)),
                    memory_bytes_avg=memory,
                    memory_bytes_peak=memory + 40 * 2**20,
                    samples=720,
                )
            )
    ProcessRollup.objects.bulk_create(rows, batch_size=1000)
