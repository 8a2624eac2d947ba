"""The search request path: bookkeeping writes (log row, usage counters, shared cache) wait
for the response, and the API body keeps its documented shape without a serializer pass.

See portal/after_response.py: inside a request the writes run when the response is closed;
outside one they run at once.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from portal import after_response
from search import search_cache
from search.models import SearchQuery
from search.services import querying
from search.services.querying import Highlight, SearchResponse, SearchResult


def test_deferred_call_runs_at_once_outside_a_request() -> None:
    calls: list[str] = []

    after_response.defer(calls.append, "now")

    assert calls == ["now"]


def test_deferred_calls_run_in_order_when_the_response_scope_ends() -> None:
    calls: list[str] = []

    with after_response.response_scope():
        after_response.defer(calls.append, "first")
        after_response.defer(calls.append, "second")
        assert calls == []

    assert calls == ["first", "second"]


def test_a_failing_deferred_call_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with (
        caplog.at_level(logging.ERROR, logger="portal.after_response"),
        after_response.response_scope(),
    ):
        after_response.defer(broken)
        after_response.defer(calls.append, "after")

    assert calls == ["after"]
    assert [r.getMessage() for r in caplog.records] == ["portal.after_response.failed"]


def test_response_as_dict_equals_dataclasses_asdict() -> None:
    result = SearchResult(
        repository="sample",
        repository_id=3,
        path="src/a.py",
        start_line=10,
        end_line=12,
        language="python",
        symbol="A.parse",
        kind="method",
        snippet="def parse(self):\n    return 1",
        score=0.8123,
        highlights=[Highlight(line=10, start=4, end=9), Highlight(line=11, start=0, end=3)],
    )
    response = SearchResponse(
        query="parse", query_type="symbol", results=[result, result], took_ms=3.2, cache="l2"
    )

    assert response.as_dict() == dataclasses.asdict(response)


@pytest.mark.django_db
def test_api_search_writes_log_counters_and_cache_after_the_view_returned(
    acme_indexed, monkeypatch
) -> None:
    from capacity import recording
    from search.api import views

    with tenant_context(acme_indexed.tenant):
        logged_before = SearchQuery.objects.count()
    counted: list[dict[str, object]] = []
    seen_in_view: list[tuple[int, int]] = []
    monkeypatch.setattr(recording, "record_search", lambda *a, **k: counted.append(k))
    issue_click_token = views.issue_click_token

    def in_view(*args: object, **kwargs: object) -> str:
        # Runs in the view after search_code returned, before the response exists.
        seen_in_view.append((SearchQuery.objects.count(), len(counted)))
        return issue_click_token(*args, **kwargs)

    monkeypatch.setattr(views, "issue_click_token", in_view)
    search_cache.bump_index_version(acme_indexed.tenant.schema_name)

    response = acme_indexed.api().get("/api/v1/search/", {"q": "read the config file"})

    assert response.status_code == 200, response.content
    assert response.json()["cache"] == "miss" and response.json()["results"]
    assert seen_in_view == [(logged_before, 0)]
    connection.set_tenant(acme_indexed.tenant)
    assert SearchQuery.objects.count() == logged_before + 1
    assert SearchQuery.objects.latest("created_at").query == "read the config file"
    assert [c["cache_level"] for c in counted] == ["miss"]
    key = search_cache.response_key(
        acme_indexed.tenant.schema_name, {"q": "read the config file", "limit": 10}
    )
    assert cache.get(key)["results"] == response.json()["results"]


@pytest.mark.django_db
def test_search_outside_a_request_logs_at_once(acme_indexed) -> None:
    with tenant_context(acme_indexed.tenant):
        search_cache.bump_index_version(acme_indexed.tenant.schema_name)
        before = SearchQuery.objects.count()

        querying.search_code(query="parse a header", limit=3)

        assert SearchQuery.objects.count() == before + 1


@pytest.mark.django_db
def test_api_search_body_is_what_the_documented_serializer_would_produce(acme_indexed) -> None:
    from search.api.serializers import SearchResponseSerializer

    search_cache.bump_index_version(acme_indexed.tenant.schema_name)
    response = acme_indexed.api().get("/api/v1/search/", {"q": "parse a header", "limit": 5})

    body = response.json()
    assert response.status_code == 200 and body["results"]
    assert body == SearchResponseSerializer(body).data
    assert {type(v) for r in body["results"] for v in (r["start_line"], r["score"])} <= {
        int,
        float,
    }
