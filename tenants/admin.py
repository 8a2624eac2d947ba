"""Operator admin (public schema): tenants with their status and provisioning steps."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.exceptions import PortalError
from tenants.models import Domain, ProvisioningStep, Tenant, TenantManifest
from tenants.services.provisioning import delete_tenant, retry_provisioning


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class StepInline(admin.TabularInline):
    model = ProvisioningStep
    extra = 0
    can_delete = False
    readonly_fields = ["name", "status", "attempts", "started_at", "finished_at", "last_error"]
    fields = readonly_fields


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "tier", "isolation_mode", "status", "created_at", "ready_at"]
    list_filter = ["status", "tier", "isolation_mode"]
    search_fields = ["slug", "name"]
    readonly_fields = ["schema_name", "status", "status_detail", "created_at", "ready_at"]
    inlines = [DomainInline, StepInline]
    actions = ["retry", "delete_everything"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return super().get_queryset(request).exclude(schema_name="public")

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Deleting only the row would orphan the schema, vectors and namespace.
        return False

    @admin.action(description="Retry provisioning of failed tenants")
    def retry(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            try:
                retry_provisioning(tenant.pk)
            except PortalError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Delete tenants with their schema, vectors and namespace")
    def delete_everything(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            delete_tenant(tenant.pk)
        self.message_user(request, f"Deleted {queryset.count()} tenant(s).")


@admin.register(TenantManifest)
class TenantManifestAdmin(admin.ModelAdmin):
    list_display = ["tenant", "namespace", "is_applied", "rendered_at"]
    readonly_fields = ["tenant", "namespace", "yaml", "is_applied", "rendered_at"]
