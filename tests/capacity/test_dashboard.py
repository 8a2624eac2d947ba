"""Dashboard pages, their JSON, operator access and the Prometheus endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from capacity import recording
from capacity.services.rollups import flush_metrics

pytestmark = pytest.mark.django_db


def _searches(tenant, count, *, at=None, took_ms=20.0):
    for _ in range(count):
        recording.record_search(
            tenant.pk,
            took_ms=took_ms,
            cache_level="miss",
            result_count=1,
            response_bytes=100,
            at=at or timezone.now(),
        )


def test_tenant_chart_json_holds_only_the_current_tenants_rows(acme, globex, counters_clean):
    earlier = timezone.now() - timedelta(minutes=5)
    _searches(acme.tenant, 3, at=earlier)
    _searches(globex.tenant, 5, at=earlier)
    flush_metrics()
    _searches(acme.tenant, 1)  # this minute, still in Redis
    _searches(globex.tenant, 7)

    acme_data = acme.client().get("/manage/performance/data.json?window=hour").json()
    globex_data = globex.client().get("/manage/performance/data.json?window=hour").json()

    assert acme_data["scope"] == "acme"
    assert acme_data["series"]["measured"]["total_requests"] == 4
    assert globex_data["series"]["measured"]["total_requests"] == 12
    assert "processes" not in acme_data
    assert "generated" not in acme_data["series"]


def test_chart_json_rejects_an_unknown_window_with_a_code(acme):
    response = acme.client().get("/manage/performance/data.json?window=year")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_window"


def test_chart_series_latency_percentiles_come_from_the_histogram(acme, counters_clean):
    from django_tenants.utils import tenant_context

    from capacity.selectors import chart_data, tenant_scope

    now = timezone.now()
    _searches(acme.tenant, 99, took_ms=8, at=now)  # bucket 5-10 ms
    _searches(acme.tenant, 1, took_ms=900, at=now)  # bucket 750-1000 ms
    with tenant_context(acme.tenant):
        series = chart_data(tenant_scope(), "hour", now=now)["series"]["measured"]
    assert series["p50_ms"][-1] == pytest.approx(5 + 5 * 50 / 99, abs=0.01)
    assert series["p99_ms"][-1] == pytest.approx(10.0)
    assert series["requests_per_second"][-1] == pytest.approx(100 / 60, abs=0.001)


def test_performance_page_loads_plotly_from_static_and_needs_an_admin(acme):
    page = acme.client().get("/manage/performance/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/capacity/plotly.min.js" in html and "cdn" not in html.lower()
    assert Client(HTTP_HOST=acme.host).get("/manage/performance/").status_code == 302


def test_operator_pages_need_a_staff_user(public_tenant, acme, globex, counters_clean):
    from django.contrib.auth import get_user_model

    anonymous = Client(HTTP_HOST="localhost")
    for url in ("/operator/performance/", "/operator/capacity/", "/operator/costs/"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = get_user_model().objects.create_user(
        username="viewer", email="viewer@example.com", password="pw-viewer-1234"
    )
    not_staff = Client(HTTP_HOST="localhost")
    not_staff.force_login(user)
    assert not_staff.get("/operator/performance/data.json").status_code == 302


def test_operator_chart_json_sums_all_tenants(operator_client, acme, globex, counters_clean):
    _searches(acme.tenant, 2)
    _searches(globex.tenant, 3)
    data = operator_client.get("/operator/performance/data.json?window=hour").json()
    assert data["scope"] == "all tenants"
    assert data["series"]["measured"]["total_requests"] == 5
    assert set(data["processes"]) == {"web", "worker"}
    assert operator_client.get("/operator/performance/").status_code == 200


def test_prometheus_export_has_the_deploy_metric_names(public_tenant, acme, counters_clean):
    _searches(acme.tenant, 2, took_ms=30)
    body = Client(HTTP_HOST="localhost").get("/metrics").content.decode()
    assert 'portal_search_requests_total{tenant="acme"} 2.0' in body
    assert 'portal_search_latency_seconds_bucket{le="0.035",tenant="acme"} 2.0' in body
    assert 'portal_search_latency_seconds_count{tenant="acme"} 2.0' in body
    assert "portal_search_cache_total" in body


def test_prometheus_tenant_labels_are_bounded_to_the_busiest(
    public_tenant, acme, globex, counters_clean
):
    _searches(acme.tenant, 1)
    _searches(globex.tenant, 4)
    with override_settings(CAPACITY={"PROMETHEUS_TOP_TENANTS": 1}):
        body = Client(HTTP_HOST="localhost").get("/metrics").content.decode()
    assert 'portal_search_requests_total{tenant="globex"} 4.0' in body
    assert 'portal_search_requests_total{tenant="other"} 1.0' in body
    assert 'tenant="acme"' not in body


def test_prometheus_endpoint_refuses_outside_networks(public_tenant):
    response = Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert response.status_code == 403
