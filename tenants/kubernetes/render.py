"""Render the Kubernetes objects that make up one tenant's namespace.

Objects are built as plain dicts (no YAML templating, so no quoting or indentation bugs) and
returned in apply order: the Namespace first, then what lives in it. The result is what both
the offline validator and the server-side-apply client consume.
"""

from __future__ import annotations

from typing import Any

import yaml

from tenants.kubernetes.exceptions import InvalidKubernetesName, InvalidNamespaceProfile
from tenants.kubernetes.naming import (
    DNS1123_LABEL_RE,
    LABEL_VALUE_RE,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PART_OF_LABEL,
    PART_OF_VALUE,
    REGION_LABEL,
    TENANT_LABEL,
    TIER_LABEL,
    label_value,
    namespace_name,
)
from tenants.kubernetes.network import render_network_policies
from tenants.kubernetes.tiers import NamespaceProfile, profile_for_tier

Manifest = dict[str, Any]
# libyaml's dumper when PyYAML was built with it (about 10x faster); same safe subset.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

WORKLOAD_NAME = "tenant-workload"
# Read-only access to what a tenant workload needs to discover its peers and configuration;
# no secrets, no writes, nothing cluster-scoped.
WORKLOAD_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]},
]
# "baseline" admits ordinary images (busybox, our workers) while blocking privileged pods;
# "restricted" is reported as warnings and audit entries so tightening can be planned.
POD_SECURITY_LABELS: dict[str, str] = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def workload_selector(slug: str) -> dict[str, str]:
    """Return the labels every workload of the tenant carries and the PDB selects on."""
    return {PART_OF_LABEL: PART_OF_VALUE, TENANT_LABEL: label_value(slug)}


def _check_label(value: str, *, field: str) -> None:
    if not value or len(value) > 63 or not LABEL_VALUE_RE.match(value):
        raise InvalidKubernetesName(
            f"{field}={value!r} is not a valid Kubernetes label value: use at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit.",
            field=field,
        )


def _check_namespace(value: str, *, field: str) -> None:
    if len(value) > 63 or not DNS1123_LABEL_RE.match(value):
        raise InvalidKubernetesName(
            f"{field}={value!r} is not a valid namespace name: use at most 63 lowercase "
            "letters, digits or '-', starting and ending with a letter or digit.",
            field=field,
        )


def _metadata(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


def _namespace(name: str, labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**labels, **POD_SECURITY_LABELS}},
    }


def _rbac(namespace: str, labels: dict[str, str]) -> list[Manifest]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _metadata(WORKLOAD_NAME, namespace, labels),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(WORKLOAD_NAME, namespace, labels),
            "rules": [dict(rule) for rule in WORKLOAD_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(WORKLOAD_NAME, namespace, labels),
            "subjects": [{"kind": "ServiceAccount", "name": WORKLOAD_NAME, "namespace": namespace}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": WORKLOAD_NAME,
            },
        },
    ]


def _limit_range(namespace: str, labels: dict[str, str], profile: NamespaceProfile) -> Manifest:
    # Without defaults, a quota on requests/limits rejects every container that omits them,
    # init containers included (case C18).
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata("tenant-container-defaults", namespace, labels),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {
                        "cpu": profile.container_default_cpu,
                        "memory": profile.container_default_memory,
                    },
                    "defaultRequest": {
                        "cpu": profile.container_default_request_cpu,
                        "memory": profile.container_default_request_memory,
                    },
                    "max": {
                        "cpu": profile.container_max_cpu,
                        "memory": profile.container_max_memory,
                    },
                }
            ]
        },
    }


def _resource_quota(namespace: str, labels: dict[str, str], profile: NamespaceProfile) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata("tenant-quota", namespace, labels),
        "spec": {
            "hard": {
                "requests.cpu": profile.requests_cpu,
                "requests.memory": profile.requests_memory,
                "limits.cpu": profile.limits_cpu,
                "limits.memory": profile.limits_memory,
                "pods": str(profile.pods),
                "services": str(profile.services),
                "persistentvolumeclaims": str(profile.persistent_volume_claims),
                "requests.storage": profile.requests_storage,
            }
        },
    }


def _disruption_budget(namespace: str, labels: dict[str, str], slug: str) -> Manifest:
    # policy/v1 only: policy/v1beta1 is not served from Kubernetes 1.25 (case C16).
    # maxUnavailable 1 rather than minAvailable: with a single replica minAvailable 1 (or
    # maxUnavailable 0) makes the pod un-evictable and node drains hang; with more replicas it
    # still lets a drain proceed one pod at a time, whatever the autoscaler has done.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(WORKLOAD_NAME, namespace, labels),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": workload_selector(slug)},
        },
    }


def render_tenant_manifests(
    *,
    slug: str,
    tier: str,
    region: str = "local",
    platform_namespace: str = "codesearch-platform",
    profile: NamespaceProfile | None = None,
) -> list[Manifest]:
    """Return the tenant's namespace objects in apply order.

    Order: Namespace, ServiceAccount, Role, RoleBinding, LimitRange, ResourceQuota, the
    NetworkPolicies (default deny first) and, when the profile asks for one, a policy/v1
    PodDisruptionBudget. The LimitRange precedes the quota so there is no moment in which the
    quota exists without container defaults. ``profile`` overrides the tier's stock profile
    (for a negotiated quota); its ``tier`` must equal ``tier``.

    Raise :class:`UnknownTier` for an unknown tier, :class:`InvalidKubernetesName` for a
    slug, region or platform namespace that cannot be used in names or labels, and
    :class:`InvalidNamespaceProfile` when ``profile`` belongs to another tier. Pure: no I/O.
    """
    if profile is None:
        profile = profile_for_tier(tier)
    elif profile.tier != tier:
        raise InvalidNamespaceProfile(
            f"The profile passed for tier {tier!r} belongs to tier {profile.tier!r}; pass a "
            "profile whose tier matches, or omit it to use the tier's stock profile.",
            field="profile",
        )
    _check_label(region, field="region")
    _check_namespace(platform_namespace, field="platform_namespace")

    namespace = namespace_name(slug)
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        TENANT_LABEL: label_value(slug),
        TIER_LABEL: tier,
        REGION_LABEL: region,
    }

    manifests: list[Manifest] = [_namespace(namespace, labels)]
    manifests += _rbac(namespace, labels)
    manifests.append(_limit_range(namespace, labels, profile))
    manifests.append(_resource_quota(namespace, labels, profile))
    manifests += render_network_policies(
        namespace=namespace, platform_namespace=platform_namespace, labels=labels
    )
    if profile.has_pod_disruption_budget:
        manifests.append(_disruption_budget(namespace, labels, slug))
    return manifests


def manifests_to_yaml(manifests: list[Manifest]) -> str:
    """Return the manifests as one multi-document YAML stream for ``kubectl apply -f``.

    Keys keep their insertion order (apiVersion, kind, metadata, spec) so the output reads
    like a hand-written manifest; strings that look like numbers stay quoted.
    """
    return yaml.dump_all(
        manifests,
        Dumper=_DUMPER,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
    )
