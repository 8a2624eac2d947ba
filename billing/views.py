"""Costs pages (tenant showback and recommendations; operators across tenants), CSV exports
and the operators' price book editor."""

from __future__ import annotations

import csv

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from billing.models import PriceBook
from billing.reports import build_cost_report
from billing.selectors import current_price_book, price_book_versions
from billing.services import publish_price_book
from capacity.access import for_operators, for_tenant_admins
from capacity.selectors import Scope
from portal.exceptions import PortalError


def _costs(request: HttpRequest, scope: Scope, *, is_operator: bool) -> HttpResponse:
    try:
        report = build_cost_report(scope)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return render(
        request,
        "billing/costs.html",
        {"scope": scope, "report": report, "is_operator": is_operator},
    )


def _csv(name: str, header: list[str], rows: list[list[object]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _showback_csv(request: HttpRequest, scope: Scope) -> HttpResponse:
    report = build_cost_report(scope)
    fields = [
        "tenant",
        "source",
        "kind",
        "quantity",
        "unit",
        "unit_price",
        "amount",
        "currency",
        "price_book_version",
        "period_days",
    ]
    rows = [
        [getattr(line, name) for name in fields]
        for lines in report.showback.values()
        for line in lines
    ]
    return _csv("showback.csv", fields, rows)


def _recommendations_csv(request: HttpRequest, scope: Scope) -> HttpResponse:
    report = build_cost_report(scope)
    fields = [
        "tenant",
        "source",
        "kind",
        "title",
        "evidence",
        "monthly_saving",
        "currency",
        "price_book_version",
    ]
    rows = [
        [getattr(rec, name) for name in fields]
        for found in report.recommendations.values()
        for rec in found
    ]
    return _csv("recommendations.csv", fields, rows)


tenant_costs = for_tenant_admins(_costs, is_operator=False)
tenant_showback_csv = for_tenant_admins(_showback_csv)
tenant_recommendations_csv = for_tenant_admins(_recommendations_csv)
operator_costs = for_operators(_costs, is_operator=True)
operator_showback_csv = for_operators(_showback_csv)
operator_recommendations_csv = for_operators(_recommendations_csv)


@staff_member_required
def price_book_page(request: HttpRequest) -> HttpResponse:
    """Show the current price book and its history; a POST publishes a new version."""
    error = None
    status = 200
    if request.method == "POST":
        try:
            publish_price_book(
                prices={name: request.POST.get(name, "") for name in PriceBook.PRICE_FIELDS},
                currency=request.POST.get("currency", ""),
                note=request.POST.get("note", ""),
                acting_user=request.user,
            )
        except PortalError as exc:
            error, status = exc.message, exc.status_code
        else:
            return redirect("billing:price-book")
    current = current_price_book()
    return render(
        request,
        "billing/price_book.html",
        {
            "current": current,
            "fields": [(name, getattr(current, name)) for name in PriceBook.PRICE_FIELDS],
            "versions": price_book_versions(),
            "error": error,
        },
        status=status,
    )
