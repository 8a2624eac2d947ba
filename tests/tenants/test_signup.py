from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_api(public_tenant):
    return APIClient(HTTP_HOST="localhost")


@pytest.mark.parametrize(
    ("slug", "fragment"),
    [
        ("A", "3-40 characters"),
        ("has_underscore", "3-40 characters"),
        ("-leading", "3-40 characters"),
        ("admin", "reserved"),
    ],
)
def test_signup_rejects_invalid_slug_with_field_error(public_api, slug, fragment):
    from tenants.models import Tenant

    before = Tenant.objects.count()
    response = public_api.post(
        "/api/v1/signup/",
        {"name": "X", "slug": slug, "admin_email": "a@b.example", "password": "Long-Pass-123"},
        format="json",
    )
    assert response.status_code == 400
    assert fragment in response.json()["slug"][0]
    assert Tenant.objects.count() == before


def test_signup_rejects_taken_slug(public_api, acme):
    response = public_api.post(
        "/api/v1/signup/",
        {"name": "X", "slug": "acme", "admin_email": "a@b.example", "password": "Long-Pass-123"},
        format="json",
    )
    assert response.status_code == 400
    assert "already taken" in response.json()["slug"][0]


def test_signup_rejects_weak_password_without_creating_anything(public_api):
    from tenants.models import Tenant

    response = public_api.post(
        "/api/v1/signup/",
        {"name": "X", "slug": "weakling", "admin_email": "a@b.example", "password": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()
    assert not Tenant.objects.filter(slug="weakling").exists()


@pytest.mark.parametrize("step", ["schema", "search_storage", "namespace", "admin_user"])
def test_failure_at_any_step_leaves_nothing_half_created(
    public_api, settings, django_capture_on_commit_callbacks, step
):
    from django.db import connection

    from search.clients.vectorstore.base import StorageTarget
    from search.vector_store import get_vector_store
    from tenants.models import Tenant, TenantManifest

    settings.PORTAL_PROVISIONING_FAIL_AT = step
    slug = f"fail-{step.replace('_', '-')}"
    with django_capture_on_commit_callbacks(execute=True):
        response = public_api.post(
            "/api/v1/signup/",
            {"name": "F", "slug": slug, "admin_email": "a@b.example", "password": "Long-Pass-123"},
            format="json",
        )
    assert response.status_code == 202
    tenant = Tenant.objects.get(slug=slug)
    assert tenant.status == Tenant.Status.FAILED
    failed = tenant.steps.get(name=step)
    assert failed.status == "failed" and "injected failure" in failed.last_error
    assert "failed" in tenant.status_detail
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
            [tenant.schema_name],
        )
        assert cursor.fetchone()[0] == 0
    assert not TenantManifest.objects.filter(tenant=tenant).exists()
    target = StorageTarget(tenant_key=tenant.schema_name)
    assert get_vector_store().count(target) == 0


def test_signup_page_shows_token_once_and_status(public_tenant, django_capture_on_commit_callbacks):
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    assert client.get("/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/",
            {
                "name": "Hooli",
                "slug": "hooli",
                "admin_email": "gavin@hooli.example",
                "password": "Long-Pass-123",
                "tier": "free",
            },
        )
    assert page.status_code == 200
    assert b"csp_" in page.content
    status = client.get("/signup/hooli/")
    assert status.status_code == 200 and b"csp_" not in status.content


def test_signup_status_for_an_unknown_slug_names_the_slug(public_api):
    response = public_api.get("/api/v1/signup/no-such-team/")

    assert response.status_code == 404
    assert response.json()["detail"] == (
        "No tenant has the slug 'no-such-team'; check the status_url of the signup."
    )


def test_signup_form_keeps_the_chosen_plan_after_an_error(public_tenant):
    from django.test import Client

    page = Client(HTTP_HOST="localhost").post(
        "/",
        {"name": "X", "slug": "A", "admin_email": "a@b.example", "password": "x", "tier": "team"},
    )

    assert page.status_code == 400
    assert b'<option value="team" selected>' in page.content
    assert b'<option value="free" selected>' not in page.content
