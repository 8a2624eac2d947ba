"""Per-tenant Kubernetes namespaces: names, tier profiles, rendering and offline validation.

Nothing in this package talks to a cluster; :mod:`tenants.clients.kubernetes_api` does, and it
is the only module that imports the ``kubernetes`` client library.
"""

from tenants.kubernetes.naming import label_value, namespace_name
from tenants.kubernetes.render import manifests_to_yaml, render_tenant_manifests
from tenants.kubernetes.tiers import TIERS, NamespaceProfile, profile_for_tier
from tenants.kubernetes.validation import validate_manifests

__all__ = [
    "TIERS",
    "NamespaceProfile",
    "label_value",
    "manifests_to_yaml",
    "namespace_name",
    "profile_for_tier",
    "render_tenant_manifests",
    "validate_manifests",
]
