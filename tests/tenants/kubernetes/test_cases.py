"""Cases C16, C17 and C18 from the shared case list, checked against rendered bundles.

C16: no removed apiVersions; PDBs use policy/v1 and never block eviction of one replica.
C17: default-deny egress still lets pods reach kube-dns on UDP and TCP 53.
C18: a pod without resources is admitted under the quota thanks to LimitRange defaults.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.utils import parse_quantity

from tenants.kubernetes.exceptions import ManifestInvalid
from tenants.kubernetes.network import PRIVATE_CIDRS
from tenants.kubernetes.render import manifests_to_yaml, render_tenant_manifests
from tenants.kubernetes.tiers import PROFILES, TIERS
from tenants.kubernetes.validation import REMOVED_APIS, find_removed_api, validate_manifests

CASES = Path("/work/shared/cases/files")
needs_cases = pytest.mark.skipif(not CASES.is_dir(), reason="shared case files are not mounted")


def _all_options_on(tier: str) -> list[dict[str, Any]]:
    """Render ``tier`` with the PDB forced on, including for one replica (C16's hard path)."""
    profile = dataclasses.replace(PROFILES[tier], has_pod_disruption_budget=True)
    return render_tenant_manifests(slug="acme", tier=tier, profile=profile)


def _removed_pairs_from_case_file() -> set[tuple[str, str]]:
    pairs = set()
    for line in (CASES / "C16" / "removed_apis.txt").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            pairs.add((fields[0], fields[1]))
    return pairs


# -- C16 ----------------------------------------------------------------------------------


@needs_cases
def test_removed_api_table_matches_case_file_when_compared() -> None:
    assert {(r.api_version, r.kind) for r in REMOVED_APIS} == _removed_pairs_from_case_file()


@needs_cases
def test_validate_rejects_removed_api_when_case_file_lists_it() -> None:
    for api_version, kind in sorted(_removed_pairs_from_case_file()):
        manifest = {
            "apiVersion": api_version,
            "kind": "Deployment" if kind == "*" else kind,
            "metadata": {"name": "old", "namespace": "cs-acme"},
        }
        with pytest.raises(ManifestInvalid) as excinfo:
            validate_manifests([manifest])
        assert excinfo.value.code == "manifest_removed_api", api_version


@pytest.mark.parametrize("tier", TIERS)
def test_bundle_has_no_removed_api_and_policy_v1_pdb_when_all_options_are_on(tier: str) -> None:
    manifests = _all_options_on(tier)
    (pdb,) = [m for m in manifests if m["kind"] == "PodDisruptionBudget"]

    assert [find_removed_api(m) for m in manifests] == [None] * len(manifests)
    assert pdb["apiVersion"] == "policy/v1"
    validate_manifests(manifests, kubernetes_version="1.30")


def test_pdb_allows_one_eviction_when_replicas_is_one() -> None:
    profile = dataclasses.replace(PROFILES["free"], has_pod_disruption_budget=True)
    assert profile.replicas == 1
    manifests = render_tenant_manifests(slug="acme", tier="free", profile=profile)
    (pdb,) = [m for m in manifests if m["kind"] == "PodDisruptionBudget"]

    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["codesearch.io/tenant"] == "acme"


def _run_check_script(directory: Path) -> subprocess.CompletedProcess[str]:
    sh = shutil.which("sh")
    assert sh is not None
    return subprocess.run(
        [sh, str(CASES / "C16" / "check.sh"), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )


@needs_cases
def test_c16_check_script_passes_when_run_on_rendered_bundles(tmp_path: Path) -> None:
    for tier in TIERS:
        (tmp_path / f"{tier}.yaml").write_text(manifests_to_yaml(_all_options_on(tier)))

    result = _run_check_script(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: no removed apiVersions" in result.stdout


@needs_cases
def test_c16_check_script_fails_when_a_removed_api_is_present(tmp_path: Path) -> None:
    # Control for the test above: the script does catch what it is meant to catch.
    bundle = _all_options_on("team")
    bundle[-1] = {**bundle[-1], "apiVersion": "policy/v1beta1"}
    (tmp_path / "team.yaml").write_text(manifests_to_yaml(bundle))

    assert _run_check_script(tmp_path).returncode == 1


# -- C17 ----------------------------------------------------------------------------------


def _egress_rules(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        for rule in m["spec"].get("egress", [])
    ]


@pytest.mark.parametrize("tier", TIERS)
def test_egress_allows_kube_dns_on_udp_and_tcp_53_when_default_deny_is_on(tier: str) -> None:
    rules = _egress_rules(render_tenant_manifests(slug="acme", tier=tier))
    kube_dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    dns_rules = [rule for rule in rules if kube_dns_peer in rule.get("to", [])]

    assert len(dns_rules) == 1
    ports = {(p["protocol"], p["port"]) for p in dns_rules[0]["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}


def test_https_egress_excludes_private_and_metadata_ranges_when_rendered() -> None:
    rules = _egress_rules(render_tenant_manifests(slug="acme", tier="team"))
    ip_rules = [rule for rule in rules if any("ipBlock" in peer for peer in rule["to"])]

    assert len(ip_rules) == 1
    (peer,) = ip_rules[0]["to"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert set(peer["ipBlock"]["except"]) == {
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
    }
    assert set(PRIVATE_CIDRS) == set(peer["ipBlock"]["except"])
    assert ip_rules[0]["ports"] == [{"protocol": "TCP", "port": 443}]


def test_egress_reaches_no_other_tenant_namespace_when_rendered() -> None:
    rules = _egress_rules(
        render_tenant_manifests(slug="acme", tier="team", platform_namespace="cs-platform")
    )
    selected_namespaces = set()
    for rule in rules:
        assert rule.get("to"), "an egress rule without 'to' allows every destination"
        for peer in rule["to"]:
            if "namespaceSelector" in peer:
                labels = peer["namespaceSelector"].get("matchLabels", {})
                # An empty selector would select every namespace, other tenants included.
                assert set(labels) == {"kubernetes.io/metadata.name"}, peer
                selected_namespaces.add(labels["kubernetes.io/metadata.name"])

    assert selected_namespaces == {"kube-system", "cs-platform"}


# -- C18 ----------------------------------------------------------------------------------


def _apply_limit_range(container: dict[str, Any], limit: dict[str, Any]) -> dict[str, Any]:
    """Fill in resources the way the LimitRanger admission plugin does for one container."""
    resources = container.get("resources") or {}
    limits = {**limit["default"], **resources.get("limits", {})}
    # A missing request defaults to defaultRequest, or to the (possibly defaulted) limit.
    requests = {**limit.get("defaultRequest", limits), **resources.get("requests", {})}
    return {"requests": requests, "limits": limits}


def _pod_totals(effective: list[dict[str, Any]], init: list[dict[str, Any]], kind: str) -> dict:
    """Return what quota charges a pod: max(sum of containers, largest init container)."""
    totals = {}
    for resource in ("cpu", "memory"):
        running = sum(parse_quantity(c[kind][resource]) for c in effective)
        largest_init = max((parse_quantity(c[kind][resource]) for c in init), default=Decimal(0))
        totals[resource] = max(running, largest_init)
    return totals


@needs_cases
@pytest.mark.parametrize("tier", TIERS)
def test_pod_without_resources_fits_quota_when_limit_range_defaults_apply(tier: str) -> None:
    manifests = render_tenant_manifests(slug="acme", tier=tier)
    (quota,) = [m for m in manifests if m["kind"] == "ResourceQuota"]
    (limit_range,) = [m for m in manifests if m["kind"] == "LimitRange"]
    (limit,) = [item for item in limit_range["spec"]["limits"] if item["type"] == "Container"]
    pod = yaml.safe_load((CASES / "C18" / "no-resources-pod.yaml").read_text())

    assert {"cpu", "memory"} <= set(limit["default"])
    assert {"cpu", "memory"} <= set(limit["defaultRequest"])
    containers = [_apply_limit_range(c, limit) for c in pod["spec"]["containers"]]
    inits = [_apply_limit_range(c, limit) for c in pod["spec"]["initContainers"]]
    for container in containers + inits:
        # Quota admission rejects a container missing any of these four (the C18 failure).
        assert set(container["requests"]) >= {"cpu", "memory"}
        assert set(container["limits"]) >= {"cpu", "memory"}
        for resource in ("cpu", "memory"):
            request = parse_quantity(container["requests"][resource])
            ceiling = parse_quantity(container["limits"][resource])
            assert request <= ceiling <= parse_quantity(limit["max"][resource])

    hard = quota["spec"]["hard"]
    for kind in ("requests", "limits"):
        for resource, amount in _pod_totals(containers, inits, kind).items():
            assert amount <= parse_quantity(hard[f"{kind}.{resource}"]), (kind, resource)
    assert int(hard["pods"]) >= 1


@pytest.mark.parametrize("tier", TIERS)
def test_limit_range_has_cpu_and_memory_defaults_when_quota_is_rendered(tier: str) -> None:
    manifests = render_tenant_manifests(slug="acme", tier=tier)
    kinds = [m["kind"] for m in manifests]
    assert "ResourceQuota" in kinds
    (limit_range,) = [m for m in manifests if m["kind"] == "LimitRange"]

    (limit,) = limit_range["spec"]["limits"]
    assert limit["type"] == "Container"
    assert set(limit["default"]) == set(limit["defaultRequest"]) == {"cpu", "memory"}
    # Applied before the quota so no pod ever meets the quota without defaults.
    assert kinds.index("LimitRange") < kinds.index("ResourceQuota")
