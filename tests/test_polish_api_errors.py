"""The tenant API's OpenAPI schema documents the error statuses each operation answers."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.api_errors import error_responses

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("/api/v1/search/", "get"): {"400", "401", "403", "429", "503"},
    ("/api/v1/repositories/", "get"): {"401", "403", "429"},
    ("/api/v1/repositories/", "post"): {"400", "401", "403", "409", "413", "429", "503"},
    ("/api/v1/repositories/{repository_id}/", "get"): {"401", "403", "404", "429"},
    ("/api/v1/repositories/{repository_id}/", "delete"): {"401", "403", "404", "429", "503"},
    ("/api/v1/repositories/{repository_id}/index/", "post"): {
        "401",
        "403",
        "404",
        "409",
        "429",
        "503",
    },
    ("/api/v1/repositories/{repository_id}/sync/", "post"): {
        "400",
        "401",
        "403",
        "404",
        "409",
        "429",
        "503",
    },
    ("/api/v1/jobs/{job_id}/", "get"): {"401", "403", "404", "429"},
}


def test_each_operation_declares_its_error_statuses_with_a_body_schema(acme):
    schema = Client(HTTP_HOST=acme.host).get("/api/v1/schema/?format=json").json()

    for (path, method), statuses in EXPECTED.items():
        responses = schema["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, method, sorted(responses))
        for status in statuses:
            body = responses[status]["content"]["application/json"]["schema"]
            expected = "ValidationError" if status == "400" else "ApiError"
            assert body == {"$ref": f"#/components/schemas/{expected}"}, (path, method, status)
            assert responses[status]["description"]
    api_error = schema["components"]["schemas"]["ApiError"]
    assert set(api_error["required"]) == {"detail", "code"}
    assert "required" not in schema["components"]["schemas"]["ValidationError"]


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"path": "/api/v1/search/", "data": {"q": "lang:klingon x"}}, 400),
        ({"path": "/api/v1/jobs/999999/"}, 404),
    ],
)
def test_error_bodies_have_the_documented_shape(acme, request_kwargs, status):
    response = acme.api().get(**request_kwargs)

    assert response.status_code == status
    body = response.json()
    if status == 400:
        assert all(isinstance(messages, list) for messages in body.values())
    else:
        assert isinstance(body["detail"], str) and isinstance(body["code"], str)


def test_unauthenticated_requests_get_a_401_with_detail_and_code(acme):
    response = Client(HTTP_HOST=acme.host).get("/api/v1/repositories/")

    assert response.status_code == 401
    assert set(response.json()) >= {"detail", "code"}


def test_an_undocumented_error_status_is_refused():
    with pytest.raises(ValueError, match="418"):
        error_responses(400, 418)


@pytest.mark.parametrize(
    "path", ["/api/v1/jobs/-1.9/", "/api/v1/repositories/abc/", "/api/v1/nope/"]
)
def test_api_paths_that_match_no_route_get_a_json_404(acme, path):
    response = acme.api().get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_pages_that_match_no_route_keep_the_html_404(acme):
    response = acme.client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_public_signup_operations_declare_their_error_statuses(public_tenant):
    schema = Client(HTTP_HOST="localhost").get("/api/v1/schema/?format=json").json()

    expected = {
        ("/api/v1/signup/", "post"): {"400", "429", "503"},
        ("/api/v1/signup/{slug}/", "get"): {"404"},
    }
    for (path, method), statuses in expected.items():
        responses = schema["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, method, sorted(responses))
        for status in statuses:
            body = responses[status]["content"]["application/json"]["schema"]
            expected_ref = "ValidationError" if status == "400" else "ApiError"
            assert body == {"$ref": f"#/components/schemas/{expected_ref}"}
