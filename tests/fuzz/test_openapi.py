"""Property-based requests generated from the tenant API's own OpenAPI schema (schemathesis).

Every operation of ``/api/v1/schema/`` gets a bounded number of generated requests through the
Django WSGI application, as an admin of a tenant of its own (the run deletes and re-indexes
whatever ids it guesses, so it must not share a tenant with other tests). Each answer must not be
a server error and must match the response schema the API publishes for that status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TenantFixture, _create_tenant

pytestmark = pytest.mark.django_db

MAX_EXAMPLES_PER_OPERATION = 30

SOURCE = '''"""Shipping rates for parcels."""


def parcel_rate(weight_grams, zone):
    """Return the price in cents of shipping a parcel of this weight to a zone."""
    base = 450 if zone == "domestic" else 1200
    return base + weight_grams // 100 * 35
'''


@pytest.fixture(scope="module")
def schema_tenant(
    public_tenant: object, sources_root: Path, django_db_blocker: object
) -> Iterator[TenantFixture]:
    """A tenant with one small indexed repository, so detail and job ids exist to hit."""
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    folder = sources_root / "openapi-fuzz"
    folder.mkdir()
    (folder / "rates.py").write_text(SOURCE)
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        fixture = _create_tenant("schemafuzz", tier="team")
        with tenant_context(fixture.tenant):
            repository = create_local_repository(name="rates", path=str(folder))
            start_index_job(repository=repository)
            assert IndexJob.objects.get(repository=repository).status == IndexJob.Status.SUCCEEDED
        yield fixture


@pytest.fixture
def test_connection_kept() -> Iterator[None]:
    """Keep the test's database connection open across WSGI requests.

    Django's own test client does this per request; the plain WSGI handler that schemathesis
    calls would otherwise close the connection (and the test's transaction) after each answer.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _operations(tenant: TenantFixture) -> list[object]:
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", get_wsgi_application(), headers={"Host": tenant.host}
    )
    return [result.ok() for result in schema.get_all_operations()]


def test_generated_requests_get_no_server_error_and_match_the_response_schema(
    schema_tenant: TenantFixture, test_connection_kept: None
) -> None:
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    headers = {"Host": schema_tenant.host, "Authorization": f"Bearer {schema_tenant.token}"}
    operations = _operations(schema_tenant)
    labels = {operation.label for operation in operations}
    assert {"GET /api/v1/search/", "POST /api/v1/repositories/"} <= labels, labels
    seen: set[str] = set()

    def exercise(strategy: st.SearchStrategy) -> None:
        # Requests go through the whole stack, which is far slower than Hypothesis expects of
        # a test body, so its speed health checks and deadline do not apply here.
        @settings(
            max_examples=MAX_EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call_and_check(case: object) -> None:
            response = case.call(headers=headers)  # type: ignore[attr-defined]
            seen.add(f"{case.operation.label} {response.status_code}")  # type: ignore[attr-defined]
            case.validate_response(  # type: ignore[attr-defined]
                response,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
                headers=headers,
            )

        call_and_check()

    # Deletions last, so the other operations still find the indexed repository.
    ordered = sorted(operations, key=lambda operation: operation.method.upper() == "DELETE")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in ordered:
            exercise(operation.as_strategy(generation_mode=mode))

    # Generated data must reach past validation, or the run proves little.
    assert any(label.startswith("GET /api/v1/search/ 200") for label in seen), seen
    assert any(label.startswith("GET /api/v1/repositories/ 200") for label in seen), seen
