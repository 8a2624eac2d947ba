"""Assemble the capacity page: coefficients, what-if plan, growth, forecast and autoscaler.

Reads only; the what-if inputs come from the form and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from billing.selectors import current_price_book
from capacity.coefficients import Coefficients, fitted_coefficients
from capacity.forecasting import (
    Forecast,
    ScalingStep,
    forecast_requests,
    holdout_hours_for,
    scaling_schedule,
)
from capacity.models import ProcessRollup, Source
from capacity.planner import (
    GrowthLimit,
    Plan,
    PlanInputs,
    PlanMonth,
    autoscaler_values,
    growth_limit,
    plan_capacity,
    scaling_plan,
)
from capacity.selectors import (
    HourlySeries,
    Scope,
    hourly_requests,
    process_footprint,
    scope_storage,
    tenants_in_scope,
)
from tenants.tiers import get_tier


@dataclass
class CapacityReport:
    scope: str
    inputs: PlanInputs
    coefficients: Coefficients
    plan: Plan
    months: list[PlanMonth]
    forecast: Forecast
    history: HourlySeries
    schedule: list[ScalingStep]
    autoscaler: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # Set when the growth plan stops early because the load outgrows the planner.
    growth_limit: GrowthLimit | None = None


def choose_history(scope: Scope, *, now: datetime | None = None) -> HourlySeries:
    """Return measured hourly history when it is long enough to back-test, else generated
    history when it exists, else the (short) measured history. The two are never mixed."""
    measured = hourly_requests(scope, source=Source.MEASURED, now=now)
    if holdout_hours_for(len(measured.counts)) and any(measured.counts):
        return measured
    generated = hourly_requests(scope, source=Source.GENERATED, now=now)
    if generated.counts:
        return generated
    return measured


def default_inputs(scope: Scope, history: HourlySeries) -> PlanInputs:
    """Return what-if defaults from the scope's real state: repositories, tenants, tier
    storage settings, and the busiest hour's request rate."""
    storages = scope_storage(scope)
    tenants = tenants_in_scope(scope)
    tier = get_tier(scope.tenant.tier) if scope.tenant is not None else get_tier("team")
    peak_qps = max(history.counts) / 3600 if history.counts else 1.0
    return PlanInputs(
        users=50,
        repositories=max(1, sum(s.repositories for _, s in storages)),
        peak_qps=round(max(peak_qps, 0.01), 3),
        tenants=max(1, len(tenants)),
        is_dedicated_collections=bool(scope.tenant and scope.tenant.is_dedicated_storage),
        is_int8=tier.is_int8_quantized,
        hnsw_m=tier.hnsw_m,
    )


def build_capacity_report(
    scope: Scope, inputs: PlanInputs | None = None, *, now: datetime | None = None
) -> CapacityReport:
    """Fit coefficients, plan ``inputs`` (or the defaults), forecast load and derive the
    autoscaler values. Raise PriceBookMissing when billing has no price book."""
    now = now or timezone.now()
    history = choose_history(scope, now=now)
    inputs = inputs or default_inputs(scope, history)
    coefficients = fitted_coefficients(scope, now=now)
    prices = current_price_book()
    plan = plan_capacity(inputs, coefficients, prices)
    months = scaling_plan(inputs, coefficients, prices)
    limit = growth_limit(inputs)
    forecast = forecast_requests(history.counts, history.start, source=history.source)
    footprint = process_footprint(ProcessRollup.Role.WEB, since=now - timedelta(days=7))
    trough_qps = min(forecast.values) / 3600 if forecast.is_available else 0.0
    autoscaler = autoscaler_values(
        inputs,
        coefficients,
        trough_qps=trough_qps,
        final_peak_qps=months[-1].peak_qps,
        footprint=footprint,
    )
    schedule = scaling_schedule(
        forecast,
        cpu_seconds_per_search=coefficients.cpu_seconds_per_search.value,
        replica_cores=inputs.replica_cores,
        target_utilisation=coefficients.target_utilisation.value,
        min_replicas=autoscaler["hpa"]["minReplicas"],
    )
    notes = [limit.message] if limit is not None else []
    if history.source == Source.GENERATED:
        notes.append(
            "The forecast uses GENERATED demo history: there is not enough measured traffic "
            "yet to back-test a weekly model."
        )
    return CapacityReport(
        scope=scope.label,
        inputs=inputs,
        coefficients=coefficients,
        plan=plan,
        months=months,
        forecast=forecast,
        history=history,
        schedule=schedule,
        autoscaler=autoscaler,
        notes=notes,
        growth_limit=limit,
    )


def report_as_dict(report: CapacityReport) -> dict[str, Any]:
    """Return the report as JSON-ready data (Decimals as strings, datetimes as ISO)."""
    forecast = report.forecast
    return {
        "scope": report.scope,
        "inputs": vars(report.inputs),
        "price_book_version": report.plan.price_book_version,
        "currency": report.plan.currency,
        "coefficients": [vars(c) for c in report.coefficients.as_list()],
        "plan": {
            "lines": [vars(line) for line in report.plan.lines],
            "nodes": report.plan.nodes,
            "collections": report.plan.collections,
            "monthly_cost": str(report.plan.monthly_cost),
            "warnings": report.plan.warnings,
        },
        "scaling_plan": [{**vars(m), "monthly_cost": str(m.monthly_cost)} for m in report.months],
        "scaling_plan_limit": vars(report.growth_limit) if report.growth_limit else None,
        "forecast": {
            "method": forecast.method,
            "source": forecast.source,
            "start": forecast.start.isoformat() if forecast.start else None,
            "values": [round(v, 2) for v in forecast.values],
            "backtests": [vars(b) for b in forecast.backtests],
            "reason": forecast.reason,
        },
        "history": {
            "source": report.history.source,
            "start": report.history.start.isoformat() if report.history.start else None,
            "counts": report.history.counts[-14 * 24 :],
            "offset_hours": max(0, len(report.history.counts) - 14 * 24),
        },
        "scaling_schedule": [
            {**vars(step), "at": step.at.isoformat()} for step in report.schedule[:48]
        ],
        "autoscaler": report.autoscaler,
        "notes": report.notes,
    }
