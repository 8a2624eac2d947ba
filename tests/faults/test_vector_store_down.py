"""Vector store down: probes and the API say so with 503, and index jobs recover on retry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_down(settings: object, dead_socket: Path) -> Iterator[Callable[[], None]]:
    """Make this process's vector store a client of an owner that is not running.

    The embedded engine is closed (its data stays on disk) and the cached store is replaced by a
    forwarding client on a dead socket, exactly what web processes see when the owner crashed.
    Yield a function that brings the store back: the embedded engine is reopened.
    """
    from search import search_cache
    from search.clients.vectorstore import EdgeVectorStore, RemoteVectorStore
    from search.vector_store import get_vector_store, reset_vector_store

    conf: Any = settings
    original = (conf.VECTOR_STORE_REMOTE_ONLY, conf.VECTOR_STORE_SOCKET)
    reset_vector_store()
    conf.VECTOR_STORE_REMOTE_ONLY = True
    conf.VECTOR_STORE_SOCKET = dead_socket
    assert isinstance(get_vector_store(), RemoteVectorStore)
    search_cache.clear_local()

    def bring_back() -> None:
        reset_vector_store()
        conf.VECTOR_STORE_REMOTE_ONLY, conf.VECTOR_STORE_SOCKET = original
        assert isinstance(get_vector_store(), EdgeVectorStore)

    yield bring_back
    # Closing whichever store is cached lets the next user reopen the embedded engine.
    reset_vector_store()
    search_cache.clear_local()


def test_ready_answers_503_naming_the_vector_store_when_it_is_down(fault_tenant, store_down):
    from django.test import Client

    response = Client(HTTP_HOST=fault_tenant.host).get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["vector_store"].startswith("unavailable:")
    assert "run_vector_store" in body["checks"]["vector_store"]


def test_search_api_and_page_answer_503_with_a_clear_message_when_the_store_is_down(
    fault_tenant, store_down
):
    response = fault_tenant.api().get("/api/v1/search/", {"q": "give up after five attempts"})

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "vector_store_owner_not_running"
    assert "run_vector_store" in body["detail"] and "QDRANT_URL" in body["detail"]

    page = fault_tenant.client().get("/", {"q": "give up after five attempts"})
    assert page.status_code == 503
    assert "run_vector_store" in page.content.decode()


def test_index_job_fails_cleanly_then_succeeds_on_retry_without_duplicates(
    fault_tenant, store_down, sources_root, django_capture_on_commit_callbacks
):
    from search.models import IndexedFile, IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository
    from search.vector_store import get_vector_store, storage_target

    folder = sources_root / "faults-store-down"
    folder.mkdir()
    (folder / "queue.py").write_text(
        "def drain_queue(queue):\n    while queue:\n        yield queue.pop(0)\n\n\n"
        "def queue_depth(queue):\n    return len(queue)\n"
    )
    (folder / "notes.md").write_text("# Queue\n\nDrain it before shutting down.\n")
    with tenant_context(fault_tenant.tenant):
        repository = create_local_repository(name="queue", path=str(folder))
        with django_capture_on_commit_callbacks(execute=True):
            failed = start_index_job(repository=repository)
        failed.refresh_from_db()

        assert failed.status == IndexJob.Status.FAILED
        assert "run_vector_store" in failed.error
        assert failed.finished_at is not None
        assert not IndexedFile.objects.filter(repository=repository).exists()

        store_down()
        with django_capture_on_commit_callbacks(execute=True):
            retried = fault_tenant.api().post(f"/api/v1/repositories/{repository.pk}/index/")
        assert retried.status_code == 202, retried.content
        job = IndexJob.objects.get(pk=retried.json()["id"])
        assert job.status == IndexJob.Status.SUCCEEDED, job.error

        target = storage_target(fault_tenant.tenant)
        store = get_vector_store()
        chunk_total = sum(
            IndexedFile.objects.filter(repository=repository).values_list("chunk_count", flat=True)
        )
        assert chunk_total > 0
        assert store.count(target, repository_id=repository.pk) == chunk_total
        hits = fault_tenant.api().get("/api/v1/search/", {"q": "repo:queue drain the queue"})
        assert hits.status_code == 200
        paths = [hit["path"] for hit in hits.json()["results"]]
        assert "queue.py" in paths
        # Deterministic point ids: the same chunk never comes back twice.
        spans = [
            (h["path"], h["start_line"], h["end_line"], h["symbol"]) for h in hits.json()["results"]
        ]
        assert len(spans) == len(set(spans))
