"""The tenant's Kubernetes namespace: render, validate, store, and apply when a cluster is
configured. Without a cluster the rendered bundle is kept for download (``kubectl apply -f``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from tenants.kubernetes.naming import namespace_name
from tenants.kubernetes.render import manifests_to_yaml, render_tenant_manifests
from tenants.kubernetes.validation import validate_manifests
from tenants.models import Tenant, TenantManifest

if TYPE_CHECKING:
    from tenants.clients.kubernetes_api import KubernetesApplier

logger = logging.getLogger(__name__)


def render_for(tenant: Tenant) -> list[dict[str, Any]]:
    manifests = render_tenant_manifests(
        slug=tenant.slug,
        tier=tenant.tier,
        region=settings.PORTAL_REGION,
        platform_namespace=settings.KUBERNETES_PLATFORM_NAMESPACE,
    )
    validate_manifests(manifests)
    return manifests


def cluster_applier() -> KubernetesApplier | None:
    """Return an applier for the configured cluster, or None when none is configured."""
    if not settings.KUBECONFIG and not settings.KUBERNETES_IN_CLUSTER:
        # Without a cluster the kubernetes package (over 1 s to import) is never loaded.
        return None
    from tenants.clients.kubernetes_api import KubernetesApplier, load_api_client

    api_client = load_api_client(
        kubeconfig=settings.KUBECONFIG, in_cluster=settings.KUBERNETES_IN_CLUSTER
    )
    return None if api_client is None else KubernetesApplier(api_client)


def provision_namespace(tenant: Tenant) -> dict[str, Any]:
    """Render and validate the bundle, store it, and apply it if a cluster is configured."""
    manifests = render_for(tenant)
    applier = cluster_applier()
    if applier is not None:
        applier.apply(manifests)
    TenantManifest.objects.update_or_create(
        tenant=tenant,
        defaults={
            "namespace": namespace_name(tenant.slug),
            "yaml": manifests_to_yaml(manifests),
            "is_applied": applier is not None,
        },
    )
    logger.info(
        "tenants.namespace.provisioned",
        extra={"tenant_id": tenant.pk, "applied": applier is not None, "objects": len(manifests)},
    )
    return {"namespace": namespace_name(tenant.slug), "applied": applier is not None}


def remove_namespace(tenant: Tenant) -> None:
    manifest = TenantManifest.objects.filter(tenant=tenant).first()
    if manifest is not None and manifest.is_applied:
        applier = cluster_applier()
        if applier is not None:
            applier.delete_namespace(manifest.namespace)
    TenantManifest.objects.filter(tenant=tenant).delete()
