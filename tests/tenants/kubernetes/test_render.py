"""Rendering a tenant's namespace bundle."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from tenants.kubernetes.exceptions import (
    InvalidKubernetesName,
    InvalidNamespaceProfile,
    UnknownTier,
)
from tenants.kubernetes.naming import namespace_name
from tenants.kubernetes.render import manifests_to_yaml, render_tenant_manifests
from tenants.kubernetes.tiers import PROFILES, TIERS


def _by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def test_render_orders_namespace_first_and_policies_after_quota_when_tier_is_team() -> None:
    kinds = [m["kind"] for m in render_tenant_manifests(slug="acme", tier="team")]

    assert kinds == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "LimitRange",
        "ResourceQuota",
        *["NetworkPolicy"] * 5,
        "PodDisruptionBudget",
    ]


@pytest.mark.parametrize("tier", TIERS)
def test_render_labels_namespace_with_tenant_tier_and_region_when_rendered(tier: str) -> None:
    namespace = render_tenant_manifests(slug="acme", tier=tier, region="eu-west")[0]

    assert namespace["metadata"]["name"] == namespace_name("acme")
    assert namespace["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "codesearch-portal",
        "codesearch.io/tenant": "acme",
        "codesearch.io/tier": tier,
        "codesearch.io/region": "eu-west",
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


def test_render_places_every_object_in_tenant_namespace_when_rendered() -> None:
    manifests = render_tenant_manifests(slug="globex", tier="enterprise")

    assert {m["metadata"].get("namespace") for m in manifests[1:]} == {"cs-globex"}


def test_render_grants_only_read_on_pods_and_configmaps_when_role_is_rendered() -> None:
    manifests = render_tenant_manifests(slug="acme", tier="team")
    (role,) = _by_kind(manifests, "Role")
    (binding,) = _by_kind(manifests, "RoleBinding")

    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]}
    ]
    assert not _by_kind(manifests, "ClusterRole") and not _by_kind(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tenant-workload", "namespace": "cs-acme"}
    ]


def test_render_copies_profile_numbers_into_quota_when_tier_is_enterprise() -> None:
    profile = PROFILES["enterprise"]
    (quota,) = _by_kind(render_tenant_manifests(slug="acme", tier="enterprise"), "ResourceQuota")

    assert quota["spec"]["hard"] == {
        "requests.cpu": profile.requests_cpu,
        "requests.memory": profile.requests_memory,
        "limits.cpu": profile.limits_cpu,
        "limits.memory": profile.limits_memory,
        "pods": str(profile.pods),
        "services": str(profile.services),
        "persistentvolumeclaims": str(profile.persistent_volume_claims),
        "requests.storage": profile.requests_storage,
    }


def test_render_denies_all_ingress_and_egress_by_default_when_rendered() -> None:
    policies = _by_kind(render_tenant_manifests(slug="acme", tier="free"), "NetworkPolicy")
    deny = policies[0]

    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_render_admits_ingress_only_from_platform_and_own_namespace_when_rendered() -> None:
    policies = _by_kind(
        render_tenant_manifests(slug="acme", tier="free", platform_namespace="cs-platform"),
        "NetworkPolicy",
    )
    ingress_peers = [
        peer
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    ]

    assert ingress_peers == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cs-platform"}}},
        {"podSelector": {}},
    ]


def test_render_omits_pdb_when_profile_has_no_budget() -> None:
    manifests = render_tenant_manifests(slug="acme", tier="free")

    assert not _by_kind(manifests, "PodDisruptionBudget")


def test_render_uses_overridden_profile_when_profile_matches_tier() -> None:
    profile = dataclasses.replace(PROFILES["team"], pods=33)
    (quota,) = _by_kind(
        render_tenant_manifests(slug="acme", tier="team", profile=profile), "ResourceQuota"
    )

    assert quota["spec"]["hard"]["pods"] == "33"


def test_render_raises_invalid_profile_when_profile_is_for_another_tier() -> None:
    with pytest.raises(InvalidNamespaceProfile):
        render_tenant_manifests(slug="acme", tier="team", profile=PROFILES["free"])


def test_render_raises_unknown_tier_when_tier_has_no_profile() -> None:
    with pytest.raises(UnknownTier):
        render_tenant_manifests(slug="acme", tier="gold")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"region": "eu west"}, "region"),
        ({"region": ""}, "region"),
        ({"platform_namespace": "Platform"}, "platform_namespace"),
    ],
)
def test_render_raises_invalid_name_when_region_or_platform_is_unusable(
    kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidKubernetesName) as excinfo:
        render_tenant_manifests(slug="acme", tier="free", **kwargs)

    assert excinfo.value.field == field


def test_manifests_to_yaml_round_trips_as_multi_document_stream_when_dumped() -> None:
    manifests = render_tenant_manifests(slug="acme", tier="team")
    text = manifests_to_yaml(manifests)

    assert text.startswith("---\napiVersion: v1\nkind: Namespace\n")
    assert list(yaml.safe_load_all(text)) == manifests
    # Quantities such as "4" must stay strings, not become YAML integers.
    assert "requests.cpu: '4'" in text
