"""The provisioning state machine: schema -> search storage -> namespace -> admin user -> ready.

Each step is idempotent, records its attempts, timestamps and last error, and has an undo. A
run resumes at the first step not done; when a run gives up, the completed steps are undone in
reverse order, so a failed tenant holds no schema, no vectors and no namespace.

New schemas are copies of a migrated template schema instead of running every tenant
migration again (about 2 s per tenant here, and growing with each migration; case C23 and
PLATFORM.md); :mod:`tenants.services.schema_template` builds the template, keeps it current
with the project's migrations and makes the copies. Running ``manage.py tenant_template``
after ``migrate_schemas`` builds it ahead of the first signup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from tenants.accounts.models import Role
from tenants.accounts.services import create_member, store_api_token
from tenants.accounts.tokens import IssuedToken
from tenants.exceptions import ProvisioningFailed
from tenants.models import PendingAdmin, ProvisioningStep, Tenant, TenantManifest
from tenants.services.schema_template import TEMPLATE_SCHEMA, create_schema_from_template

logger = logging.getLogger(__name__)

StepAction = Callable[[Tenant], dict]


def _create_schema(tenant: Tenant) -> dict:
    if schema_exists(tenant.schema_name):
        # A previous attempt created it and then failed to mark the step done.
        return {"schema": tenant.schema_name, "created": False}
    method = create_schema_from_template(tenant.schema_name)
    return {"schema": tenant.schema_name, "copied_from": TEMPLATE_SCHEMA, "method": method}


def _drop_schema(tenant: Tenant) -> None:
    with connection.cursor() as cursor:
        # Deferred foreign-key checks queued earlier in the same transaction would block the
        # drop ("pending trigger events"); run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')


def _create_search_storage(tenant: Tenant) -> dict:
    from search.vector_store import get_vector_store, storage_settings, storage_target

    target = storage_target(tenant)
    get_vector_store().ensure_tenant_storage(target, storage_settings(tenant))
    return {"dedicated": target.dedicated}


def _drop_search_storage(tenant: Tenant) -> None:
    from search import search_cache
    from search.vector_store import get_vector_store, storage_target

    get_vector_store().drop_tenant_storage(storage_target(tenant))
    search_cache.bump_index_version(tenant.schema_name)


def _provision_namespace(tenant: Tenant) -> dict:
    from tenants.services.namespaces import provision_namespace

    return provision_namespace(tenant)


def _remove_namespace(tenant: Tenant) -> None:
    from tenants.services.namespaces import remove_namespace

    remove_namespace(tenant)


def _create_admin_user(tenant: Tenant) -> dict:
    pending = PendingAdmin.objects.filter(tenant=tenant).first()
    if pending is None:
        # A previous attempt created the user and then failed to mark the step done.
        return {"admin": "already created"}
    with schema_context(tenant.schema_name):
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(username=pending.email).first()
        if user is None:
            user = create_member(
                email=pending.email, role=Role.ADMIN, password_hash=pending.password_hash
            )
        if not user.api_tokens.filter(prefix=pending.token_prefix).exists():
            store_api_token(
                user=user,
                name="signup",
                issued=IssuedToken(
                    plaintext="", prefix=pending.token_prefix, digest=pending.token_digest
                ),
            )
    pending.delete()
    return {"admin_user_id": user.pk}


def _nothing(tenant: Tenant) -> None:
    """The admin user lives in the tenant schema, which the schema step's undo drops."""


STEPS: dict[str, tuple[StepAction, Callable[[Tenant], None]]] = {
    ProvisioningStep.Name.SCHEMA: (_create_schema, _drop_schema),
    ProvisioningStep.Name.SEARCH_STORAGE: (_create_search_storage, _drop_search_storage),
    ProvisioningStep.Name.NAMESPACE: (_provision_namespace, _remove_namespace),
    ProvisioningStep.Name.ADMIN_USER: (_create_admin_user, _nothing),
}

# Tests set this to a step name to prove a failure there leaves nothing behind.
FAULT_INJECTION_SETTING = "PORTAL_PROVISIONING_FAIL_AT"


def run_provisioning(tenant_id: int) -> Tenant:
    """Run every step not yet done; raise :class:`ProvisioningFailed` naming the failed step."""
    tenant = Tenant.objects.get(pk=tenant_id)
    if tenant.status == Tenant.Status.READY:
        return tenant
    for step in tenant.steps.order_by("position"):
        if step.status == ProvisioningStep.Status.DONE:
            continue
        action, _ = STEPS[step.name]
        step.status = ProvisioningStep.Status.RUNNING
        step.attempts += 1
        step.started_at = timezone.now()
        step.save(update_fields=["status", "attempts", "started_at"])
        try:
            if getattr(settings, FAULT_INJECTION_SETTING, None) == step.name:
                raise RuntimeError(f"injected failure at step {step.name}")
            detail = action(tenant)
        except Exception as exc:
            step.status = ProvisioningStep.Status.FAILED
            step.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            step.finished_at = timezone.now()
            step.save(update_fields=["status", "last_error", "finished_at"])
            tenant.status_detail = f"Step '{step.get_name_display()}' failed: {exc}"[:2000]
            tenant.save(update_fields=["status_detail"])
            logger.warning(
                "tenants.provisioning.step_failed",
                extra={"tenant_id": tenant.pk, "step": step.name, "attempt": step.attempts},
            )
            raise ProvisioningFailed(tenant.status_detail) from exc
        step.status = ProvisioningStep.Status.DONE
        step.detail = detail or {}
        step.last_error = ""
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "detail", "last_error", "finished_at"])
        logger.info(
            "tenants.provisioning.step_done", extra={"tenant_id": tenant.pk, "step": step.name}
        )
    tenant.status = Tenant.Status.READY
    tenant.status_detail = ""
    tenant.ready_at = timezone.now()
    tenant.save(update_fields=["status", "status_detail", "ready_at"])
    logger.info("tenants.provisioning.ready", extra={"tenant_id": tenant.pk})
    return tenant


def note_provisioning_retry(
    tenant_id: int, *, attempt: int, max_attempts: int, countdown_seconds: int
) -> None:
    """Record on the tenant that a failed run will be retried, and when."""
    tenant = Tenant.objects.get(pk=tenant_id)
    detail = (
        f"{tenant.status_detail} Retrying in {countdown_seconds} s "
        f"(attempt {attempt + 1} of {max_attempts})."
    )
    Tenant.objects.filter(pk=tenant_id).update(status_detail=detail[:2000])
    logger.warning(
        "tenants.provisioning.retry_scheduled",
        extra={"tenant_id": tenant_id, "attempt": attempt, "countdown_seconds": countdown_seconds},
    )


def roll_back_provisioning(tenant_id: int) -> Tenant:
    """Undo every completed step in reverse order and mark the tenant failed.

    The tenant row stays, with the failing step and its error, so an operator can see what
    happened and retry or delete it.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    for step in tenant.steps.order_by("-position"):
        if step.status not in (
            ProvisioningStep.Status.DONE,
            ProvisioningStep.Status.FAILED,
            ProvisioningStep.Status.RUNNING,
        ):
            continue
        _, undo = STEPS[step.name]
        undo(tenant)
        if step.status != ProvisioningStep.Status.FAILED:
            step.status = ProvisioningStep.Status.UNDONE
            step.save(update_fields=["status"])
    tenant.status = Tenant.Status.FAILED
    tenant.save(update_fields=["status"])
    logger.warning("tenants.provisioning.rolled_back", extra={"tenant_id": tenant.pk})
    return tenant


def retry_provisioning(tenant_id: int) -> Tenant:
    """Reset a failed tenant's steps and queue provisioning again."""
    from tenants.tasks import provision_tenant

    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if tenant.status != Tenant.Status.FAILED:
            raise ProvisioningFailed(
                f"Tenant {tenant.slug} is {tenant.status}; only failed tenants can be retried.",
                status_code=409,
            )
        if not PendingAdmin.objects.filter(tenant=tenant).exists():
            raise ProvisioningFailed(
                f"Tenant {tenant.slug} has no pending admin left; delete it and sign up again.",
                status_code=409,
            )
        tenant.steps.update(status=ProvisioningStep.Status.PENDING, last_error="")
        tenant.status = Tenant.Status.PROVISIONING
        tenant.status_detail = ""
        tenant.save(update_fields=["status", "status_detail"])
        transaction.on_commit(lambda: provision_tenant.delay(tenant.pk))
    return tenant


def delete_tenant(tenant_id: int) -> None:
    """Remove everything a tenant owns: vectors, namespace, schema, files, cache, rows."""
    import shutil

    tenant = Tenant.objects.get(pk=tenant_id)
    tenant.status = Tenant.Status.DELETING
    tenant.save(update_fields=["status"])
    _drop_search_storage(tenant)
    _remove_namespace(tenant)
    _drop_schema(tenant)
    for folder in (settings.SEARCH["CHECKOUT_DIR"], settings.SEARCH["UPLOAD_DIR"]):
        shutil.rmtree(folder / tenant.schema_name, ignore_errors=True)
    TenantManifest.objects.filter(tenant=tenant).delete()
    # TenantMixin.delete would try to drop the schema again; delete the row directly.
    Tenant.objects.filter(pk=tenant.pk).delete()
    logger.info("tenants.tenant.deleted", extra={"tenant_id": tenant_id})
