"""Every admin action writes exactly one audit event in its own tenant's schema."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.60"


def _events_after(fixture, last_id: int) -> list:
    from tenants.accounts.models import AuditEvent

    with schema_context(fixture.tenant.schema_name):
        return list(AuditEvent.objects.filter(pk__gt=last_id).order_by("pk"))


def _last_id(fixture) -> int:
    from tenants.accounts.models import AuditEvent

    with schema_context(fixture.tenant.schema_name):
        return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def small_source(copy_tree, tmp_path):
    source = tmp_path / "tiny"
    source.mkdir()
    (source / "hello.py").write_text("def hello():\n    return 'hi'\n")
    return copy_tree(source, f"tiny-{tmp_path.name}")


def _only(events, action: str):
    assert [e.action for e in events] == [action]
    return events[0]


def test_repository_create_index_and_delete_each_record_one_event(acme, small_source):
    api = acme.api()
    start = _last_id(acme)
    created = api.post(
        "/api/v1/repositories/",
        {"name": small_source.name, "path": str(small_source), "index": False},
        format="json",
        REMOTE_ADDR=ADDRESS,
    )
    assert created.status_code == 201, created.content
    event = _only(_events_after(acme, start), "repository.created")
    assert event.target_type == "repository"
    assert event.target_id == str(created.json()["id"])
    assert event.actor_email == acme.email
    assert event.ip == ADDRESS
    assert event.detail == {"name": small_source.name, "source": "local"}

    start = _last_id(acme)
    repository_id = created.json()["id"]
    job = api.post(f"/api/v1/repositories/{repository_id}/index/")
    assert job.status_code == 202
    event = _only(_events_after(acme, start), "index_job.started")
    assert event.target_id == str(job.json()["id"])

    start = _last_id(acme)
    assert api.delete(f"/api/v1/repositories/{repository_id}/").status_code == 204
    event = _only(_events_after(acme, start), "repository.deleted")
    assert event.target_id == str(repository_id)


def test_member_invitation_and_role_change_each_record_one_event(acme):
    from django.contrib.auth import get_user_model

    from tenants.accounts.services import create_member

    admin = acme.client()
    start = _last_id(acme)
    invited = admin.post("/members/", {"email": "new-dev@acme.example.com", "role": "member"})
    assert invited.status_code == 200
    event = _only(_events_after(acme, start), "member.invited")
    assert event.detail == {"email": "new-dev@acme.example.com", "role": "member"}

    with schema_context(acme.tenant.schema_name):
        email = f"promote-{start}@acme.example.com"
        create_member(email=email, role="member", password="Member-Pass-123")
        user_id = get_user_model().objects.get(username=email).pk
    start = _last_id(acme)
    assert admin.post(f"/members/{user_id}/role/", {"role": "admin"}).status_code == 302
    event = _only(_events_after(acme, start), "member.role_changed")
    assert event.target_id == str(user_id)
    assert event.detail == {"from": "member", "to": "admin"}


def test_token_creation_and_revocation_each_record_one_event_without_the_secret(acme):
    from tenants.accounts.models import ApiToken

    admin = acme.client()
    start = _last_id(acme)
    page = admin.post("/tokens/", {"name": "audit-ci"})
    assert page.status_code == 200
    event = _only(_events_after(acme, start), "api_token.created")
    with schema_context(acme.tenant.schema_name):
        token = ApiToken.objects.get(pk=int(event.target_id))
    secret = page.context["new_token"]
    assert secret not in str(event.detail)
    assert event.detail == {"name": "audit-ci", "prefix": token.prefix}

    start = _last_id(acme)
    assert admin.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    _only(_events_after(acme, start), "api_token.revoked")
    # Revoking again changes nothing and records nothing.
    admin.post(f"/tokens/{token.pk}/revoke/")
    assert _events_after(acme, start)[1:] == []


def test_audit_page_lists_events_for_admins_and_never_another_tenants(acme, globex):
    admin = acme.client()
    admin.post("/tokens/", {"name": "acme-only-audit-marker"})
    page = admin.get("/manage/audit/")
    assert page.status_code == 200
    assert "acme-only-audit-marker" in page.content.decode()

    other = globex.client().get("/manage/audit/")
    assert other.status_code == 200
    assert "acme-only-audit-marker" not in other.content.decode()
    assert all("acme-only-audit-marker" not in str(e.detail) for e in _events_after(globex, 0))


def test_audit_page_is_for_admins_only(acme):
    from django.test import Client

    from tenants.accounts.services import create_member

    with schema_context(acme.tenant.schema_name):
        create_member(
            email="audit-reader@acme.example.com", role="member", password="Member-Pass-123"
        )
    member = Client(HTTP_HOST=acme.host)
    with schema_context(acme.tenant.schema_name):
        assert member.login(username="audit-reader@acme.example.com", password="Member-Pass-123")
    assert member.get("/manage/audit/").status_code == 403
    assert Client(HTTP_HOST=acme.host).get("/manage/audit/").status_code == 302
