"""Cost recommendations with their evidence and estimated monthly saving.

Each kind appears only when the evidence it needs exists, and each saving is priced with the
current price book, whose version the recommendation records. Recommendations are advice:
nothing here changes a tenant's resources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.models import PriceBook
from capacity.coefficients import Coefficients
from capacity.models import Resolution, Source, UsageRollup
from capacity.selectors import Scope, quantile, tenants_in_scope, usage_rows
from capacity.storage import tenant_storage
from capacity.vector_sizing import vector_cost
from tenants.kubernetes.quantity import parse_quantity
from tenants.kubernetes.tiers import profile_for_tier
from tenants.models import Tenant
from tenants.tiers import get_tier

GIB = Decimal(1024**3)
HOURS_PER_MONTH = Decimal(730)
CENT = Decimal("0.01")
PERIOD = timedelta(days=30)
# Percentiles of a day of hours are too coarse to size against.
MIN_RIGHTSIZING_HOURS = 24
# Reservations run a year or more; a week of uptime is the least evidence worth acting on.
MIN_RESERVED_SPAN = timedelta(days=7)
STALE_AFTER = timedelta(days=90)
# Headroom for load never observed, on top of the observed p95-to-p99 spread.
UNSEEN_LOAD_MARGIN = 0.10
# A saving below one unit of the price book's currency a month is not worth anyone's time to
# act on; showing it as "saves ~0.00" only buries the advice that matters.
MIN_MONTHLY_SAVING = Decimal("1.00")

RIGHTSIZING = "rightsizing"
RESERVED = "reserved"
SPOT_INDEXING = "spot_indexing"
INT8 = "int8_quantization"
STALE_REPOSITORIES = "stale_repositories"
# Kinds that are about risk rather than money, shown whatever they save: a stale repository
# answers searches with code that may no longer exist.
RISK_KINDS = frozenset({STALE_REPOSITORIES})


@dataclass(frozen=True)
class Recommendation:
    tenant: str
    kind: str
    title: str
    evidence: str
    monthly_saving: Decimal
    currency: str
    price_book_version: int
    source: str


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _hourly_cores(rows: list[UsageRollup], coefficients: Coefficients) -> list[float]:
    """CPU cores attributed to each hour of the observed span (zeros for idle hours)."""
    if not rows:
        return []
    by_hour = {row.bucket_start: row for row in rows}
    first, last = min(by_hour), max(by_hour)
    cores = []
    hour = first
    while hour <= last:
        row = by_hour.get(hour)
        seconds = 0.0
        if row is not None:
            seconds = (
                row.search_requests * coefficients.cpu_seconds_per_search.value
                + row.chunks_indexed * coefficients.cpu_seconds_per_chunk.value
            )
        cores.append(seconds / 3600)
        hour += timedelta(hours=1)
    return cores


def rightsizing(
    tenant: Tenant, rows: list[UsageRollup], coefficients: Coefficients, prices: PriceBook
) -> Recommendation | None:
    """Recommend lowering the namespace CPU request to p95 plus a margin taken from the data:
    the observed p95-to-p99 spread plus 10% of p95 for unseen load. None without a day of
    hourly rows, or when the request is already at or below that."""
    hours = _hourly_cores(rows, coefficients)
    if len(hours) < MIN_RIGHTSIZING_HOURS:
        return None
    ordered = sorted(hours)
    p95, p99 = quantile(ordered, 0.95), quantile(ordered, 0.99)
    profile = profile_for_tier(tenant.tier)
    floor = float(parse_quantity(profile.container_default_request_cpu)) * profile.replicas
    recommended = max(floor, p95 + (p99 - p95) + UNSEEN_LOAD_MARGIN * p95)
    provisioned = float(parse_quantity(profile.requests_cpu))
    if recommended >= provisioned:
        return None
    # Request in whole millicores, as a Kubernetes quantity would be written.
    recommended = math.ceil(recommended * 1000) / 1000
    saving = Decimal(str(provisioned - recommended)) * prices.cpu_per_core_hour * HOURS_PER_MONTH
    return Recommendation(
        tenant=tenant.slug,
        kind=RIGHTSIZING,
        title=f"Lower the namespace CPU request from {provisioned:g} to {recommended:g} cores",
        evidence=(
            f"{len(hours)} hours: p95 {p95:.4f}, p99 {p99:.4f} cores used; margin "
            f"{p99 - p95:.4f} (p95-p99 spread) + {UNSEEN_LOAD_MARGIN:.0%} of p95; floor "
            f"{floor:g} cores for {profile.replicas} replica(s)."
        ),
        monthly_saving=_money(saving),
        currency=prices.currency,
        price_book_version=prices.version,
        source=rows[0].source,
    )


def reserved_capacity(
    tenant: Tenant, rows: list[UsageRollup], prices: PriceBook
) -> Recommendation | None:
    """Recommend reserving the always-on pod requests when the tenant's uptime (share of
    hours with activity) beats the break-even of the reserved discount over a week or more."""
    if not rows or prices.reserved_discount <= 0:
        return None
    first = min(r.bucket_start for r in rows)
    last = max(r.bucket_start for r in rows)
    span_hours = int((last - first).total_seconds() // 3600) + 1
    if last - first < MIN_RESERVED_SPAN:
        return None
    active = sum(1 for r in rows if r.search_requests or r.index_jobs)
    uptime = active / span_hours
    break_even = 1 - float(prices.reserved_discount)
    if uptime < break_even:
        return None
    profile = profile_for_tier(tenant.tier)
    baseline = parse_quantity(profile.container_default_request_cpu) * profile.replicas
    saving = baseline * prices.cpu_per_core_hour * HOURS_PER_MONTH * prices.reserved_discount
    return Recommendation(
        tenant=tenant.slug,
        kind=RESERVED,
        title=f"Reserve {baseline:g} cores of always-on requests instead of on-demand",
        evidence=(
            f"Active in {active} of {span_hours} hours ({uptime:.0%} uptime); reserving pays "
            f"off above {break_even:.0%} at a {prices.reserved_discount:.0%} discount."
        ),
        monthly_saving=_money(saving),
        currency=prices.currency,
        price_book_version=prices.version,
        source=rows[0].source,
    )


def spot_indexing(
    tenant: Tenant,
    rows: list[UsageRollup],
    coefficients: Coefficients,
    prices: PriceBook,
    *,
    days: int,
) -> Recommendation | None:
    """Recommend spot nodes for indexing workers when the tenant indexed anything: a job
    that is interrupted resumes from its content hashes, so preemption only costs time."""
    chunks = sum(r.chunks_indexed for r in rows)
    if chunks == 0 or prices.spot_discount <= 0:
        return None
    jobs = sum(r.index_jobs for r in rows)
    core_hours = Decimal(str(chunks * coefficients.cpu_seconds_per_chunk.value / 3600))
    monthly_core_hours = core_hours * Decimal(30) / Decimal(days)
    saving = monthly_core_hours * prices.cpu_per_core_hour * prices.spot_discount
    return Recommendation(
        tenant=tenant.slug,
        kind=SPOT_INDEXING,
        title="Run indexing workers on spot capacity",
        evidence=(
            f"{jobs} index job(s), {chunks} chunks in {days} days: {core_hours:.4f} "
            f"core-hours at {prices.spot_discount:.0%} spot discount."
        ),
        monthly_saving=_money(saving),
        currency=prices.currency,
        price_book_version=prices.version,
        source=rows[0].source,
    )


def int8_quantization(tenant: Tenant, vectors: int, prices: PriceBook) -> Recommendation | None:
    """Recommend int8 scalar quantization for a tenant holding float32 vectors in RAM."""
    tier = get_tier(tenant.tier)
    if tier.is_int8_quantized or vectors == 0:
        return None
    float_cost = vector_cost(hnsw_m=tier.hnsw_m, int8=False).memory_bytes
    int8_cost = vector_cost(hnsw_m=tier.hnsw_m, int8=True).memory_bytes
    saved_bytes = Decimal(vectors * (float_cost - int8_cost))
    saving = saved_bytes / GIB * prices.memory_per_gib_hour * HOURS_PER_MONTH
    return Recommendation(
        tenant=tenant.slug,
        kind=INT8,
        title="Quantize vectors to int8",
        evidence=(
            f"{vectors} vectors at {float_cost} B in RAM each; int8 keeps {int8_cost} B "
            f"({saved_bytes / GIB:.4f} GiB less; float32 originals stay on disk for rescoring)."
        ),
        monthly_saving=_money(saving),
        currency=prices.currency,
        price_book_version=prices.version,
        source=Source.MEASURED,
    )


def stale_repositories(
    tenant: Tenant, prices: PriceBook, *, now: datetime
) -> Recommendation | None:
    """Recommend removing repositories not re-indexed for 90 days that still hold vectors."""
    from search.models import Repository

    with tenant_context(tenant):
        stale = list(
            Repository.objects.filter(chunk_count__gt=0, last_indexed_at__lt=now - STALE_AFTER)
        )
    if not stale:
        return None
    tier = get_tier(tenant.tier)
    cost = vector_cost(hnsw_m=tier.hnsw_m, int8=tier.is_int8_quantized)
    chunks = sum(r.chunk_count for r in stale)
    saving = (
        Decimal(chunks * cost.memory_bytes) / GIB * prices.memory_per_gib_hour * HOURS_PER_MONTH
        + Decimal(chunks * cost.disk_bytes) / GIB * prices.storage_per_gib_month
        + Decimal(chunks) / Decimal(1_000_000) * prices.per_million_vectors
    )
    names = ", ".join(r.name for r in stale[:5]) + (" and more" if len(stale) > 5 else "")
    return Recommendation(
        tenant=tenant.slug,
        kind=STALE_REPOSITORIES,
        title=f"Remove or re-index {len(stale)} stale repositor{'y' if len(stale) == 1 else 'ies'}",
        evidence=f"{names}: not indexed for {STALE_AFTER.days}+ days, {chunks} vectors held.",
        monthly_saving=_money(saving),
        currency=prices.currency,
        price_book_version=prices.version,
        source=Source.MEASURED,
    )


def recommendations(
    scope: Scope,
    coefficients: Coefficients,
    prices: PriceBook,
    *,
    source: str = Source.MEASURED,
    now: datetime | None = None,
) -> list[Recommendation]:
    """Return the scope's recommendations, largest saving first, leaving out those that
    save less than ``MIN_MONTHLY_SAVING`` unless they are about risk (``RISK_KINDS``).

    Usage-based kinds read hourly rollups of ``source`` over the last 30 days; quantization
    and stale repositories read the tenant's real repositories, so they are only produced
    for ``measured``.
    """
    now = now or timezone.now()
    days = PERIOD.days
    rows_by_tenant: dict[int, list[UsageRollup]] = {}
    for row in usage_rows(
        scope, resolution=Resolution.HOUR, source=source, since=now - PERIOD, until=now
    ):
        rows_by_tenant.setdefault(row.tenant_id, []).append(row)
    found: list[Recommendation | None] = []
    for tenant in tenants_in_scope(scope):
        rows = rows_by_tenant.get(tenant.pk, [])
        found.append(rightsizing(tenant, rows, coefficients, prices))
        found.append(reserved_capacity(tenant, rows, prices))
        found.append(spot_indexing(tenant, rows, coefficients, prices, days=days))
        if source == Source.MEASURED:
            found.append(int8_quantization(tenant, tenant_storage(tenant).vectors, prices))
            found.append(stale_repositories(tenant, prices, now=now))
    kept = [r for r in found if r is not None and is_worth_showing(r)]
    return sorted(kept, key=lambda r: r.monthly_saving, reverse=True)


def is_worth_showing(recommendation: Recommendation) -> bool:
    """Return True when the saving reaches ``MIN_MONTHLY_SAVING`` or the kind is about risk."""
    return recommendation.kind in RISK_KINDS or recommendation.monthly_saving >= MIN_MONTHLY_SAVING
