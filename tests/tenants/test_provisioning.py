"""The provisioning state machine: retries resume at the failed step, operators can retry and
delete, deletion leaves nothing behind, and tenant schemas are real copies of a migrated
template (case C23; test_schema_template.py compares them with migrated schemas). Rollback
after a failure at each step is covered in test_signup.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, tenant_context

from tests.tenants.kubernetes.k8s_double import KubernetesApiDouble
from tests.tenants.test_manifest_command import write_kubeconfig

pytestmark = pytest.mark.django_db

STEPS = ["schema", "search_storage", "namespace", "admin_user"]


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def sign_up(slug: str, *, tier: str = "free"):
    from tenants.models import Tenant
    from tenants.services.signup import sign_up as do_sign_up

    result = do_sign_up(
        name=slug, slug=slug, admin_email=f"a@{slug}.example", password="Long-Pass-123", tier=tier
    )
    return Tenant.objects.get(pk=result.tenant.pk)


@pytest.mark.parametrize("step", STEPS)
def test_retry_completes_to_ready_when_fault_is_removed_after_failure_at_step(
    public_tenant, settings, django_capture_on_commit_callbacks, step
):
    from search.clients.vectorstore.base import StorageTarget
    from search.vector_store import get_vector_store
    from tenants.models import ProvisioningStep, Tenant, TenantManifest
    from tenants.services.provisioning import retry_provisioning
    from tenants.tasks import MAX_ATTEMPTS

    settings.PORTAL_PROVISIONING_FAIL_AT = step
    slug = f"retry-{step.replace('_', '-')}"
    with django_capture_on_commit_callbacks(execute=True):
        tenant = sign_up(slug)
    tenant.refresh_from_db()

    assert tenant.status == Tenant.Status.FAILED
    steps = {s.name: s for s in tenant.steps.all()}
    failed = steps[step]
    # Celery retried the failed step; the steps before it ran once and were skipped after.
    assert failed.status == ProvisioningStep.Status.FAILED
    assert failed.attempts == MAX_ATTEMPTS
    assert failed.started_at is not None and failed.finished_at is not None
    assert "injected failure" in failed.last_error
    for earlier in STEPS[: STEPS.index(step)]:
        assert steps[earlier].attempts == 1
        assert steps[earlier].status == ProvisioningStep.Status.UNDONE
    assert not schema_exists(tenant.schema_name)
    assert not TenantManifest.objects.filter(tenant=tenant).exists()
    for dedicated in (False, True):
        target = StorageTarget(tenant_key=tenant.schema_name, dedicated=dedicated)
        assert get_vector_store().count(target) == 0

    settings.PORTAL_PROVISIONING_FAIL_AT = None
    with django_capture_on_commit_callbacks(execute=True):
        retry_provisioning(tenant.pk)
    tenant.refresh_from_db()

    assert tenant.status == Tenant.Status.READY, tenant.status_detail
    assert set(tenant.steps.values_list("status", flat=True)) == {ProvisioningStep.Status.DONE}
    assert tenant.steps.get(name=step).attempts == MAX_ATTEMPTS + 1
    assert TenantManifest.objects.filter(tenant=tenant).exists()
    with schema_context(tenant.schema_name):
        assert get_user_model().objects.filter(username=f"a@{slug}.example").exists()


def test_run_provisioning_skips_done_steps_when_resumed_after_a_failure(public_tenant, settings):
    from tenants.exceptions import ProvisioningFailed
    from tenants.models import Tenant
    from tenants.services.provisioning import roll_back_provisioning, run_provisioning

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.PORTAL_PROVISIONING_FAIL_AT = "namespace"
    tenant = Tenant.objects.get(pk=_queued_tenant("resume-me").pk)
    with pytest.raises(ProvisioningFailed, match="Kubernetes namespace"):
        run_provisioning(tenant.pk)
    first_schema_run = tenant.steps.get(name="schema").finished_at

    settings.PORTAL_PROVISIONING_FAIL_AT = None
    run_provisioning(tenant.pk)

    schema_step = tenant.steps.get(name="schema")
    assert schema_step.attempts == 1 and schema_step.finished_at == first_schema_run
    assert tenant.steps.get(name="namespace").attempts == 2
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.READY
    roll_back_provisioning(tenant.pk)
    assert not schema_exists(tenant.schema_name)


def _queued_tenant(slug: str):
    """Sign up without running the queued provisioning task."""
    from unittest import mock

    with mock.patch("tenants.services.signup._queue_provisioning"):
        return sign_up(slug)


@pytest.fixture
def operator(public_tenant) -> Client:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "Ops-Pass-123")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def test_admin_lists_failing_step_and_retry_action_provisions_tenant(
    operator, settings, django_capture_on_commit_callbacks
):
    from tenants.models import Tenant

    settings.PORTAL_PROVISIONING_FAIL_AT = "search_storage"
    with django_capture_on_commit_callbacks(execute=True):
        tenant = sign_up("admin-retry")

    listing = operator.get("/admin/tenants/tenant/")
    assert listing.status_code == 200
    assert "Search storage (attempt 3): RuntimeError: injected failure" in listing.content.decode()

    settings.PORTAL_PROVISIONING_FAIL_AT = None
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            "/admin/tenants/tenant/",
            {"action": "retry", "_selected_action": [tenant.pk]},
        )
    assert response.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.READY
    listing = operator.get("/admin/tenants/tenant/").content.decode()
    assert "0 / 50000" in listing  # vectors against the free tier's quota


def test_delete_tenant_removes_schema_points_manifest_files_cache_and_namespace(
    public_tenant, settings, tmp_path: Path, django_capture_on_commit_callbacks
):
    from search import search_cache
    from search.clients.vectorstore.base import ChunkPoint, SparseVector, StorageTarget
    from search.vector_store import get_vector_store, storage_settings
    from tenants.models import Tenant, TenantManifest
    from tenants.services.provisioning import delete_tenant

    with KubernetesApiDouble() as cluster:
        settings.KUBECONFIG = str(write_kubeconfig(tmp_path, cluster.url))
        with django_capture_on_commit_callbacks(execute=True):
            tenant = sign_up("doomed")
        assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.READY
        assert "/api/v1/namespaces/cs-doomed" in cluster.objects
        store = get_vector_store()
        point = ChunkPoint(
            id="c1", dense=[1.0] + [0.0] * 383, sparse=SparseVector([1], [1.0]),
            payload={"repository_id": 1},
        )  # fmt: skip
        targets = [StorageTarget(tenant_key="doomed", dedicated=d) for d in (False, True)]
        for target in targets:  # a copy in each place, as a crashed storage move leaves
            store.ensure_tenant_storage(target, storage_settings(tenant))
            store.upsert(target, [point])
        checkout = settings.SEARCH["CHECKOUT_DIR"] / "doomed"
        checkout.mkdir(parents=True)
        (checkout / "file.py").write_text("x = 1\n")
        version = search_cache.index_version("doomed")

        delete_tenant(tenant.pk)

        assert not Tenant.objects.filter(pk=tenant.pk).exists()
        assert not schema_exists("doomed")
        assert [store.count(target) for target in targets] == [0, 0]
        assert not TenantManifest.objects.filter(tenant_id=tenant.pk).exists()
        assert not checkout.exists()
        assert search_cache.index_version("doomed") > version
        assert not any("cs-doomed" in path for path in cluster.objects)


def test_tenant_schema_is_a_migrated_clone_and_tests_really_run_in_it(acme):
    from search.models import Repository
    from tenants.services.schema_template import (
        TEMPLATE_SCHEMA,
        _project_migrations,
        _recorded_migrations,
    )

    assert _recorded_migrations(acme.tenant.schema_name) == _project_migrations()
    with tenant_context(acme.tenant):
        assert connection.schema_name == acme.tenant.schema_name != "public"
        Repository.objects.create(name="only-in-acme", source="local", root_path="/nowhere")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schemas(false)")
            assert cursor.fetchone()[0][0] == acme.tenant.schema_name
    with schema_context(TEMPLATE_SCHEMA):
        assert not Repository.objects.filter(name="only-in-acme").exists()


def test_template_schema_is_rebuilt_when_its_migrations_are_behind(acme):
    from tenants.services.schema_template import (
        TEMPLATE_SCHEMA,
        _project_migrations,
        _recorded_migrations,
        create_schema_from_template,
        ensure_template_schema,
        is_template_schema_current,
    )

    assert is_template_schema_current()
    with connection.cursor() as cursor:
        cursor.execute(
            # The schema name is a constant of the provisioning module.
            f'DELETE FROM "{TEMPLATE_SCHEMA}".django_migrations WHERE app = %s',  # noqa: S608
            ["search"],
        )
    assert not is_template_schema_current()

    assert ensure_template_schema() is True
    assert is_template_schema_current()
    assert ensure_template_schema() is False
    # The rebuilt template exists only in this test's open transaction, where pg_dump (another
    # connection) cannot see it, so the copy falls back to running the migrations.
    assert create_schema_from_template("after_rebuild") == "migrated"
    assert _recorded_migrations("after_rebuild") == _project_migrations()
