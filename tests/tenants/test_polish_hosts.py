"""Hosts route to tenants case-insensitively; an unknown host gets a friendly 404 page."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_upper_case_host_reaches_the_tenant(acme):
    api = acme.api()
    api.defaults["HTTP_HOST"] = acme.host.upper()

    response = api.get("/api/v1/repositories/")

    assert response.status_code == 200, response.content[:300]


def test_upper_case_host_signs_in_to_the_tenant_pages(acme):
    client = acme.client()
    client.defaults["HTTP_HOST"] = "".join(
        ch.upper() if i % 2 else ch for i, ch in enumerate(acme.host)
    )

    response = client.get("/")

    assert response.status_code == 200
    assert b'role="search"' in response.content


def test_upper_case_base_domain_is_the_public_site(public_tenant):
    response = Client(HTTP_HOST="LOCALHOST").get("/")

    assert response.status_code == 200
    assert b"Create organization" in response.content


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_host_gets_a_friendly_404_with_a_signup_link(public_tenant, debug):
    with override_settings(DEBUG=debug):
        response = Client(HTTP_HOST="no-such-team.localhost:8000").get("/repositories/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "There is no code search site at no-such-team.localhost" in page
    assert 'href="http://localhost:8000/"' in page
    assert "Technical details" not in page and "URLconf" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_unknown_host_page_keeps_its_stylesheet(public_tenant):
    response = Client(HTTP_HOST="no-such-team.localhost").get("/static/portal/portal.css")

    assert response.status_code == 200
    assert b".topbar" in b"".join(response.streaming_content)


def test_unknown_host_signup_link_uses_the_default_port_when_none_is_given(public_tenant):
    response = Client(HTTP_HOST="typo.localhost").get("/", secure=True)

    assert 'href="https://localhost/"' in response.content.decode()
