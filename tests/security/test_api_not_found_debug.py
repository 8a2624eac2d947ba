"""Unknown /api/ paths get the JSON 404 with DEBUG on too (snag 4): script/server runs the
portal with DEBUG, where Django would otherwise list every URL pattern."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v1/jobs/abc/", "/api/v1/repositories/1/nothing/", "/api/x"]
)
def test_unrouted_api_paths_answer_json_on_a_tenant_site(acme, debug_on, path):
    response = acme.api().get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "not_found"
    assert "/api/v1/docs/" in body["detail"]
    assert b"URLconf" not in response.content


def test_unrouted_api_paths_answer_json_on_the_public_site(public_tenant, debug_on):
    from django.test import Client

    response = Client(HTTP_HOST="localhost").get("/api/v1/nope/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_views_own_404_keeps_its_detail(acme, debug_on):
    response = acme.api().get("/api/v1/repositories/987654/")

    assert response.status_code == 404
    assert "987654" in response.json()["detail"]


def test_a_missing_slash_is_still_redirected(acme, debug_on):
    response = acme.api().get("/api/v1/repositories")

    assert response.status_code == 301
    assert response["Location"].endswith("/api/v1/repositories/")


def test_pages_keep_djangos_debug_404(acme, debug_on):
    response = acme.client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"URLconf" in response.content
