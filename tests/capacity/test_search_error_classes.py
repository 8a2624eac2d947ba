"""Only failures of the service count as search errors; bad user input is "rejected"
(snag 3)."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from capacity import counters
from capacity.prometheus import render_metrics
from capacity.recording import measured_search
from portal.exceptions import ServiceUnavailable

pytestmark = pytest.mark.django_db


def _minute_fields(tenant_id: int) -> dict[str, float]:
    merged: dict[str, float] = {}
    for minute in counters.peek_usage(tenant_id):
        for name, value in minute.fields.items():
            merged[name] = merged.get(name, 0.0) + value
    return merged


@pytest.mark.parametrize("query", ["lang:klingon x", 'an "unbalanced quote'])
def test_bad_query_syntax_is_rejected_not_an_error(acme, counters_clean, query):
    response = acme.api().get("/api/v1/search/", {"q": query})

    assert response.status_code == 400
    fields = _minute_fields(acme.tenant.pk)
    assert fields.get("rejected") == 1
    assert "err" not in fields and "req" not in fields
    assert not any(name.startswith("h") for name in fields)  # no latency sample


def test_an_unavailable_service_is_an_error(acme, counters_clean):
    @measured_search
    def search_with_store_down(*, query: str) -> None:
        raise ServiceUnavailable("The vector store is unreachable.")

    @measured_search
    def search_with_a_bug(*, query: str) -> None:
        raise KeyError("payload")

    with tenant_context(acme.tenant):
        with pytest.raises(ServiceUnavailable):
            search_with_store_down(query="x")
        with pytest.raises(KeyError):
            search_with_a_bug(query="x")

    fields = _minute_fields(acme.tenant.pk)
    assert (fields.get("req"), fields.get("err")) == (2, 2)
    assert "rejected" not in fields


def test_prometheus_exports_errors_and_rejections_apart(acme, counters_clean):
    @measured_search
    def search_with_store_down(*, query: str) -> None:
        raise ServiceUnavailable("The vector store is unreachable.")

    with tenant_context(acme.tenant), pytest.raises(ServiceUnavailable):
        search_with_store_down(query="x")
    for query in ("lang:klingon x", "lang:klingon y", "repo:"):
        assert acme.api().get("/api/v1/search/", {"q": query}).status_code == 400

    text = render_metrics().decode()

    assert 'portal_search_errors_total{tenant="acme"} 1.0' in text
    assert 'portal_search_rejected_total{tenant="acme"} 3.0' in text
    assert 'portal_search_requests_total{tenant="acme"} 1.0' in text
