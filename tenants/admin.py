"""Operator admin (public schema): tenants with their status, provisioning steps and usage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tenants.postgresql_backend.base import _check_schema_name

from portal.exceptions import PortalError
from tenants.models import Domain, ProvisioningStep, Tenant, TenantManifest
from tenants.services.isolation import change_tier
from tenants.services.provisioning import delete_tenant, retry_provisioning
from tenants.tiers import TIERS, get_tier

logger = logging.getLogger(__name__)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class StepInline(admin.TabularInline):
    model = ProvisioningStep
    extra = 0
    can_delete = False
    readonly_fields = ["name", "status", "attempts", "started_at", "finished_at", "last_error"]
    fields = readonly_fields


def _change_tier_action(tier_name: str) -> Callable[..., None]:
    tier = get_tier(tier_name)

    def action(model_admin: TenantAdmin, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            try:
                change_tier(tenant, tier=tier.name)
            except PortalError as exc:
                model_admin.message_user(request, f"{tenant.slug}: {exc.message}", messages.ERROR)
            else:
                model_admin.message_user(
                    request,
                    f"{tenant.slug}: tier set to {tier.label}; namespace and storage follow "
                    "in the background.",
                )

    action.__name__ = f"change_tier_to_{tier.name}"
    return admin.action(description=f"Change tier to {tier.label}")(action)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "tier",
        "isolation_mode",
        "status",
        "failing_step",
        "repositories",
        "vectors",
        "created_at",
        "ready_at",
    ]
    list_filter = ["status", "tier", "isolation_mode"]
    search_fields = ["slug", "name"]
    readonly_fields = [
        "schema_name",
        "tier",
        "isolation_mode",
        "status",
        "status_detail",
        "storage_moving_to",
        "storage_move_error",
        "storage_moved_at",
        "created_at",
        "ready_at",
    ]
    inlines = [DomainInline, StepInline]
    actions = [
        "retry",
        "delete_everything",
        "apply_tier_storage",
        *(_change_tier_action(tier_name) for tier_name in TIERS),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return super().get_queryset(request).exclude(schema_name="public")

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Deleting only the row would orphan the schema, vectors and namespace.
        return False

    @admin.display(description="Failing step")
    def failing_step(self, tenant: Tenant) -> str:
        # Shown for failed tenants and for provisioning ones that are retrying after an error.
        step = tenant.steps.filter(status=ProvisioningStep.Status.FAILED).first()
        if step is None:
            return tenant.storage_move_error[:120] if tenant.storage_move_error else ""
        return f"{step.get_name_display()} (attempt {step.attempts}): {step.last_error[:120]}"

    @admin.display(description="Repositories")
    def repositories(self, tenant: Tenant) -> int | str:
        if tenant.status != Tenant.Status.READY:
            return "-"
        # One count on the tenant's own table; cheap next to rendering the row.
        try:
            _check_schema_name(tenant.schema_name)
            with connection.cursor() as cursor:
                cursor.execute(
                    # The schema name was checked as a plain identifier just above.
                    f'SELECT count(*) FROM "{tenant.schema_name}".search_repository'  # noqa: S608
                )
                return int(cursor.fetchone()[0])
        except DatabaseError:
            logger.warning("tenants.admin.repository_count_failed", extra={"tenant_id": tenant.pk})
            return "?"

    @admin.display(description="Vectors / quota")
    def vectors(self, tenant: Tenant) -> str:
        from search.vector_store import get_vector_store, storage_target

        if tenant.status != Tenant.Status.READY:
            return "-"
        try:
            count = get_vector_store().count(storage_target(tenant))
        except PortalError:
            logger.warning("tenants.admin.vector_count_failed", extra={"tenant_id": tenant.pk})
            return "?"
        return f"{count} / {get_tier(tenant.tier).max_vectors}"

    @admin.action(description="Retry provisioning of failed tenants")
    def retry(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            try:
                retry_provisioning(tenant.pk)
            except PortalError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Delete tenants with their schema, vectors and namespace")
    def delete_everything(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        tenant_ids = list(queryset.values_list("pk", flat=True))
        for tenant_id in tenant_ids:
            delete_tenant(tenant_id)
        self.message_user(request, f"Deleted {len(tenant_ids)} tenant(s).")

    @admin.action(description="Apply tier: move storage to the tier's isolation mode")
    def apply_tier_storage(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        from tenants.tasks import apply_tenant_tier

        for tenant in queryset:
            try:
                apply_tenant_tier.delay(tenant.pk)
            except PortalError as exc:
                self.message_user(request, f"{tenant.slug}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{tenant.slug}: storage move queued.")


@admin.register(TenantManifest)
class TenantManifestAdmin(admin.ModelAdmin):
    list_display = ["tenant", "namespace", "is_applied", "rendered_at"]
    readonly_fields = ["tenant", "namespace", "yaml", "is_applied", "rendered_at"]
