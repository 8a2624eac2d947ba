"""Offline schema validation of rendered manifests (kubernetes-validate, strict)."""

from __future__ import annotations

import copy

import pytest

from tenants.kubernetes.exceptions import KubernetesVersionUnsupported, ManifestInvalid
from tenants.kubernetes.render import render_tenant_manifests
from tenants.kubernetes.tiers import TIERS
from tenants.kubernetes.validation import validate_manifests


@pytest.mark.parametrize("kubernetes_version", ["1.30", "1.33"])
@pytest.mark.parametrize("tier", TIERS)
def test_validate_accepts_rendered_bundle_when_tier_and_version_are_supported(
    tier: str, kubernetes_version: str
) -> None:
    manifests = render_tenant_manifests(slug="acme", tier=tier)

    validate_manifests(manifests, kubernetes_version=kubernetes_version)


def test_validate_raises_manifest_invalid_naming_object_when_field_is_unknown() -> None:
    manifests = render_tenant_manifests(slug="acme", tier="team")
    broken = copy.deepcopy(manifests)
    quota = next(m for m in broken if m["kind"] == "ResourceQuota")
    quota["spec"]["hardd"] = {"pods": "1"}

    with pytest.raises(ManifestInvalid) as excinfo:
        validate_manifests(broken)

    assert excinfo.value.code == "manifest_invalid"
    assert "ResourceQuota cs-acme/tenant-quota" in excinfo.value.message
    assert "hardd" in excinfo.value.message
    assert excinfo.value.data["path"] == "spec"


def test_validate_raises_manifest_invalid_when_value_has_wrong_type() -> None:
    manifests = render_tenant_manifests(slug="acme", tier="team")
    pdb = copy.deepcopy(manifests[-1])
    pdb["spec"]["selector"] = "app=worker"

    with pytest.raises(ManifestInvalid) as excinfo:
        validate_manifests([pdb])

    assert "PodDisruptionBudget cs-acme/tenant-workload" in excinfo.value.message
    assert excinfo.value.data["path"] == "spec.selector"


def test_validate_raises_manifest_invalid_when_kind_has_no_schema() -> None:
    unknown = {"apiVersion": "codesearch.io/v1", "kind": "Widget", "metadata": {"name": "w"}}

    with pytest.raises(ManifestInvalid) as excinfo:
        validate_manifests([unknown])

    assert excinfo.value.code == "manifest_unknown_kind"


def test_validate_raises_version_unsupported_when_version_is_too_new() -> None:
    with pytest.raises(KubernetesVersionUnsupported):
        validate_manifests(
            render_tenant_manifests(slug="acme", tier="free"), kubernetes_version="9.9"
        )


@pytest.mark.parametrize("kubernetes_version", ["1.24", "1.9", "one.thirty"])
def test_validate_raises_version_unsupported_when_version_is_older_or_malformed(
    kubernetes_version: str,
) -> None:
    with pytest.raises(KubernetesVersionUnsupported) as excinfo:
        validate_manifests([], kubernetes_version=kubernetes_version)

    assert excinfo.value.code == "kubernetes_version_unsupported"
