"""The capacity planner: resources, nodes and monthly cost for a what-if load, and how they
grow month by month. Pure arithmetic over :class:`PlanInputs` and fitted coefficients, so
every figure can be checked by hand (``tests/capacity/test_planner.py`` does).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from capacity.coefficients import Coefficients
from capacity.selectors import ProcessFootprint
from capacity.vector_sizing import (
    COLLECTION_LIMIT,
    COLLECTION_OVERHEAD_BYTES,
    EMBEDDING_DIMS,
    vector_cost,
)

GIB = 1024**3
HOURS_PER_MONTH = 730
CENT = Decimal("0.01")

# The largest load the planner sizes: the what-if form accepts no more (capacity/forms.py
# reads these), and a growth plan stops at the month its load passes one of them. Compound
# growth gets astronomical fast (3**60 is 4e28), and a cost past ~1e26 no longer fits the
# 28-digit Decimal context.
MAX_USERS = 10_000_000
MAX_REPOSITORIES = 10_000_000
MAX_PEAK_QPS = 1_000_000
MAX_TENANTS = 1_000_000


class Prices(Protocol):
    """What the planner needs from a price book (``billing.models.PriceBook``)."""

    version: int
    currency: str
    cpu_per_core_hour: Decimal
    memory_per_gib_hour: Decimal
    storage_per_gib_month: Decimal
    per_million_vectors: Decimal


@dataclass(frozen=True)
class PlanInputs:
    users: int
    repositories: int
    peak_qps: float
    monthly_growth: float = 0.05
    months: int = 12
    tenants: int = 1
    is_dedicated_collections: bool = False
    is_int8: bool = False
    hnsw_m: int = 16
    dims: int = EMBEDDING_DIMS
    reindex_fraction_per_day: float = 0.1
    node_cores: int = 4
    node_memory_gib: int = 16
    replica_cores: float = 1.0


@dataclass(frozen=True)
class PlanLine:
    key: str
    label: str
    value: float
    unit: str
    formula: str


@dataclass
class Plan:
    lines: list[PlanLine]
    vectors: int
    cores: float
    memory_bytes: float
    storage_bytes: float
    collections: int
    nodes: int
    monthly_cost: Decimal
    currency: str
    price_book_version: int
    warnings: list[str] = field(default_factory=list)

    def line(self, key: str) -> PlanLine:
        return next(line for line in self.lines if line.key == key)


def plan_capacity(inputs: PlanInputs, coefficients: Coefficients, prices: Prices) -> Plan:
    """Return the resources and monthly cost for ``inputs``; every line names its formula."""
    c = coefficients
    code_mb = inputs.repositories * c.mb_per_repository.value
    vectors = math.ceil(code_mb * c.vectors_per_mb.value)
    cost = vector_cost(dims=inputs.dims, hnsw_m=inputs.hnsw_m, int8=inputs.is_int8)
    vector_memory = vectors * cost.memory_bytes
    collections = inputs.tenants if inputs.is_dedicated_collections else 1
    collection_overhead = collections * COLLECTION_OVERHEAD_BYTES
    search_cores = inputs.peak_qps * c.cpu_seconds_per_search.value
    index_cores = vectors * inputs.reindex_fraction_per_day / 86400 * c.cpu_seconds_per_chunk.value
    user_cores = inputs.users * c.cpu_cores_per_user.value
    scale = (1 + c.system_overhead.value) * c.ha_factor.value
    cores = (search_cores + index_cores + user_cores) * scale
    # One web and one worker process per copy, each with the measured footprint.
    process_memory = 2 * c.process_memory_bytes.value
    user_memory = inputs.users * c.memory_bytes_per_user.value
    memory = (vector_memory + collection_overhead + process_memory + user_memory) * scale
    storage = (vectors * cost.disk_bytes + code_mb * 1_000_000) * c.ha_factor.value
    ha_minimum = 2 if c.ha_factor.value > 1 else 1
    nodes = max(
        ha_minimum,
        math.ceil(cores / inputs.node_cores),
        math.ceil(memory / (inputs.node_memory_gib * GIB)),
    )
    monthly = monthly_cost(
        nodes=nodes,
        node_cores=inputs.node_cores,
        node_memory_gib=inputs.node_memory_gib,
        storage_bytes=storage,
        vectors=vectors,
        prices=prices,
    )
    lines = [
        PlanLine("code_mb", "Code to index", code_mb, "MB", "repositories x MB per repository"),
        PlanLine("vectors", "Vectors", vectors, "vectors", "code MB x vectors per MB"),
        PlanLine(
            "bytes_per_vector",
            "Memory per vector",
            cost.memory_bytes,
            "bytes",
            f"{inputs.dims} dims x {'1 (int8)' if inputs.is_int8 else '4 (float32)'} + "
            f"HNSW links m={inputs.hnsw_m} x 2 x 4",
        ),
        PlanLine("vector_memory", "Vector memory", vector_memory, "bytes", "vectors x bytes"),
        PlanLine(
            "collection_overhead",
            "Collection overhead",
            collection_overhead,
            "bytes",
            f"{collections} collection(s) x {COLLECTION_OVERHEAD_BYTES // 2**20} MiB fixed each",
        ),
        PlanLine("search_cores", "Search CPU", search_cores, "cores", "peak QPS x CPU/search"),
        PlanLine(
            "index_cores",
            "Indexing CPU",
            index_cores,
            "cores",
            "vectors x re-indexed share per day / 86400 x CPU/chunk",
        ),
        PlanLine("user_cores", "Per-user CPU", user_cores, "cores", "users x CPU per user"),
        PlanLine(
            "cores",
            "CPU total",
            cores,
            "cores",
            "(search + indexing + users) x (1 + overhead) x HA factor",
        ),
        PlanLine(
            "memory",
            "Memory total",
            memory,
            "bytes",
            "(vectors + collections + 2 processes + users) x (1 + overhead) x HA factor",
        ),
        PlanLine(
            "storage", "Storage", storage, "bytes", "(vectors x disk bytes + code) x HA factor"
        ),
        PlanLine(
            "nodes",
            "Nodes",
            nodes,
            "nodes",
            f"max(HA minimum {ha_minimum}, CPU / {inputs.node_cores} cores, memory / "
            f"{inputs.node_memory_gib} GiB)",
        ),
    ]
    warnings = []
    if collections >= COLLECTION_LIMIT:
        warnings.append(
            f"{collections} dedicated collections reach the ~{COLLECTION_LIMIT}-collection "
            "limit (memory grows with the count, Qdrant Cloud refuses more): keep tenants in "
            "the shared collection partitioned by the tenant payload index and dedicate "
            "collections only to the largest tenants."
        )
    return Plan(
        lines=lines,
        vectors=vectors,
        cores=cores,
        memory_bytes=memory,
        storage_bytes=storage,
        collections=collections,
        nodes=nodes,
        monthly_cost=monthly,
        currency=prices.currency,
        price_book_version=prices.version,
        warnings=warnings,
    )


def monthly_cost(
    *,
    nodes: int,
    node_cores: int,
    node_memory_gib: int,
    storage_bytes: float,
    vectors: int,
    prices: Prices,
) -> Decimal:
    """Return the on-demand monthly cost of the nodes, storage and vectors, to the cent."""
    hours = Decimal(HOURS_PER_MONTH)
    compute = Decimal(nodes * node_cores) * prices.cpu_per_core_hour * hours
    memory = Decimal(nodes * node_memory_gib) * prices.memory_per_gib_hour * hours
    storage = Decimal(str(storage_bytes / GIB)) * prices.storage_per_gib_month
    vector_charge = Decimal(vectors) / Decimal(1_000_000) * prices.per_million_vectors
    return (compute + memory + storage + vector_charge).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PlanMonth:
    month: int
    users: int
    repositories: int
    peak_qps: float
    vectors: int
    cores: float
    memory_gib: float
    nodes: int
    monthly_cost: Decimal
    collections: int


@dataclass(frozen=True)
class GrowthLimit:
    """The first month whose grown load is more than the planner sizes."""

    month: int
    quantity: str
    value: float
    limit: float

    @property
    def message(self) -> str:
        return (
            f"In month {self.month} the {self.quantity} ({self.value:,.0f}) would pass the "
            f"{self.limit:,.0f} the planner sizes, so the growth plan stops at month "
            f"{self.month - 1}. Lower the monthly growth or the number of months to plan "
            "further."
        )


def _grown(count: int, factor: float) -> int:
    # Round away float noise first: 100 x 1.1**2 is 121.00000000000001, which is 121 users.
    return math.ceil(round(count * factor, 6))


def _grown_inputs(inputs: PlanInputs, month: int) -> PlanInputs:
    factor = (1 + inputs.monthly_growth) ** month
    return PlanInputs(
        **{
            **asdict(inputs),
            "users": _grown(inputs.users, factor),
            "repositories": _grown(inputs.repositories, factor),
            "peak_qps": inputs.peak_qps * factor,
            "tenants": _grown(inputs.tenants, factor),
        }
    )


def growth_limit(inputs: PlanInputs) -> GrowthLimit | None:
    """Return the first month 1..``months`` whose grown users, repositories, peak QPS or
    tenants pass the planner's maxima, or None when the whole plan can be sized.

    Month 0 is the what-if itself, which the form already bounds, so it is always sized.
    """
    for month in range(1, inputs.months + 1):
        grown = _grown_inputs(inputs, month)
        for quantity, value, limit in (
            ("users", grown.users, MAX_USERS),
            ("repositories", grown.repositories, MAX_REPOSITORIES),
            ("peak QPS", grown.peak_qps, MAX_PEAK_QPS),
            ("tenants", grown.tenants, MAX_TENANTS),
        ):
            if value > limit:
                return GrowthLimit(month=month, quantity=quantity, value=value, limit=limit)
    return None


def scaling_plan(inputs: PlanInputs, coefficients: Coefficients, prices: Prices) -> list[PlanMonth]:
    """Return the plan for month 0..``months`` with users, repositories, QPS and tenants
    growing by ``monthly_growth`` compounded; it ends before the :func:`growth_limit` month
    when the load outgrows what the planner sizes."""
    limit = growth_limit(inputs)
    last_month = inputs.months if limit is None else limit.month - 1
    months = []
    for month in range(last_month + 1):
        grown = _grown_inputs(inputs, month)
        plan = plan_capacity(grown, coefficients, prices)
        months.append(
            PlanMonth(
                month=month,
                users=grown.users,
                repositories=grown.repositories,
                peak_qps=round(grown.peak_qps, 3),
                vectors=plan.vectors,
                cores=round(plan.cores, 3),
                memory_gib=round(plan.memory_bytes / GIB, 3),
                nodes=plan.nodes,
                monthly_cost=plan.monthly_cost,
                collections=plan.collections,
            )
        )
    return months


def _millicores(cores: float) -> str:
    return f"{max(1, math.ceil(cores * 1000))}m"


def _mebibytes(size: float) -> str:
    return f"{max(1, math.ceil(size / 2**20))}Mi"


def autoscaler_values(
    inputs: PlanInputs,
    coefficients: Coefficients,
    *,
    trough_qps: float,
    final_peak_qps: float,
    footprint: ProcessFootprint | None,
) -> dict[str, Any]:
    """Return HPA and VPA values for the web deployment.

    Replicas follow from CPU per search at the target utilisation: the minimum covers the
    quietest forecast hour (never below two copies with HA), the maximum the peak at the end
    of the scaling plan plus one spare. VPA bounds come from measured per-process CPU and
    memory percentiles when they exist, with a quarter of headroom above the top.
    """
    c = coefficients
    target = c.target_utilisation.value
    per_replica = inputs.replica_cores * target
    ha_minimum = 2 if c.ha_factor.value > 1 else 1
    min_replicas = max(
        ha_minimum, math.ceil(trough_qps * c.cpu_seconds_per_search.value / per_replica)
    )
    max_replicas = max(
        min_replicas + 1,
        math.ceil(final_peak_qps * c.cpu_seconds_per_search.value / per_replica) + 1,
    )
    if footprint is not None:
        vpa = {
            "minAllowed": {
                "cpu": _millicores(max(0.05, footprint.cpu_p5)),
                "memory": _mebibytes(footprint.memory_p5),
            },
            "maxAllowed": {
                "cpu": _millicores(max(inputs.replica_cores, footprint.cpu_p99 * 1.25)),
                "memory": _mebibytes(footprint.memory_peak * 1.25),
            },
            "origin": f"measured over {footprint.samples} process-minutes",
        }
    else:
        vpa = {
            "minAllowed": {"cpu": "100m", "memory": "256Mi"},
            "maxAllowed": {
                "cpu": _millicores(inputs.replica_cores * 2),
                "memory": _mebibytes(c.process_memory_bytes.value * 2),
            },
            "origin": "defaults: no process samples yet",
        }
    return {
        "hpa": {
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "targetCPUUtilizationPercentage": round(target * 100),
            "origin": f"target {c.target_utilisation.origin}, CPU/search "
            f"{c.cpu_seconds_per_search.origin}",
        },
        "vpa": vpa,
    }
