"""Tenants, their domains and the record of how each was provisioned (public schema)."""

from __future__ import annotations

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from tenants.tiers import DEFAULT_TIER, TIER_CHOICES


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"

    class IsolationMode(models.TextChoices):
        SHARED = "shared", "Partition of the shared collection"
        DEDICATED = "dedicated", "Dedicated collection"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=40, unique=True)
    tier = models.CharField(max_length=20, choices=TIER_CHOICES, default=DEFAULT_TIER)
    isolation_mode = models.CharField(
        max_length=20, choices=IsolationMode.choices, default=IsolationMode.SHARED
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROVISIONING)
    status_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    # Set while tenants.services.isolation copies the tenant's points to the other isolation
    # mode; index jobs refuse to start meanwhile, so the copy cannot miss their writes.
    storage_moving_to = models.CharField(
        max_length=20, choices=IsolationMode.choices, blank=True, default=""
    )
    storage_move_error = models.TextField(blank=True)
    storage_moved_at = models.DateTimeField(null=True, blank=True)

    # The provisioning state machine creates the schema as one of its steps.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def is_dedicated_storage(self) -> bool:
        return self.isolation_mode == self.IsolationMode.DEDICATED

    @property
    def is_storage_moving(self) -> bool:
        return bool(self.storage_moving_to)


class Domain(DomainMixin):
    pass


class ProvisioningStep(models.Model):
    """One step of a tenant's provisioning, with its attempts and last error."""

    class Name(models.TextChoices):
        SCHEMA = "schema", "Database schema"
        SEARCH_STORAGE = "search_storage", "Search storage"
        NAMESPACE = "namespace", "Kubernetes namespace"
        ADMIN_USER = "admin_user", "Admin user and API token"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        UNDONE = "undone", "Rolled back"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=30, choices=Name.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["tenant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="unique_step_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.name}={self.status}"


class PendingAdmin(models.Model):
    """The first admin of a tenant until the admin-user step creates it in the tenant schema.

    Only the password hash and the API token digest are kept, and the row is deleted once the
    user exists.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="pending_admin")
    email = models.EmailField()
    password_hash = models.CharField(max_length=256)
    token_prefix = models.CharField(max_length=16)
    token_digest = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"pending admin of {self.tenant_id}"


class TenantManifest(models.Model):
    """The Kubernetes objects rendered for a tenant, kept for download and drift checks."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="manifest")
    namespace = models.CharField(max_length=63)
    yaml = models.TextField()
    is_applied = models.BooleanField(default=False)
    rendered_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.namespace
