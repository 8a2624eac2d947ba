"""Deployment settings, Content-Security-Policy and templates free of inline code."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_deploy_check_is_clean_in_production(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PORTAL_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "PORTAL_BASE_DOMAIN": "portal.example.com",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        # This run's own servers, so the check starts no embedded ones (it connects to none).
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORTAL_ENV": "production",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_pages_send_a_content_security_policy_without_inline_allowances(acme):
    response = acme.client().get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    from django.test import Client

    public = Client(HTTP_HOST="localhost").get("/")
    assert "Content-Security-Policy" in public


@pytest.mark.parametrize(
    "path", ["/", "/repositories/", "/tokens/", "/members/", "/manage/audit/", "/login/"]
)
def test_rendered_tenant_pages_carry_no_inline_script(acme_indexed, path):
    html = acme_indexed.client().get(path).content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)


def test_repository_page_asks_for_confirmation_without_inline_code(acme_indexed):
    from django_tenants.utils import schema_context

    from search.models import Repository

    with schema_context(acme_indexed.tenant.schema_name):
        repository = Repository.objects.first()
    html = acme_indexed.client().get(f"/repositories/{repository.pk}/").content.decode()
    assert "data-confirm=" in html
    assert not INLINE_HANDLER.search(html)
    assert "portal/confirm.js" in html


def test_no_template_contains_inline_script_or_event_handlers():
    offenders = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = template.read_text()
        if INLINE_SCRIPT.search(text) or INLINE_HANDLER.search(text):
            offenders.append(str(template))
    assert offenders == []


@pytest.mark.parametrize("host_attr", ["tenant", "public"])
def test_swagger_ui_loads_its_init_script_as_a_file(acme, public_tenant, host_attr):
    from django.test import Client

    client = acme.client() if host_attr == "tenant" else Client(HTTP_HOST="localhost")
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not INLINE_SCRIPT.search(html)
    script_url = re.search(r'<script src="([^"]*\?[^"]*script=[^"]*)"', html).group(1)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert "script-src 'self';" in page["Content-Security-Policy"]
