"""Planner arithmetic against hand-computed values, and the CPU-cost regression."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from capacity.coefficients import DEFAULT, Coefficient, Coefficients, fit_cpu_costs
from capacity.planner import PlanInputs, autoscaler_values, plan_capacity, scaling_plan
from capacity.vector_sizing import vector_cost

MIB = 2**20


def _c(key: str, value: float) -> Coefficient:
    return Coefficient(key, key, value, "", DEFAULT, 0, "test")


COEFFICIENTS = Coefficients(
    cpu_seconds_per_search=_c("cps", 0.05),
    cpu_seconds_per_chunk=_c("cpc", 0.075),
    vectors_per_mb=_c("vpm", 1000),
    mb_per_repository=_c("mpr", 20),
    process_memory_bytes=_c("pm", 512 * MIB),
    cpu_cores_per_user=_c("cpu", 0.002),
    memory_bytes_per_user=_c("mpu", 8 * MIB),
    system_overhead=_c("so", 0.25),
    ha_factor=_c("ha", 2.0),
    target_utilisation=_c("tu", 0.7),
)


@dataclass
class Prices:
    version: int = 3
    currency: str = "EUR"
    cpu_per_core_hour: Decimal = Decimal("0.03")
    memory_per_gib_hour: Decimal = Decimal("0.004")
    storage_per_gib_month: Decimal = Decimal("0.1")
    per_million_vectors: Decimal = Decimal("0.5")


INPUTS = PlanInputs(users=100, repositories=10, peak_qps=20, monthly_growth=0.1, months=2)


def test_vector_cost_matches_float32_and_int8_sizing():
    assert vector_cost(dims=384, hnsw_m=16).memory_bytes == 1536 + 128
    assert vector_cost(dims=384, hnsw_m=16, int8=True).memory_bytes == 384 + 128
    assert vector_cost(dims=384, hnsw_m=32, int8=True).links_bytes == 256


def test_plan_matches_hand_computed_resources_and_cost():
    plan = plan_capacity(INPUTS, COEFFICIENTS, Prices())

    assert plan.vectors == 200_000  # 10 repos x 20 MB x 1000 vectors/MB
    assert plan.line("vector_memory").value == 200_000 * 1664
    assert plan.line("collection_overhead").value == 10 * MIB
    # (20 x 0.05 + 200000 x 0.1 / 86400 x 0.075 + 100 x 0.002) x 1.25 x 2
    assert plan.cores == pytest.approx((1.0 + 0.0173611 + 0.2) * 2.5, rel=1e-6)
    # (vectors + 1 collection + 2 processes + 100 users) x 1.25 x 2
    assert plan.memory_bytes == pytest.approx(
        (332_800_000 + 10 * MIB + 1024 * MIB + 800 * MIB) * 2.5
    )
    assert plan.storage_bytes == pytest.approx((332_800_000 + 200_000_000) * 2)
    assert plan.nodes == 2  # the HA minimum; 3.04 cores and 5.25 GiB fit one node
    # 8 cores x 0.03 x 730 + 32 GiB x 0.004 x 730 + 0.9924 GiB x 0.1 + 0.2 M x 0.5
    assert plan.monthly_cost == Decimal("268.84")
    assert (plan.currency, plan.price_book_version) == ("EUR", 3)
    assert plan.warnings == []


def test_int8_quantization_shrinks_vector_memory_to_a_third():
    plan = plan_capacity(replace(INPUTS, is_int8=True), COEFFICIENTS, Prices())
    assert plan.line("bytes_per_vector").value == 512
    assert plan.line("vector_memory").value == 200_000 * 512


def test_dedicated_collections_count_fixed_overhead_and_flag_the_limit():
    many = replace(INPUTS, tenants=1500, is_dedicated_collections=True)
    plan = plan_capacity(many, COEFFICIENTS, Prices())
    assert plan.collections == 1500
    assert plan.line("collection_overhead").value == 1500 * 10 * MIB
    assert any("1000-collection limit" in warning for warning in plan.warnings)
    assert plan.nodes > plan_capacity(INPUTS, COEFFICIENTS, Prices()).nodes
    shared = plan_capacity(replace(many, is_dedicated_collections=False), COEFFICIENTS, Prices())
    assert shared.collections == 1 and shared.warnings == []


def test_scaling_plan_compounds_growth_monthly():
    months = scaling_plan(INPUTS, COEFFICIENTS, Prices())
    assert [m.month for m in months] == [0, 1, 2]
    assert (months[2].users, months[2].repositories) == (121, 13)
    assert months[2].peak_qps == pytest.approx(24.2)
    assert months[2].monthly_cost >= months[0].monthly_cost


def test_autoscaler_values_follow_cpu_per_search_and_target():
    values = autoscaler_values(
        INPUTS, COEFFICIENTS, trough_qps=0.0, final_peak_qps=20, footprint=None
    )
    # ceil(20 x 0.05 / (1 core x 0.7)) + 1 spare = 3; HA keeps at least 2.
    assert values["hpa"] == {
        "minReplicas": 2,
        "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 70,
        "origin": "target default, CPU/search default",
    }
    assert values["vpa"]["origin"].startswith("defaults")


def test_cpu_cost_fit_recovers_per_operation_costs_from_minutes():
    samples = [(1.0 + 0.05 * s + 0.1 * c, s, c) for s in range(0, 60, 4) for c in (0, 0, 30)]
    per_search, per_chunk, search_minutes, chunk_minutes = fit_cpu_costs(samples)
    assert per_search == pytest.approx(0.05)
    assert per_chunk == pytest.approx(0.1)
    assert search_minutes == 42 and chunk_minutes == 15


def test_cpu_cost_fit_declines_without_enough_active_minutes():
    per_search, per_chunk, *_ = fit_cpu_costs([(1.0, 1, 0)] * 5)
    assert per_search is None and per_chunk is None
