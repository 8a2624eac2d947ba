"""The main job end to end: sign up, index a real code sample, search it."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db


def test_signup_index_and_search_finds_expected_function(
    public_tenant, django_capture_on_commit_callbacks, settings
):
    from rest_framework.test import APIClient

    from tests.conftest import SAMPLE_SOURCE

    public = APIClient(HTTP_HOST="localhost")
    with django_capture_on_commit_callbacks(execute=True):
        signup = public.post(
            "/api/v1/signup/",
            {
                "name": "Initech",
                "slug": "initech",
                "admin_email": "boss@initech.example",
                "password": "Very-Secret-Pass-42",
            },
            format="json",
        )
    assert signup.status_code == 202, signup.content
    token = signup.json()["api_token"]
    status = public.get("/api/v1/signup/initech/").json()
    assert status["status"] == "ready"
    assert [s["status"] for s in status["steps"]] == ["done"] * 4

    api = APIClient(HTTP_HOST="initech.localhost")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/repositories/",
            {"name": "click", "path": str(SAMPLE_SOURCE.resolve())},
            format="json",
        )
    assert created.status_code == 201, created.content
    job = api.get(f"/api/v1/jobs/{created.json()['job']['id']}/").json()
    assert job["status"] == "succeeded", job
    assert job["files_indexed"] == 5 and job["chunks_indexed"] > 20

    natural = api.get("/api/v1/search/", {"q": "wrap text into paragraphs of a given width"})
    assert natural.status_code == 200
    body = natural.json()
    top = body["results"][:5]
    assert any(r["path"] == "click/formatting.py" and r["symbol"] == "wrap_text" for r in top), [
        (r["path"], r["symbol"]) for r in top
    ]
    assert body["took_ms"] >= 0 and body["query_type"] == "semantic"

    symbol = api.get("/api/v1/search/", {"q": "join_options"}).json()
    first = symbol["results"][0]
    assert (first["path"], first["symbol"]) == ("click/formatting.py", "join_options")
    assert first["start_line"] == 302
    assert symbol["query_type"] == "symbol"

    with schema_context("public"):
        from tenants.models import Tenant
        from tenants.services.provisioning import delete_tenant

        delete_tenant(Tenant.objects.get(slug="initech").pk)
