"""Fixtures for the security tests: rate limits switched on with small, known budgets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

SMALL_RATES = {
    "signup_address": "3/h",
    "login_account_address": "3/15m",
    "login_account": "10/h",
    "login_address": "6/15m",
    "api_token": "1000/m",
}
TENANT_SEARCHES_PER_MINUTE = 4


@pytest.fixture
def rate_limits(settings: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Enable rate limits with small rates and a free tier of a few searches per minute.

    Every counter these tests touch is removed before and after, so tests sharing the
    session's tenants never see each other's hits.
    """
    from django.db import connection

    from portal.ratelimit import limiter, policies
    from tenants.tiers import TIERS

    settings.RATE_LIMITS = {"ENABLED": True, "RATES": dict(SMALL_RATES)}  # type: ignore[attr-defined]
    monkeypatch.setitem(
        TIERS,
        "free",
        dataclasses.replace(TIERS["free"], search_requests_per_minute=TENANT_SEARCHES_PER_MINUTE),
    )
    limiter._outage.clear()
    client = limiter._connection.scripts().client

    def _clear() -> None:
        # Only this suite's own embedded Redis; SCAN (never KEYS) over the limiter's prefix.
        for key in client.scan_iter(match=f"{limiter.KEY_PREFIX}:*", count=500):
            client.delete(key)

    _clear()
    yield {"policies": policies}
    _clear()
    limiter._outage.clear()
    connection.set_schema_to_public()


@pytest.fixture
def redis_down(rate_limits: dict, settings: object, tmp_path: object) -> None:
    """Point the limiter at a Redis that does not exist (after ``rate_limits`` set up)."""
    settings.REDIS_URL = f"unix://{tmp_path}/no-redis.sock"  # type: ignore[attr-defined]
