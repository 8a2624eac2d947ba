"""Redis down: search answers uncached and the outage is logged once, not per request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_down(settings: object, dead_socket: Path) -> Iterator[None]:
    """Point Django's cache at a socket nobody answers on; restore it afterwards.

    Changing CACHES through the settings fixture makes Django drop its cache connections, so
    the next access opens one to the dead socket. The search cache warns once per process, so
    that memory is reset on both sides of the test.
    """
    from search import search_cache

    cache = dict(settings.CACHES["default"])  # type: ignore[attr-defined]
    cache["LOCATION"] = f"unix://{dead_socket}"
    settings.CACHES = {"default": cache}  # type: ignore[attr-defined]
    search_cache._redis_warned.clear()
    search_cache.clear_local()
    yield
    search_cache._redis_warned.clear()
    search_cache.clear_local()


def test_search_answers_uncached_and_warns_once_when_redis_is_down(
    fault_tenant, cache_down, caplog
):
    api = fault_tenant.api()

    with caplog.at_level(logging.WARNING, logger="search.search_cache"):
        first = api.get("/api/v1/search/", {"q": "retry a call with exponential backoff"})
        second = api.get("/api/v1/search/", {"q": "double the delay after a failure"})
        third = api.get("/api/v1/search/", {"q": "sym:retry_with_backoff"})

    for response in (first, second, third):
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["cache"] == "miss"
        assert any(hit["path"] == "retry.py" for hit in body["results"])
    warnings = [r for r in caplog.records if r.msg == "search.cache.redis_unavailable"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_ready_names_redis_when_the_cache_is_down(fault_tenant, cache_down):
    from django.test import Client

    response = Client(HTTP_HOST=fault_tenant.host).get("/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("unavailable")
    assert checks["database"] == "ok" and checks["vector_store"] == "ok"


def test_search_is_cached_again_once_redis_is_back(fault_tenant):
    from search import search_cache

    search_cache.clear_local()
    api = fault_tenant.api()
    query = {"q": "pause between attempts"}

    assert api.get("/api/v1/search/", query).json()["cache"] == "miss"
    search_cache.clear_local()  # skip the in-process level: the answer must come from Redis
    assert api.get("/api/v1/search/", query).json()["cache"] == "l2"
