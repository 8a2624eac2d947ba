"""Per-tenant search limits from the tier and per-token API limits, through the real API."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.security.conftest import TENANT_SEARCHES_PER_MINUTE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limits")]


def _second_token(fixture) -> str:
    from tenants.accounts.models import ApiToken
    from tenants.accounts.services import create_api_token

    with schema_context(fixture.tenant.schema_name):
        admin = ApiToken.objects.select_related("user").first().user
        _, plaintext = create_api_token(user=admin, name="second")
    return plaintext


def _search(api):
    return api.get("/api/v1/search/", {"q": "parse options"})


def test_tenant_search_limit_counts_across_tokens_and_spares_other_tenants(acme, globex):
    first, second = acme.api(), acme.api(token=_second_token(acme))
    statuses = [_search(first if n % 2 else second).status_code for n in range(6)]
    assert statuses == [200] * TENANT_SEARCHES_PER_MINUTE + [429, 429]
    assert _search(globex.api()).status_code == 200


def test_rate_limited_answer_has_the_drf_shape_and_retry_after(acme):
    api = acme.api()
    for _ in range(TENANT_SEARCHES_PER_MINUTE):
        assert _search(api).status_code == 200
    response = _search(api)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited"
    assert "retry" in body["detail"].lower()
    # The next search fits once this minute's four have decayed to three, a quarter of the way
    # into the next minute: 15 s to 75 s from now, depending on where in the minute we are.
    assert 15 <= int(response["Retry-After"]) <= 75


def test_spoofed_tenant_and_forwarded_headers_do_not_lift_the_tenant_limit(acme, settings):
    settings.TRUSTED_PROXIES = []
    api = acme.api()
    for _ in range(TENANT_SEARCHES_PER_MINUTE):
        assert _search(api).status_code == 200
    response = api.get(
        "/api/v1/search/",
        {"q": "parse options"},
        HTTP_X_TENANT="globex",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
    )
    assert response.status_code == 429


def test_web_search_page_spends_the_same_tenant_budget(acme):
    api = acme.api()
    for _ in range(TENANT_SEARCHES_PER_MINUTE):
        assert _search(api).status_code == 200
    page = acme.client().get("/", {"q": "parse options"})
    assert page.status_code == 429
    assert int(page["Retry-After"]) > 0


def test_anonymous_visitors_cannot_spend_a_tenants_search_budget(acme):
    from django.test import Client

    anonymous = Client(HTTP_HOST=acme.host)
    for _ in range(TENANT_SEARCHES_PER_MINUTE + 2):
        assert anonymous.get("/", {"q": "x"}).status_code == 302
        assert anonymous.get("/api/v1/search/", {"q": "x"}).status_code in (401, 403)
    assert _search(acme.api()).status_code == 200


def test_api_token_limit_applies_to_every_tenant_endpoint(acme, settings):
    settings.RATE_LIMITS = {"ENABLED": True, "RATES": {"api_token": "3/m"}}
    api = acme.api(token=_second_token(acme))
    statuses = [api.get("/api/v1/repositories/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Another token of the same tenant still has its own budget.
    assert acme.api().get("/api/v1/repositories/").status_code == 200


def test_search_fails_open_when_redis_is_down(acme, redis_down):
    api = acme.api()
    statuses = [_search(api).status_code for _ in range(TENANT_SEARCHES_PER_MINUTE + 2)]
    assert statuses == [200] * (TENANT_SEARCHES_PER_MINUTE + 2)
