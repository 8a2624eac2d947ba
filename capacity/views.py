"""Dashboard pages and JSON for charts, on a tenant's site (its own rows) and on the public
site for staff operators (all tenants), plus the Prometheus endpoint."""

from __future__ import annotations

import csv
import ipaddress
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from billing.reports import top_recommendations
from capacity.access import for_operators, for_tenant_admins
from capacity.conf import capacity_setting
from capacity.forms import plan_inputs_from
from capacity.prometheus import CONTENT_TYPE, render_metrics
from capacity.relevance_dashboard import relevance_panel
from capacity.reports import build_capacity_report, choose_history, default_inputs, report_as_dict
from capacity.search_feedback import record_click
from capacity.selectors import WINDOWS, Scope, chart_data, tenant_scope
from portal.exceptions import PortalError
from tenants.accounts.permissions import is_tenant_member

logger = logging.getLogger(__name__)


def _error(request: HttpRequest, exc: PortalError, *, as_json: bool = False) -> HttpResponse:
    if as_json:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return render(request, "error.html", {"message": exc.message}, status=exc.status_code)


def _performance(request: HttpRequest, scope: Scope, *, is_operator: bool) -> HttpResponse:
    window = request.GET.get("window", "hour")
    if window not in WINDOWS:
        window = "hour"
    return render(
        request,
        "capacity/performance.html",
        {
            "scope": scope,
            "window": window,
            "windows": list(WINDOWS),
            "is_operator": is_operator,
            "recommendations": top_recommendations(scope, limit=3),
        },
    )


def _performance_data(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        data = chart_data(scope, request.GET.get("window", "hour"))
    except PortalError as exc:
        return _error(request, exc, as_json=True)
    return JsonResponse(data)


def _relevance_data(request: HttpRequest, scope: Scope) -> HttpResponse:
    return JsonResponse(relevance_panel(scope))


@require_POST
def search_click(request: HttpRequest) -> HttpResponse:
    """Beacon from the search page: the rank of the result a member opened (204, no body).

    Form fields ``token`` (issued with the results) and ``rank`` (1-based); the CSRF token
    travels as ``csrfmiddlewaretoken`` because ``navigator.sendBeacon`` cannot set headers.
    """
    if not is_tenant_member(request.user):
        return JsonResponse(
            {"detail": "Sign in as a member of this tenant to record clicks.", "code": "forbidden"},
            status=403,
        )
    try:
        record_click(
            tenant_scope().tenant.pk,  # type: ignore[union-attr]
            token=request.POST.get("token", ""),
            rank=request.POST.get("rank"),
        )
    except PortalError as exc:
        return _error(request, exc, as_json=True)
    return HttpResponse(status=204)


def _plan(request: HttpRequest, scope: Scope, *, is_operator: bool) -> HttpResponse:
    try:
        history = choose_history(scope)
        form, inputs = plan_inputs_from(request.GET, default_inputs(scope, history))
        report = build_capacity_report(scope, inputs)
    except PortalError as exc:
        return _error(request, exc)
    return render(
        request,
        "capacity/plan.html",
        {
            "scope": scope,
            "form": form,
            "report": report,
            "query": request.GET.urlencode(),
            "is_operator": is_operator,
        },
    )


def _plan_export(request: HttpRequest, scope: Scope, fmt: str) -> HttpResponse:
    try:
        _, inputs = plan_inputs_from(request.GET, default_inputs(scope, choose_history(scope)))
        report = build_capacity_report(scope, inputs)
    except PortalError as exc:
        return _error(request, exc, as_json=fmt == "json")
    if fmt == "json":
        return JsonResponse(report_as_dict(report))
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="capacity-plan.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "month",
            "users",
            "repositories",
            "peak_qps",
            "vectors",
            "cores",
            "memory_gib",
            "nodes",
            "collections",
            "monthly_cost",
            "currency",
            "price_book_version",
        ]
    )
    for month in report.months:
        writer.writerow(
            [
                month.month,
                month.users,
                month.repositories,
                month.peak_qps,
                month.vectors,
                month.cores,
                month.memory_gib,
                month.nodes,
                month.collections,
                month.monthly_cost,
                report.plan.currency,
                report.plan.price_book_version,
            ]
        )
    return response


def _forecast_data(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        report = build_capacity_report(scope)
    except PortalError as exc:
        return _error(request, exc, as_json=True)
    data = report_as_dict(report)
    return JsonResponse(
        {key: data[key] for key in ("forecast", "history", "scaling_schedule", "notes")}
    )


tenant_performance = for_tenant_admins(_performance, is_operator=False)
tenant_performance_data = for_tenant_admins(_performance_data)
tenant_relevance_data = for_tenant_admins(_relevance_data)
tenant_plan = for_tenant_admins(_plan, is_operator=False)
tenant_plan_csv = for_tenant_admins(_plan_export, fmt="csv")
tenant_plan_json = for_tenant_admins(_plan_export, fmt="json")
tenant_forecast_data = for_tenant_admins(_forecast_data)

operator_performance = for_operators(_performance, is_operator=True)
operator_performance_data = for_operators(_performance_data)
operator_relevance_data = for_operators(_relevance_data)
operator_plan = for_operators(_plan, is_operator=True)
operator_plan_csv = for_operators(_plan_export, fmt="csv")
operator_plan_json = for_operators(_plan_export, fmt="json")
operator_forecast_data = for_operators(_forecast_data)


def _may_scrape(request: HttpRequest) -> bool:
    if getattr(request.user, "is_staff", False):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network)
        for network in capacity_setting("METRICS_ALLOWED_NETWORKS")
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition for scrapers on allowed networks and for staff users."""
    if not _may_scrape(request):
        return HttpResponse("Forbidden: scrape /metrics from an allowed network.", status=403)
    try:
        body = render_metrics()
    except (RedisError, OSError):
        logger.warning("capacity.metrics.redis_unavailable")
        return HttpResponse("Metrics store unavailable.", status=503)
    return HttpResponse(body, content_type=CONTENT_TYPE)
