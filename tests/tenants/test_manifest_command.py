"""`manage.py tenant_manifests <slug> [--diff] [--apply]` against the Kubernetes API double."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from tests.tenants.kubernetes.k8s_double import KubernetesApiDouble

pytestmark = pytest.mark.django_db


def write_kubeconfig(folder: Path, server: str) -> Path:
    """Write a kubeconfig whose current context points at ``server``."""
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "double", "cluster": {"server": server}}],
                "users": [{"name": "portal", "user": {"token": "test-token"}}],
                "contexts": [
                    {"name": "double", "context": {"cluster": "double", "user": "portal"}}
                ],
                "current-context": "double",
            }
        )
    )
    return path


@pytest.fixture
def cluster(settings, tmp_path: Path) -> Iterator[KubernetesApiDouble]:
    with KubernetesApiDouble() as double:
        settings.KUBECONFIG = str(write_kubeconfig(tmp_path, double.url))
        yield double


def run(*args: str) -> str:
    out = StringIO()
    call_command("tenant_manifests", *args, stdout=out)
    return out.getvalue()


def test_command_prints_validated_bundle_as_yaml_ready_for_kubectl(acme):
    documents = [doc for doc in yaml.safe_load_all(run("acme")) if doc]

    kinds = {doc["kind"] for doc in documents}
    assert {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy"} <= kinds
    assert all(
        doc["metadata"].get("namespace", doc["metadata"]["name"]) == "cs-acme" for doc in documents
    )


def test_command_raises_naming_slug_when_tenant_is_unknown(public_tenant):
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        run("nobody")


def test_diff_says_no_cluster_is_configured_when_none_is(acme, settings):
    settings.KUBECONFIG = None
    settings.KUBERNETES_IN_CLUSTER = False

    with pytest.raises(CommandError, match="No Kubernetes cluster is configured"):
        run("acme", "--diff")


def test_diff_reports_missing_then_nothing_then_edited_field_when_cluster_changes(acme, cluster):
    before = run("acme", "--diff")
    assert "missing  Namespace cs-acme" in before

    applied = run("acme", "--apply")
    assert f"to {cluster.url}" in applied
    assert "/api/v1/namespaces/cs-acme" in cluster.objects
    assert "No drift" in run("acme", "--diff")

    quota_path = "/api/v1/namespaces/cs-acme/resourcequotas/tenant-quota"
    cluster.edit(
        quota_path,
        manager="kubectl-edit",
        mutate=lambda obj: obj["spec"]["hard"].update({"pods": "999"}),
    )
    drift = run("acme", "--diff")
    assert "changed  ResourceQuota cs-acme/tenant-quota" in drift
    assert "live '999'" in drift
