"""Result clicks from the search page: validation, one credit per search, tenant isolation."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from capacity import counters, recording
from capacity.search_feedback import issue_click_token

pytestmark = pytest.mark.django_db

CLICK_URL = "/search/click/"


def _pending(tenant) -> dict[str, float]:
    """Sum of the tenant's not yet flushed minute counters."""
    totals: dict[str, float] = {}
    for minute_hash in counters.peek_usage(tenant.pk):
        for name, value in minute_hash.fields.items():
            totals[name] = totals.get(name, 0.0) + value
    return totals


def _token(tenant, result_count: int = 5) -> str:
    return issue_click_token(tenant.pk, result_count=result_count)


def test_search_page_issues_a_click_token_and_counts_the_search_as_shown(
    acme_indexed, counters_clean
):
    page = acme_indexed.client().get("/", {"q": "wrap text to a width"})
    html = page.content.decode()

    assert page.status_code == 200
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    assert 'data-rank="1"' in html and "/static/capacity/search_clicks.js" in html
    assert _pending(acme_indexed.tenant)["shown"] == 1

    response = acme_indexed.client().post(CLICK_URL, {"token": token, "rank": "2"})
    assert response.status_code == 204
    assert _pending(acme_indexed.tenant)["clicked"] == 1
    assert _pending(acme_indexed.tenant)["rr"] == pytest.approx(0.5)


def test_only_the_first_click_of_a_search_is_credited(acme, counters_clean):
    client, token = acme.client(), _token(acme.tenant)
    assert client.post(CLICK_URL, {"token": token, "rank": "3"}).status_code == 204
    assert client.post(CLICK_URL, {"token": token, "rank": "1"}).status_code == 204
    assert client.post(CLICK_URL, {"token": _token(acme.tenant), "rank": "1"}).status_code == 204

    pending = _pending(acme.tenant)
    assert pending["shown"] == 2
    assert pending["clicked"] == 2
    assert pending["rr"] == pytest.approx(1 / 3 + 1)


@pytest.mark.parametrize("rank", ["0", "6", "-1", "1.5", "abc", "", None])
def test_a_rank_outside_the_results_shown_is_rejected(acme, counters_clean, rank):
    data = {"token": _token(acme.tenant, result_count=5)}
    if rank is not None:
        data["rank"] = rank
    response = acme.client().post(CLICK_URL, data)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_search_feedback"
    assert "from 1 to 5" in response.json()["detail"]
    assert "clicked" not in _pending(acme.tenant)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 5000])
def test_a_missing_or_forged_token_is_rejected(acme, counters_clean, token):
    response = acme.client().post(CLICK_URL, {"token": token, "rank": "1"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_search_feedback"
    assert "clicked" not in _pending(acme.tenant)


def test_a_token_from_one_tenant_cannot_count_for_another(acme, globex, counters_clean):
    acme_token = _token(acme.tenant)

    response = globex.client().post(CLICK_URL, {"token": acme_token, "rank": "1"})

    assert response.status_code == 400
    assert "clicked" not in _pending(globex.tenant)
    assert "clicked" not in _pending(acme.tenant)
    # The same token is still good on its own site.
    assert acme.client().post(CLICK_URL, {"token": acme_token, "rank": "1"}).status_code == 204
    assert _pending(acme.tenant)["clicked"] == 1


def test_clicks_need_a_signed_in_member_post_and_csrf(acme, counters_clean):
    token = _token(acme.tenant)
    anonymous = Client(HTTP_HOST=acme.host)
    assert anonymous.post(CLICK_URL, {"token": token, "rank": "1"}).status_code == 403
    assert acme.client().get(CLICK_URL).status_code == 405

    strict = Client(HTTP_HOST=acme.host, enforce_csrf_checks=True)
    strict.force_login(_admin_user(acme))
    assert strict.post(CLICK_URL, {"token": token, "rank": "1"}).status_code == 403
    assert "clicked" not in _pending(acme.tenant)

    strict.get("/")  # the search page sets the CSRF cookie
    csrf = strict.cookies["csrftoken"].value
    data = {"token": token, "rank": "1", "csrfmiddlewaretoken": csrf}
    assert strict.post(CLICK_URL, data).status_code == 204
    assert _pending(acme.tenant)["clicked"] == 1


def _admin_user(tenant_fixture):
    from django.contrib.auth import get_user_model
    from django_tenants.utils import tenant_context

    with tenant_context(tenant_fixture.tenant):
        return get_user_model().objects.get(email=tenant_fixture.email)


def test_a_search_that_finds_nothing_counts_as_zero_result(acme, counters_clean):
    recording.record_search(
        acme.tenant.pk, took_ms=5, cache_level="miss", result_count=0, response_bytes=10
    )
    recording.record_search(
        acme.tenant.pk, took_ms=5, cache_level="l1", result_count=3, response_bytes=10
    )
    recording.record_search(
        acme.tenant.pk,
        took_ms=5,
        cache_level="miss",
        result_count=0,
        response_bytes=0,
        is_error=True,
    )
    pending = _pending(acme.tenant)
    assert pending["req"] == 3
    assert pending["zero"] == 1  # a failed search is an error, not an empty answer


API_URL = "/api/v1/search/feedback/"


def test_api_feedback_counts_a_first_click_once(acme, counters_clean):
    token = _token(acme.tenant, result_count=4)
    api = acme.api()

    first = api.post(API_URL, {"token": token, "rank": 4}, format="json")
    again = api.post(API_URL, {"token": token, "rank": 1}, format="json")

    assert (first.status_code, again.status_code) == (204, 204)
    assert _pending(acme.tenant)["clicked"] == 1
    assert _pending(acme.tenant)["rr"] == pytest.approx(0.25)


def test_api_feedback_rejects_bad_input_and_other_tenants_tokens(acme, globex, counters_clean):
    api = acme.api()
    beyond = api.post(API_URL, {"token": _token(acme.tenant, 4), "rank": 5}, format="json")
    assert beyond.status_code == 400 and "from 1 to 4" in beyond.json()["rank"][0]
    assert api.post(API_URL, {"token": _token(acme.tenant), "rank": 0}, format="json").json()[
        "rank"
    ]
    assert "token" in api.post(API_URL, {"rank": 1}, format="json").json()
    foreign = api.post(API_URL, {"token": _token(globex.tenant), "rank": 1}, format="json")
    assert foreign.status_code == 400 and "token" in foreign.json()
    assert "clicked" not in _pending(acme.tenant) and "clicked" not in _pending(globex.tenant)
    assert acme.api(token="not-a-token").post(API_URL, {}, format="json").status_code == 401


def test_api_feedback_is_in_the_openapi_schema(acme):
    schema = Client(HTTP_HOST=acme.host).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"][API_URL]["post"]
    assert set(operation["responses"]) >= {"204", "400", "401", "429"}


def test_api_search_returns_a_token_its_feedback_endpoint_accepts(acme_indexed, counters_clean):
    api = acme_indexed.api()
    found = api.get("/api/v1/search/", {"q": "wrap text to a width"}).json()
    nothing = api.get("/api/v1/search/", {"q": "wrap text path:no/such/folder/*"}).json()

    assert found["results"] and found["feedback_token"]
    assert nothing["results"] == [] and nothing["feedback_token"] == ""
    clicked = api.post(API_URL, {"token": found["feedback_token"], "rank": 1}, format="json")
    assert clicked.status_code == 204
    assert _pending(acme_indexed.tenant)["clicked"] == 1
