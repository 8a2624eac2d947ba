"""Capacity pages and exports, coefficient origins, and generated demo history."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from capacity.coefficients import DEFAULT, MEASURED, fitted_coefficients
from capacity.models import Resolution, Source, UsageRollup
from capacity.reports import choose_history
from capacity.selectors import chart_data, tenant_scope
from capacity.services.demo_history import seed_demo_history

pytestmark = pytest.mark.django_db


def test_vectors_per_mb_is_measured_from_the_tenants_real_repositories(acme_indexed, globex):
    with tenant_context(acme_indexed.tenant):
        acme_coefficients = fitted_coefficients(tenant_scope())
    with tenant_context(globex.tenant):
        globex_coefficients = fitted_coefficients(tenant_scope())
    assert acme_coefficients.vectors_per_mb.origin == MEASURED
    assert acme_coefficients.vectors_per_mb.sample_size == 1
    assert acme_coefficients.vectors_per_mb.value > 0
    assert globex_coefficients.vectors_per_mb.origin == DEFAULT
    assert "No indexed code in globex" in globex_coefficients.vectors_per_mb.detail


def test_plan_page_and_exports_use_the_what_if_inputs(acme):
    query = "users=10&repositories=4&peak_qps=2&monthly_growth=0.1&months=3&tenants=1"
    client = acme.client()
    assert client.get(f"/manage/capacity/?{query}").status_code == 200

    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/manage/capacity/plan.csv?{query}").content.decode())
        )
    )
    assert [int(r["month"]) for r in rows] == [0, 1, 2, 3]
    assert rows[3]["repositories"] == "6"  # ceil(4 x 1.1^3)
    assert rows[0]["price_book_version"] and rows[0]["currency"]

    data = client.get(f"/manage/capacity/plan.json?{query}").json()
    assert data["inputs"]["users"] == 10
    assert {c["origin"] for c in data["coefficients"]} <= {MEASURED, DEFAULT}
    assert set(data["autoscaler"]) == {"hpa", "vpa"}


def test_plan_rejects_a_bad_input_with_its_code(acme):
    response = acme.client().get("/manage/capacity/plan.json?users=-3&repositories=1")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_plan_input"


def test_generated_history_is_labelled_idempotent_and_kept_apart(globex):
    measured = UsageRollup.objects.create(
        tenant=globex.tenant,
        resolution=Resolution.HOUR,
        bucket_start="2020-01-01T00:00:00Z",
        search_requests=7,
    )
    first = seed_demo_history(globex.tenant, weeks=2)
    second = seed_demo_history(globex.tenant, weeks=2)

    generated = UsageRollup.objects.filter(tenant=globex.tenant, source=Source.GENERATED)
    assert first == second == generated.exclude(resolution=Resolution.DAY).count()
    assert generated.filter(resolution=Resolution.DAY).exists()
    measured.refresh_from_db()
    assert measured.search_requests == 7 and measured.source == Source.MEASURED

    with tenant_context(globex.tenant):
        data = chart_data(tenant_scope(), "week")
        history = choose_history(tenant_scope())
    assert set(data["series"]) == {"measured", "generated"}
    assert data["series"]["measured"]["total_requests"] == 0
    assert data["series"]["generated"]["total_requests"] > 0
    assert history.source == Source.GENERATED


def test_forecast_json_labels_generated_history(globex):
    call_command("seed_demo_metrics", "globex", weeks=3, stdout=io.StringIO())
    data = globex.client().get("/manage/capacity/forecast.json").json()
    assert data["history"]["source"] == "generated"
    assert data["forecast"]["method"] in ("seasonal", "linear")
    assert data["forecast"]["backtests"][0]["holdout_hours"] == 168
    assert any("GENERATED" in note for note in data["notes"])
