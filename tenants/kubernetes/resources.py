"""REST paths of the kinds we render, so the API adapter needs no discovery round trip.

Only the kinds in :data:`RESOURCE_TYPES` are ever applied; a new kind is added here together
with its renderer, which keeps the path table and the output in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenants.kubernetes.exceptions import ManifestInvalid


@dataclass(frozen=True)
class ResourceType:
    """Where one apiVersion/kind lives in the API server's REST tree."""

    api_version: str
    kind: str
    plural: str
    is_namespaced: bool

    @property
    def prefix(self) -> str:
        """Return ``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""
        if "/" not in self.api_version:
            return f"/api/{self.api_version}"
        return f"/apis/{self.api_version}"


RESOURCE_TYPES: dict[tuple[str, str], ResourceType] = {
    (rt.api_version, rt.kind): rt
    for rt in (
        ResourceType("v1", "Namespace", "namespaces", is_namespaced=False),
        ResourceType("v1", "ServiceAccount", "serviceaccounts", is_namespaced=True),
        ResourceType("v1", "ResourceQuota", "resourcequotas", is_namespaced=True),
        ResourceType("v1", "LimitRange", "limitranges", is_namespaced=True),
        ResourceType("rbac.authorization.k8s.io/v1", "Role", "roles", is_namespaced=True),
        ResourceType(
            "rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", is_namespaced=True
        ),
        ResourceType(
            "networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", is_namespaced=True
        ),
        ResourceType(
            "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", is_namespaced=True
        ),
    )
}


@dataclass(frozen=True)
class ObjectRef:
    """One object's identity and REST path."""

    kind: str
    namespace: str | None
    name: str
    path: str


def object_ref(manifest: dict[str, Any]) -> ObjectRef:
    """Return the identity and REST path of ``manifest``.

    Raise :class:`ManifestInvalid` when its apiVersion/kind is not in :data:`RESOURCE_TYPES`,
    when it has no name, or when a namespaced kind has no namespace.
    """
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    resource_type = RESOURCE_TYPES.get(key)
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name")
    namespace = metadata.get("namespace")
    if resource_type is None:
        raise ManifestInvalid(
            f"apiVersion {key[0]!r} kind {key[1]!r} is not one the portal applies; add it to "
            "RESOURCE_TYPES in tenants/kubernetes/resources.py with its renderer.",
            code="manifest_unknown_kind",
        )
    if not name or (resource_type.is_namespaced and not namespace):
        raise ManifestInvalid(
            f"{key[1]} {name!r} needs metadata.name"
            + (" and metadata.namespace" if resource_type.is_namespaced else "")
            + "; set them in the renderer.",
        )

    if resource_type.is_namespaced:
        path = f"{resource_type.prefix}/namespaces/{namespace}/{resource_type.plural}/{name}"
    else:
        path = f"{resource_type.prefix}/{resource_type.plural}/{name}"
        namespace = None
    return ObjectRef(kind=resource_type.kind, namespace=namespace, name=name, path=path)
