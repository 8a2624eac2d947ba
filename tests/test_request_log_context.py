"""Log records of a request name its tenant, including Django's own 4xx response log."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.django_db


def test_django_request_warning_for_a_404_names_the_tenant(acme, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")

    response = acme.client().get("/repositories/999999/")

    assert response.status_code == 404
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.tenant == acme.tenant.schema_name
    assert record.request_id == response["X-Request-ID"]


def test_the_next_request_does_not_inherit_the_previous_tenant(acme, globex, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")

    acme.client().get("/repositories/999999/")
    globex.client().get("/repositories/999998/")

    tenants = [r.tenant for r in caplog.records if r.name == "django.request"]
    assert tenants == [acme.tenant.schema_name, globex.tenant.schema_name]
