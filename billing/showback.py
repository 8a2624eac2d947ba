"""Per-tenant showback: what each tenant's measured usage costs at the current price book.

Compute is attributed from activity (searches and indexed chunks times the fitted CPU cost
per operation), memory from the vectors the tenant keeps in RAM, storage and vectors from
the hourly gauges, network from the bytes of search responses. Every line names the price
book version and the data source (measured or generated) that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from billing.models import PriceBook
from capacity.coefficients import Coefficients
from capacity.models import Resolution, Source, UsageRollup
from capacity.selectors import Scope, tenants_in_scope, usage_rows
from capacity.vector_sizing import vector_cost
from tenants.models import Tenant
from tenants.tiers import get_tier

GIB = Decimal(1024**3)
HOURS_PER_MONTH = Decimal(730)
AMOUNT = Decimal("0.0001")


@dataclass(frozen=True)
class ShowbackLine:
    tenant: str
    kind: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    currency: str
    price_book_version: int
    source: str
    period_days: int


@dataclass(frozen=True)
class HourlyUsage:
    """One tenant's usage per hour over a period, gauges carried forward."""

    searches: int
    chunks: int
    response_bytes: int
    vector_hours: Decimal
    stored_byte_hours: Decimal
    hours_observed: int
    current_vectors: int


def _q(value: Decimal) -> Decimal:
    return value.quantize(AMOUNT, rounding=ROUND_HALF_UP)


def hourly_usage(
    tenant: Tenant, rows: Iterable[UsageRollup], *, since: datetime, until: datetime
) -> HourlyUsage:
    """Sum a tenant's hourly rows; vectors and stored bytes count for every hour of the
    period from their first observation on, carrying the last value through hours without
    one (a tenant's vectors stay in RAM whether or not anyone searches)."""
    by_hour = {row.bucket_start: row for row in rows}
    searches = chunks = response_bytes = 0
    vector_hours = stored_hours = Decimal(0)
    vectors = stored = None
    hour = since
    while hour < until:
        row = by_hour.get(hour)
        if row is not None:
            searches += row.search_requests
            chunks += row.chunks_indexed
            response_bytes += row.response_bytes
            vectors = row.vectors if row.vectors is not None else vectors
            stored = row.stored_bytes if row.stored_bytes is not None else stored
        vector_hours += Decimal(vectors or 0)
        stored_hours += Decimal(stored or 0)
        hour += timedelta(hours=1)
    return HourlyUsage(
        searches=searches,
        chunks=chunks,
        response_bytes=response_bytes,
        vector_hours=vector_hours,
        stored_byte_hours=stored_hours,
        hours_observed=len(by_hour),
        current_vectors=vectors or 0,
    )


def showback(
    scope: Scope,
    coefficients: Coefficients,
    prices: PriceBook,
    *,
    source: str = Source.MEASURED,
    days: int = 30,
    now: datetime | None = None,
) -> list[ShowbackLine]:
    """Return compute, memory, storage, vectors and network lines per tenant of the scope.

    Reads hourly rollups of ``source`` over the last ``days`` complete hours.
    """
    now = now or timezone.now()
    until = now.replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(days=days)
    rows_by_tenant: dict[int, list[UsageRollup]] = {}
    for row in usage_rows(
        scope, resolution=Resolution.HOUR, source=source, since=since, until=until
    ):
        rows_by_tenant.setdefault(row.tenant_id, []).append(row)
    lines: list[ShowbackLine] = []
    for tenant in tenants_in_scope(scope):
        rows = rows_by_tenant.get(tenant.pk)
        if not rows:
            continue
        usage = hourly_usage(tenant, rows, since=since, until=until)
        lines.extend(_tenant_lines(tenant, usage, coefficients, prices, source, days))
    return lines


def _tenant_lines(
    tenant: Tenant,
    usage: HourlyUsage,
    coefficients: Coefficients,
    prices: PriceBook,
    source: str,
    days: int,
) -> list[ShowbackLine]:
    tier = get_tier(tenant.tier)
    memory_per_vector = vector_cost(hnsw_m=tier.hnsw_m, int8=tier.is_int8_quantized).memory_bytes
    cpu_seconds = Decimal(str(usage.searches * coefficients.cpu_seconds_per_search.value)) + (
        Decimal(str(usage.chunks * coefficients.cpu_seconds_per_chunk.value))
    )
    quantities = [
        ("compute", cpu_seconds / 3600, "core-hours", prices.cpu_per_core_hour),
        (
            "memory",
            usage.vector_hours * memory_per_vector / GIB,
            "GiB-hours",
            prices.memory_per_gib_hour,
        ),
        (
            "storage",
            usage.stored_byte_hours / GIB / HOURS_PER_MONTH,
            "GiB-months",
            prices.storage_per_gib_month,
        ),
        (
            "vectors",
            usage.vector_hours / Decimal(1_000_000) / HOURS_PER_MONTH,
            "million-vector-months",
            prices.per_million_vectors,
        ),
        ("network", Decimal(usage.response_bytes) / GIB, "GiB", prices.network_per_gib),
    ]
    return [
        ShowbackLine(
            tenant=tenant.slug,
            kind=kind,
            quantity=_q(quantity),
            unit=unit,
            unit_price=unit_price,
            amount=_q(quantity * unit_price),
            currency=prices.currency,
            price_book_version=prices.version,
            source=source,
            period_days=days,
        )
        for kind, quantity, unit, unit_price in quantities
    ]
