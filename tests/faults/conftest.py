"""Fixtures for the fault tests: a tenant of their own, dead sockets and a live portal."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TenantFixture, _create_tenant
from tests.live_portal import LivePortal, live_portal_in

SOURCE = '''"""Retry helpers for flaky network calls."""


def retry_with_backoff(call, attempts=5, base_delay_seconds=0.5):
    """Call until it succeeds, doubling the pause after every failure."""
    delay = base_delay_seconds
    for attempt in range(attempts):
        try:
            return call()
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            delay *= 2
    return None
'''


@pytest.fixture(scope="session")
def fault_tenant(
    public_tenant: object, sources_root: Path, django_db_blocker: object
) -> TenantFixture:
    """A tenant with one tiny indexed repository, shared by the fault tests only.

    On the team plan, so the repositories these tests add never meet the free plan's limit.
    """
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    folder = sources_root / "faults-retry"
    folder.mkdir()
    (folder / "retry.py").write_text(SOURCE)
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        fixture = _create_tenant("faultco", tier="team")
        with tenant_context(fixture.tenant):
            repository = create_local_repository(name="retry", path=str(folder))
            start_index_job(repository=repository)
            job = IndexJob.objects.get(repository=repository)
            assert job.status == IndexJob.Status.SUCCEEDED, job.error
    return fixture


@pytest.fixture
def dead_socket() -> Iterator[Path]:
    """A unix socket file nobody listens on (what a crashed server leaves behind).

    In its own short folder: unix socket paths are limited to ~100 bytes.
    """
    folder = Path(tempfile.mkdtemp(prefix="dead-"))
    path = folder / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as orphan:
        orphan.bind(str(path))
    yield path
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    """A whole portal (supervisor, gunicorn, Celery, vector-store owner) in its own folder.

    Like the browser tests' portal but without needing Chromium; ``var_dir`` is where its
    embedded PostgreSQL and Redis keep their data, so a test can stop and start them.
    """
    with live_portal_in(tmp_path_factory.mktemp("fault-portal"), rate_limits=False) as portal:
        yield portal
