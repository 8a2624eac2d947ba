"""Tenant admin pages: members, invitations, API tokens."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db


def test_admin_invites_member_who_joins_and_can_search_but_not_manage(acme):
    from django.test import Client

    admin = acme.client()
    page = admin.post("/members/", {"email": "newbie@acme.example.com", "role": "member"})
    assert page.status_code == 200
    link = re.search(rb"/invite/([\w-]+)/", page.content)
    assert link, page.content[:2000]

    guest = Client(HTTP_HOST=acme.host)
    joined = guest.post(f"/invite/{link.group(1).decode()}/", {"password": "Member-Pass-987"})
    assert joined.status_code == 302
    assert guest.get("/").status_code == 200
    assert guest.get("/members/").status_code == 403
    again = Client(HTTP_HOST=acme.host).post(
        f"/invite/{link.group(1).decode()}/", {"password": "Member-Pass-987"}
    )
    assert again.status_code == 404


def test_token_is_shown_once_works_and_stops_working_after_revoke(acme):
    from tenants.accounts.models import ApiToken

    admin = acme.client()
    created = admin.post("/tokens/", {"name": "ci"})
    token = re.search(rb"csp_[0-9a-f]+_[\w-]+", created.content).group(0).decode()
    listing = admin.get("/tokens/")
    assert token.encode() not in listing.content

    api = acme.api(token=token)
    assert api.get("/api/v1/repositories/").status_code == 200
    with schema_context(acme.tenant.schema_name):
        stored = ApiToken.objects.get(name="ci")
        assert token not in (stored.digest, stored.prefix)
    admin.post(f"/tokens/{stored.pk}/revoke/")
    assert api.get("/api/v1/repositories/").status_code == 401


def test_member_cannot_revoke_an_admins_token(acme):
    from tenants.accounts.models import ApiToken
    from tenants.accounts.services import create_member

    with schema_context(acme.tenant.schema_name):
        create_member(email="plain@acme.example.com", role="member", password="Plain-Pass-123")
        admin_token = ApiToken.objects.filter(user__username=acme.email).first()
    from django.test import Client

    member = Client(HTTP_HOST=acme.host)
    with schema_context(acme.tenant.schema_name):
        assert member.login(username="plain@acme.example.com", password="Plain-Pass-123")
    response = member.post(f"/tokens/{admin_token.pk}/revoke/")
    assert response.status_code == 404
    with schema_context(acme.tenant.schema_name):
        admin_token.refresh_from_db()
        assert admin_token.revoked_at is None


def test_pages_render_for_admin(acme_indexed):
    client = acme_indexed.client()
    for url in ("/", "/repositories/", "/members/", "/tokens/", "/manage/"):
        assert client.get(url).status_code == 200, url
    results = client.get("/", {"q": "wrap text"})
    assert results.status_code == 200
    assert b"click/formatting.py" in results.content
    bad = client.get("/", {"q": 'repo:nope "unclosed'})
    assert bad.status_code == 400
    assert b"Unbalanced quote" in bad.content


def test_login_page_rejects_wrong_password(acme):
    from django.test import Client

    client = Client(HTTP_HOST=acme.host)
    response = client.post("/login/", {"username": acme.email, "password": "wrong"})
    assert response.status_code == 200
    assert b"wrong for this tenant" in response.content
