"""Moving a tenant between shared and dedicated vector storage while it keeps searching, and
the tier quotas that come with its plan (max_vectors at indexing, usage against quotas).
"""

from __future__ import annotations

import dataclasses
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import tenant_context

from tests.conftest import SAMPLE_SOURCE

pytestmark = pytest.mark.django_db

QUERIES = ["parse command line options", "sym:make_context", '"no such option"']


def search(fixture) -> list[tuple[str, int, int]]:
    """Search through the API, bypassing the response cache, and return what was found."""
    from search import search_cache

    found = []
    for query in QUERIES:
        search_cache.bump_index_version(fixture.tenant.schema_name)
        response = fixture.api().get("/api/v1/search/", {"q": query, "limit": 5})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["cache"] == "miss"
        found += [(r["path"], r["start_line"], r["end_line"]) for r in body["results"]]
    return found


def targets(tenant):
    from search.clients.vectorstore.base import StorageTarget

    return (
        StorageTarget(tenant_key=tenant.schema_name, dedicated=False),
        StorageTarget(tenant_key=tenant.schema_name, dedicated=True),
    )


@pytest.fixture
def globex_points(globex):
    """A few points of another tenant in the shared storage, which no move may pick up."""
    from search.clients.vectorstore.base import ChunkPoint, SparseVector
    from search.vector_store import get_vector_store

    shared, _ = targets(globex.tenant)
    store = get_vector_store()
    points = [
        ChunkPoint(
            id=f"globex-{i}",
            dense=[float(i == j) for j in range(384)],
            sparse=SparseVector([i], [1.0]),
            payload={"repository_id": 999, "path": "secret.py"},
        )
        for i in range(3)
    ]
    store.upsert(shared, points)
    yield points
    store.drop_tenant_copy(shared)


def test_move_keeps_results_identical_before_during_and_after_promotion_and_demotion(
    acme_indexed, globex_points
):
    from search.vector_store import get_vector_store, storage_target
    from tenants.models import Tenant
    from tenants.services import isolation

    tenant = acme_indexed.tenant
    store = get_vector_store()
    shared, dedicated = targets(tenant)
    total = store.count(shared)
    before = search(acme_indexed)
    assert total > 0 and before
    during: dict[str, object] = {}
    real_switch = isolation._switch_isolation_mode

    def observe_then_switch(moving_tenant, *, to_dedicated):
        # Copied and verified, not yet switched: both copies exist, reads use the old one.
        row = Tenant.objects.get(pk=moving_tenant.pk)
        during["results"] = search(acme_indexed)
        during["mode"] = row.isolation_mode
        during["count"] = store.count(storage_target(row))
        during["copies"] = (store.count(shared), store.count(dedicated))
        during["new_ids"] = {p.id for p in store.scroll(dedicated, limit=10_000).points}
        real_switch(moving_tenant, to_dedicated=to_dedicated)

    with mock.patch.object(isolation, "_switch_isolation_mode", observe_then_switch):
        result = isolation.move_tenant_storage(tenant, to_dedicated=True)

    try:
        assert result.points_copied == total
        assert during["results"] == before
        assert during["mode"] == Tenant.IsolationMode.SHARED
        assert during["count"] == total
        assert during["copies"] == (total, total)
        assert not any(chunk_id.startswith("globex-") for chunk_id in during["new_ids"])
        row = Tenant.objects.get(pk=tenant.pk)
        assert row.isolation_mode == Tenant.IsolationMode.DEDICATED and not row.storage_moving_to
        assert (store.count(shared), store.count(dedicated)) == (0, total)
        assert search(acme_indexed) == before
    finally:
        isolation.move_tenant_storage(tenant, to_dedicated=False)

    assert Tenant.objects.get(pk=tenant.pk).isolation_mode == Tenant.IsolationMode.SHARED
    assert (store.count(shared), store.count(dedicated)) == (total, 0)
    assert search(acme_indexed) == before
    assert store.count(targets(globex_points and acme_indexed.tenant)[0]) == total


@pytest.mark.parametrize(
    ("stage", "reason"),
    [("copy", "injected failure after copying"), ("verify", "the copy holds")],
)
def test_move_leaves_tenant_intact_on_old_storage_when_it_fails_at(
    acme_indexed, settings, stage, reason
):
    from search.vector_store import get_vector_store
    from tenants.models import Tenant
    from tenants.services.isolation import StorageMoveFailed, move_tenant_storage

    tenant = acme_indexed.tenant
    store = get_vector_store()
    shared, dedicated = targets(tenant)
    total = store.count(shared)
    before = search(acme_indexed)
    settings.PORTAL_STORAGE_MOVE_FAIL_AT = stage

    with pytest.raises(StorageMoveFailed) as excinfo:
        move_tenant_storage(tenant, to_dedicated=True)

    assert excinfo.value.code == "storage_move_failed"
    row = Tenant.objects.get(pk=tenant.pk)
    assert row.isolation_mode == Tenant.IsolationMode.SHARED
    assert row.storage_moving_to == "" and reason in row.storage_move_error
    assert (store.count(shared), store.count(dedicated)) == (total, 0)
    settings.PORTAL_STORAGE_MOVE_FAIL_AT = None
    assert search(acme_indexed) == before


def test_index_job_is_refused_while_storage_moves_and_move_waits_for_jobs(acme_indexed):
    from search.models import IndexJob, Repository
    from search.services.indexing import StorageMoving, start_index_job
    from tenants.models import Tenant
    from tenants.services.isolation import StorageMoveRefused, move_tenant_storage

    tenant = acme_indexed.tenant
    Tenant.objects.filter(pk=tenant.pk).update(storage_moving_to="dedicated")
    with tenant_context(tenant):
        repository = Repository.objects.get(name="sample")
        with pytest.raises(StorageMoving) as excinfo:
            start_index_job(repository=repository)
        assert excinfo.value.status_code == 409
    Tenant.objects.filter(pk=tenant.pk).update(storage_moving_to="")

    with tenant_context(tenant):
        job = IndexJob.objects.create(repository=repository)
    with pytest.raises(StorageMoveRefused, match=f"index job\\(s\\) {job.pk}"):
        move_tenant_storage(tenant, to_dedicated=True)
    assert Tenant.objects.get(pk=tenant.pk).storage_moving_to == ""


def test_move_works_through_the_qdrant_client_adapter(acme_indexed, monkeypatch):
    """The qdrant-client code path (local mode standing in for a server or cluster)."""
    from qdrant_client import QdrantClient

    from search import vector_store
    from search.clients.vectorstore import QdrantServerStore
    from tenants.models import Tenant
    from tenants.services.isolation import move_tenant_storage

    tenant = acme_indexed.tenant
    shared, dedicated = targets(tenant)
    server = QdrantServerStore(QdrantClient(location=":memory:"))
    server.ensure_tenant_storage(shared, vector_store.storage_settings(tenant))
    exported = vector_store.get_vector_store().scroll(shared, limit=10_000).points
    server.upsert(shared, exported)
    monkeypatch.setattr(vector_store, "get_vector_store", lambda: server)
    try:
        move_tenant_storage(tenant, to_dedicated=True)
        assert (server.count(shared), server.count(dedicated)) == (0, len(exported))
        move_tenant_storage(tenant, to_dedicated=False)
        assert (server.count(shared), server.count(dedicated)) == (len(exported), 0)
        assert Tenant.objects.get(pk=tenant.pk).isolation_mode == Tenant.IsolationMode.SHARED
    finally:
        server.close()


def test_admin_change_tier_moves_storage_both_ways(
    acme_indexed, public_tenant, django_capture_on_commit_callbacks
):
    from search.vector_store import get_vector_store
    from tenants.models import Tenant

    tenant = acme_indexed.tenant
    store = get_vector_store()
    shared, dedicated = targets(tenant)
    total = store.count(shared)
    user = get_user_model().objects.create_superuser("ops2", "ops2@example.com", "Ops-Pass-123")
    operator = Client(HTTP_HOST="localhost")
    operator.force_login(user)

    def change(action: str) -> Tenant:
        with django_capture_on_commit_callbacks(execute=True):
            response = operator.post(
                "/admin/tenants/tenant/", {"action": action, "_selected_action": [tenant.pk]}
            )
        assert response.status_code == 302
        return Tenant.objects.get(pk=tenant.pk)

    promoted = change("change_tier_to_enterprise")
    try:
        assert (promoted.tier, promoted.isolation_mode) == ("enterprise", "dedicated")
        assert (store.count(shared), store.count(dedicated)) == (0, total)
        demoted = change("change_tier_to_team")
    finally:
        back = change("change_tier_to_free")
    assert (demoted.tier, demoted.isolation_mode) == ("team", "shared")
    assert (back.tier, back.isolation_mode) == ("free", "shared")
    assert (store.count(shared), store.count(dedicated)) == (total, 0)


# Quotas


def test_index_job_fails_naming_max_vectors_quota_when_it_would_exceed_it(
    globex, copy_tree, monkeypatch, django_capture_on_commit_callbacks
):
    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository
    from search.vector_store import get_vector_store
    from tenants import tiers

    monkeypatch.setitem(
        tiers.TIERS, "free", dataclasses.replace(tiers.TIERS["free"], max_vectors=5)
    )
    source = copy_tree(SAMPLE_SOURCE, "quota-sample")
    with tenant_context(globex.tenant):
        repository = create_local_repository(name="too-big", path=str(source))
        with django_capture_on_commit_callbacks(execute=True):
            start_index_job(repository=repository)
        job = IndexJob.objects.get(repository=repository)

    assert job.status == IndexJob.Status.FAILED
    assert "max_vectors quota of 5" in job.error
    assert "would bring the tenant to" in job.error
    assert get_vector_store().count(targets(globex.tenant)[0]) == 0


def test_usage_reports_each_quota_against_the_tier_and_only_for_own_tenant(acme_indexed, globex):
    from search.selectors import tenant_usage
    from search.vector_store import get_vector_store
    from tenants.tiers import get_tier

    tier = get_tier("free")
    with tenant_context(acme_indexed.tenant):
        usage = tenant_usage()
    with tenant_context(globex.tenant):
        other = tenant_usage()

    quotas = {quota.name: quota for quota in usage.quotas}
    assert set(quotas) == {
        "max_repositories",
        "max_indexed_files",
        "max_vectors",
        "search_requests_per_minute",
        "concurrent_index_jobs",
    }
    vectors = get_vector_store().count(targets(acme_indexed.tenant)[0])
    assert (quotas["max_vectors"].used, quotas["max_vectors"].limit) == (vectors, tier.max_vectors)
    assert quotas["max_repositories"].used >= 1
    assert quotas["search_requests_per_minute"].used is None
    assert quotas["search_requests_per_minute"].limit == tier.search_requests_per_minute
    assert usage.vectors == vectors > 0
    assert other.vectors == 0 and {q.name: q.used for q in other.quotas}["max_vectors"] == 0
