from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_tenant_schema_describes_search_and_repositories(acme):
    from django.test import Client

    response = Client(HTTP_HOST=acme.host).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/search/", "/api/v1/repositories/", "/api/v1/jobs/{job_id}/"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = Client(HTTP_HOST=acme.host).get("/api/v1/docs/")
    assert docs.status_code == 200


def test_public_schema_describes_signup(public_tenant):
    from django.test import Client

    schema = Client(HTTP_HOST="localhost").get("/api/v1/schema/?format=json").json()
    assert "/api/v1/signup/" in schema["paths"]
    assert "/api/v1/search/" not in schema["paths"]


def test_health_and_ready_answer(acme):
    from django.test import Client

    client = Client(HTTP_HOST=acme.host)
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "vector_store": "ok"}


def test_docs_page_loads_its_assets_locally(acme):
    from django.test import Client

    page = Client(HTTP_HOST=acme.host).get("/api/v1/docs/").content.decode()
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page


def test_probes_answer_for_any_host_even_an_ip_address():
    from django.test import Client

    for host in ("10.1.2.3", "unknown.example"):
        client = Client(HTTP_HOST=host)
        assert client.get("/health").status_code == 200
        assert client.get("/ready").json()["checks"]["database"] == "ok"
