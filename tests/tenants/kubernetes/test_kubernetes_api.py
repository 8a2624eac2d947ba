"""The Kubernetes API adapter: server-side apply, drift, namespace deletion, client loading.

No Kubernetes API server can run on this machine (nothing in the registries provides
kube-apiserver, kind, k3s or envtest), so ``k8s_double.KubernetesApiDouble``, a small HTTP
double that follows the real server's server-side-apply rules, stands in for it. The adapter
talks to it over real HTTP through the ``kubernetes`` client's ``ApiClient``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, Configuration

from tenants.clients.kubernetes_api import KubernetesApplier, load_api_client
from tenants.kubernetes.drift import Drift
from tenants.kubernetes.exceptions import (
    KubernetesConfigInvalid,
    KubernetesConflict,
    KubernetesError,
    KubernetesUnavailable,
)
from tenants.kubernetes.render import render_tenant_manifests
from tests.tenants.kubernetes.k8s_double import KubernetesApiDouble

QUOTA_PATH = "/api/v1/namespaces/cs-acme/resourcequotas/tenant-quota"


@pytest.fixture
def double() -> Iterator[KubernetesApiDouble]:
    with KubernetesApiDouble() as server:
        yield server


def _client(host: str) -> ApiClient:
    return ApiClient(Configuration(host=host))


@pytest.fixture
def api_client(double: KubernetesApiDouble) -> Iterator[ApiClient]:
    client = _client(double.url)
    yield client
    client.close()


@pytest.fixture
def applier(api_client: ApiClient) -> KubernetesApplier:
    return KubernetesApplier(api_client)


@pytest.fixture
def manifests() -> list[dict[str, Any]]:
    return render_tenant_manifests(slug="acme", tier="team")


def _quota(manifests: list[dict[str, Any]], **hard: str) -> dict[str, Any]:
    quota = copy.deepcopy(next(m for m in manifests if m["kind"] == "ResourceQuota"))
    quota["spec"]["hard"] = hard
    return quota


def test_apply_creates_every_object_with_server_side_apply_when_namespace_is_new(
    double: KubernetesApiDouble,
    applier: KubernetesApplier,
    manifests: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="tenants.clients.kubernetes_api"):
        results = applier.apply(manifests)

    assert [(r.kind, r.name, r.is_created) for r in results] == [
        (m["kind"], m["metadata"]["name"], True) for m in manifests
    ]
    assert len(double.objects) == len(manifests)
    assert double.objects[QUOTA_PATH]["spec"]["hard"]["pods"] == "40"
    assert {r["method"] for r in double.requests} == {"PATCH"}
    assert {r["content_type"] for r in double.requests} == {"application/apply-patch+yaml"}
    assert all(
        r["query"] == {"fieldManager": ["codesearch-portal"], "force": ["false"]}
        for r in double.requests
    )
    applied = [r for r in caplog.records if r.getMessage() == "tenants.kubernetes.object.applied"]
    assert len(applied) == len(manifests)
    assert applied[0].kind == "Namespace"
    assert applied[0].is_created is True


def test_apply_changes_nothing_when_same_manifests_are_reapplied(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    first = applier.apply(manifests)
    stored = copy.deepcopy(double.objects)

    second = applier.apply(manifests)

    assert [r.is_created for r in second] == [False] * len(manifests)
    assert [r.resource_version for r in second] == [r.resource_version for r in first]
    assert double.objects == stored


def test_apply_raises_conflict_naming_other_manager_when_it_owns_a_quota_field(
    double: KubernetesApiDouble,
    api_client: ApiClient,
    applier: KubernetesApplier,
    manifests: list[dict[str, Any]],
) -> None:
    applier.apply(manifests)
    operator = KubernetesApplier(api_client, field_manager="ops-team")
    operator.apply([_quota(manifests, pods="99")], force=True)

    with pytest.raises(KubernetesConflict) as excinfo:
        applier.apply(manifests)

    error = excinfo.value
    assert error.code == "kubernetes_conflict"
    assert error.status_code == 409
    assert '"ops-team"' in error.message
    assert error.data["managers"] == ["ops-team"]
    assert error.data["fields"] == [".spec.hard.pods"]
    assert double.objects[QUOTA_PATH]["spec"]["hard"]["pods"] == "99"


def test_apply_takes_fields_back_when_forced_after_conflict(
    double: KubernetesApiDouble,
    api_client: ApiClient,
    applier: KubernetesApplier,
    manifests: list[dict[str, Any]],
) -> None:
    applier.apply(manifests)
    KubernetesApplier(api_client, field_manager="ops-team").apply(
        [_quota(manifests, pods="99")], force=True
    )

    applier.apply(manifests, force=True)

    assert double.objects[QUOTA_PATH]["spec"]["hard"]["pods"] == "40"
    assert applier.diff(manifests) == []


def test_apply_raises_conflict_naming_editor_when_field_was_edited_by_hand(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)
    double.edit(
        QUOTA_PATH,
        manager="kubectl-edit",
        mutate=lambda quota: quota["spec"]["hard"].update({"limits.cpu": "64"}),
    )

    with pytest.raises(KubernetesConflict) as excinfo:
        applier.apply(manifests)

    assert excinfo.value.data["managers"] == ["kubectl-edit"]
    assert excinfo.value.data["fields"] == [".spec.hard.limits.cpu"]


def test_apply_raises_kubernetes_error_when_namespace_does_not_exist(
    applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    with pytest.raises(KubernetesError) as excinfo:
        applier.apply(manifests[1:])

    assert excinfo.value.code == "kubernetes_error"
    assert 'namespaces "cs-acme" not found' in excinfo.value.message


def test_diff_reports_every_object_missing_when_nothing_was_applied(
    applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    drifts = applier.diff(manifests)

    assert [(d.kind, d.name, d.is_missing) for d in drifts] == [
        (m["kind"], m["metadata"]["name"], True) for m in manifests
    ]


def test_diff_reports_no_drift_when_objects_were_just_applied(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)

    # The live objects carry server-populated fields the diff must ignore.
    assert "managedFields" in double.objects[QUOTA_PATH]["metadata"]
    assert "status" in double.objects[QUOTA_PATH]
    assert applier.diff(manifests) == []


def test_diff_reports_changed_quota_when_live_object_was_edited(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)
    double.edit(
        QUOTA_PATH,
        manager="kubectl-edit",
        mutate=lambda quota: quota["spec"]["hard"].update({"pods": "99"}),
    )

    assert applier.diff(manifests) == [
        Drift(
            kind="ResourceQuota",
            namespace="cs-acme",
            name="tenant-quota",
            path="spec.hard.pods",
            desired="40",
            live="99",
        )
    ]


def test_diff_reports_no_drift_when_server_rewrites_a_quantity_in_another_unit(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)
    double.edit(
        QUOTA_PATH,
        manager="kube-apiserver",
        mutate=lambda quota: quota["spec"]["hard"].update({"requests.memory": "8192Mi"}),
    )

    assert applier.diff(manifests) == []


def test_delete_namespace_returns_true_then_false_when_called_twice(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)

    assert applier.delete_namespace("cs-acme") is True
    assert double.objects == {}
    assert applier.delete_namespace("cs-acme") is False


def test_apply_raises_unavailable_when_server_is_unreachable(
    manifests: list[dict[str, Any]],
) -> None:
    with KubernetesApiDouble() as stopped:
        url = stopped.url
    client = _client(url)
    applier = KubernetesApplier(client, connect_timeout_seconds=2, read_timeout_seconds=2)

    try:
        with pytest.raises(KubernetesUnavailable) as excinfo:
            applier.apply(manifests)
        with pytest.raises(KubernetesUnavailable):
            applier.diff(manifests)
        with pytest.raises(KubernetesUnavailable):
            applier.delete_namespace("cs-acme")
    finally:
        client.close()

    assert excinfo.value.status_code == 503
    assert excinfo.value.code == "kubernetes_unavailable"
    assert url in excinfo.value.message
    assert excinfo.value.__cause__ is not None


def test_apply_raises_unavailable_when_server_answers_503(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    double.injected_failures.append(503)

    with pytest.raises(KubernetesUnavailable):
        applier.apply(manifests)

    assert double.objects == {}


def _write_kubeconfig(path: Path, server: str) -> Path:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": server}}],
        "users": [{"name": "portal", "user": {"token": "test-token"}}],
        "contexts": [{"name": "double", "context": {"cluster": "double", "user": "portal"}}],
        "current-context": "double",
    }
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


def test_load_api_client_returns_none_when_no_cluster_is_configured() -> None:
    assert load_api_client(kubeconfig=None, in_cluster=False) is None


def test_load_api_client_reaches_cluster_with_token_when_kubeconfig_is_given(
    double: KubernetesApiDouble, manifests: list[dict[str, Any]], tmp_path: Path
) -> None:
    kubeconfig = _write_kubeconfig(tmp_path / "config", double.url)

    client = load_api_client(kubeconfig=str(kubeconfig), in_cluster=False)
    assert client is not None
    try:
        KubernetesApplier(client).apply(manifests[:1])
    finally:
        client.close()

    assert double.requests[0]["authorization"] == "Bearer test-token"


@pytest.mark.parametrize(
    ("kubeconfig", "in_cluster"),
    [("missing", False), ("config", True), (None, True)],
    ids=["missing-file", "both-set", "in-cluster-outside-a-pod"],
)
def test_load_api_client_raises_config_invalid_when_configuration_is_unusable(
    kubeconfig: str | None,
    in_cluster: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    if kubeconfig == "config":
        kubeconfig = str(_write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1"))
    elif kubeconfig is not None:
        kubeconfig = str(tmp_path / kubeconfig)

    with pytest.raises(KubernetesConfigInvalid) as excinfo:
        load_api_client(kubeconfig=kubeconfig, in_cluster=in_cluster)

    assert excinfo.value.field == "KUBECONFIG"


def test_apply_removes_field_when_manifest_stops_setting_it(
    double: KubernetesApiDouble, applier: KubernetesApplier, manifests: list[dict[str, Any]]
) -> None:
    applier.apply(manifests)
    quota = next(m for m in manifests if m["kind"] == "ResourceQuota")
    hard = {key: value for key, value in quota["spec"]["hard"].items() if key != "services"}

    applier.apply([_quota(manifests, **hard)])

    assert "services" not in double.objects[QUOTA_PATH]["spec"]["hard"]
    assert double.objects[QUOTA_PATH]["spec"]["hard"]["pods"] == "40"
