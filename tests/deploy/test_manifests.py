"""The Kubernetes deployment in deploy/kubernetes: schema-valid and production-safe.

Every built-in object is validated offline with kubernetes-validate (strict) for the oldest and
newest Kubernetes versions we support. The VerticalPodAutoscaler is a custom resource that
kubernetes-validate has no schema for, so it is checked against a small JSON schema below.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import (
    Manifest,
    build,
    containers,
    load_yaml_documents,
    pod_spec,
)
from tests.deploy.versions import qdrant_image_is_compatible

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
BASE_DIR = KUBERNETES_DIR / "base"
PRODUCTION_DIR = KUBERNETES_DIR / "overlays" / "production"
SECRET_TEMPLATE = BASE_DIR / "secret.example.yaml"
C16_CHECK = Path("/work/shared/cases/files/C16/check.sh")

KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")
BUILDS = {"base": BASE_DIR, "production": PRODUCTION_DIR}
CUSTOM_RESOURCES = {("autoscaling.k8s.io/v1", "VerticalPodAutoscaler")}
# apiVersions no longer served (case C16 and the Kubernetes deprecation guide).
REMOVED_API_VERSIONS = {
    "policy/v1beta1",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1beta1",
    "extensions/v1beta1",
    "networking.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
}
ALLOWED_REGISTRIES = ("docker.io/", "registry.k8s.io/", "quay.io/", "ghcr.io/")
IMAGE_UID = 10001  # APP_UID in deploy/Dockerfile


def _build(name: str) -> list[Manifest]:
    return build(BUILDS[name])


def _find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def _workloads(objects: list[Manifest]) -> list[Manifest]:
    return [o for o in objects if pod_spec(o) is not None]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Evaluate a label selector (matchLabels and In/NotIn/Exists expressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _template_labels(workload: Manifest) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def _effective_min_replicas(workload: Manifest, objects: list[Manifest]) -> int:
    """The fewest replicas the workload can run with: the HPA floor if one scales it."""
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] == workload["kind"] and ref["name"] == workload["metadata"]["name"]:
            return int(hpa["spec"].get("minReplicas", 1))
    return int(workload["spec"].get("replicas", 1))


def pdb_blocks_eviction(pdb: Manifest, replicas: int) -> bool:
    """True when the budget lets no pod of a ``replicas``-pod workload be evicted (C16)."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        value = spec["maxUnavailable"]
        if isinstance(value, str):
            return int(value.rstrip("%")) * replicas // 100 < 1
        return value < 1
    value = spec.get("minAvailable", 0)
    if isinstance(value, str):
        needed = -(-int(value.rstrip("%")) * replicas // 100)  # percentages round up
        return needed >= replicas
    return value >= replicas


# ----------------------------------------------------------------------------- loading


class TestLoading:
    def test_every_manifest_file_is_listed_in_a_kustomization_or_is_the_secret_template(self):
        listed: set[Path] = set()
        for kustomization in KUBERNETES_DIR.rglob("kustomization.yaml"):
            for entry in load_yaml_documents(kustomization)[0].get("resources", []):
                listed.add((kustomization.parent / entry).resolve())
        files = {
            p.resolve() for p in KUBERNETES_DIR.rglob("*.yaml") if p.name != "kustomization.yaml"
        }

        assert files - listed == {SECRET_TEMPLATE.resolve()}

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_loader_matches_kubectl_kustomize(self, name):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl (with built-in kustomize) is not installed")
        completed = subprocess.run(
            [kubectl, "kustomize", str(BUILDS[name])],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        expected = [doc for doc in yaml.safe_load_all(completed.stdout) if doc]

        def key(manifest: Manifest) -> tuple[str, str]:
            return (manifest["kind"], manifest["metadata"]["name"])

        assert sorted(_build(name), key=key) == sorted(expected, key=key)

    def test_secret_is_not_part_of_any_build(self):
        for name in BUILDS:
            assert not [o for o in _build(name) if o["kind"] == "Secret"], name

    def test_secret_template_holds_only_placeholders_for_every_referenced_key(self):
        template = load_yaml_documents(SECRET_TEMPLATE)[0]
        referenced = set()
        for manifest in _workloads(_build("base")):
            for container in containers(manifest):
                for item in container.get("env", []):
                    ref = (item.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] == template["metadata"]["name"]
                        referenced.add(ref["key"])

        assert referenced <= set(template["stringData"])
        assert all("REPLACE-ME" in value for value in template["stringData"].values())


# ----------------------------------------------------------------------------- schemas


class TestSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_builtin_objects_validate_strictly(self, name, version):
        checked = 0
        for manifest in _build(name) + load_yaml_documents(SECRET_TEMPLATE):
            if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
                continue
            kubernetes_validate.validate(manifest, version, strict=True)
            checked += 1

        assert checked > 30

    def test_custom_resources_are_unknown_to_kubernetes_validate(self):
        # Why the VPA gets its own schema below rather than passing unchecked.
        vpa = _find(_build("base"), "VerticalPodAutoscaler", "portal-web")

        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(vpa, KUBERNETES_VERSIONS[-1], strict=True)

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_vertical_pod_autoscalers_match_the_crd_schema_and_recommend_only(self, name):
        objects = _build(name)
        vpas = [o for o in objects if o["kind"] == "VerticalPodAutoscaler"]

        assert {v["metadata"]["name"] for v in vpas} == {"portal-web", "portal-worker"}
        for vpa in vpas:
            jsonschema.validate(vpa, VPA_SCHEMA)
            assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"
            target = vpa["spec"]["targetRef"]
            workload = _find(objects, target["kind"], target["name"])
            names = {c["name"] for c in containers(workload)}
            for policy in vpa["spec"]["resourcePolicy"]["containerPolicies"]:
                assert policy["containerName"] in names

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_no_removed_api_versions(self, name):
        used = {o["apiVersion"] for o in _build(name)}

        assert not used & REMOVED_API_VERSIONS

    def test_c16_check_script_passes_on_every_build(self, tmp_path):
        if not C16_CHECK.exists():
            pytest.skip(f"{C16_CHECK} is missing (shared cases folder not mounted)")
        for name in BUILDS:
            (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(_build(name)))

        completed = subprocess.run(
            ["sh", str(C16_CHECK), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "OK: no removed apiVersions" in completed.stdout


VPA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "autoscaling.k8s.io/v1"},
        "kind": {"const": "VerticalPodAutoscaler"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
        },
        "spec": {
            "type": "object",
            "required": ["targetRef"],
            "additionalProperties": False,
            "properties": {
                "targetRef": {
                    "type": "object",
                    "required": ["apiVersion", "kind", "name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    },
                },
                "updatePolicy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "updateMode": {
                            "enum": ["Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto"]
                        },
                        "minReplicas": {"type": "integer", "minimum": 1},
                    },
                },
                "resourcePolicy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "containerPolicies": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["containerName"],
                                "additionalProperties": False,
                                "properties": {
                                    "containerName": {"type": "string"},
                                    "mode": {"enum": ["Auto", "Off"]},
                                    "controlledResources": {
                                        "type": "array",
                                        "items": {"enum": ["cpu", "memory"]},
                                    },
                                    "controlledValues": {
                                        "enum": ["RequestsAndLimits", "RequestsOnly"]
                                    },
                                    "minAllowed": {"$ref": "#/$defs/resources"},
                                    "maxAllowed": {"$ref": "#/$defs/resources"},
                                },
                            },
                        }
                    },
                },
                "recommenders": {"type": "array"},
            },
        },
    },
    "$defs": {
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpu": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?m?$"},
                "memory": {"type": "string", "pattern": r"^[0-9]+(Ki|Mi|Gi|Ti)?$"},
            },
        }
    },
}


# ----------------------------------------------------------------------------- containers


class TestContainers:
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_images_come_from_current_registries_with_a_pinned_tag(self, name):
        for workload in _workloads(_build(name)):
            for container in containers(workload):
                image = container["image"]
                assert "k8s.gcr.io" not in image, image
                assert image.startswith(ALLOWED_REGISTRIES), image
                tag = image.rpartition(":")[2]
                assert ":" in image and tag and tag != "latest", image

    def test_source_files_and_image_overrides_never_use_latest_or_k8s_gcr_io(self):
        # The builds above see images after kustomize's image override; this checks the files
        # as written, so switching the override off cannot bring back a floating tag.
        for path in KUBERNETES_DIR.rglob("*.yaml"):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith(("image:", "newTag:", "newName:")):
                    value = stripped.split(":", 1)[1].strip().strip("\"'")
                    assert "k8s.gcr.io" not in value, (path, line)
                    assert not value.endswith(":latest") and value != "latest", (path, line)
                    if stripped.startswith("image:"):
                        assert re.search(r":[\w.-]+$", value), (path, line)

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_every_container_has_cpu_and_memory_requests_and_limits(self, name):
        for workload in _workloads(_build(name)):
            for container in containers(workload):
                resources = container.get("resources") or {}
                for section in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources.get(section) or {}), (
                        workload["metadata"]["name"],
                        container["name"],
                        section,
                    )

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_every_container_is_locked_down(self, name):
        for workload in _workloads(_build(name)):
            spec = pod_spec(workload)
            pod_context = spec.get("securityContext") or {}
            for container in containers(workload):
                context = container.get("securityContext") or {}
                where = (workload["metadata"]["name"], container["name"])

                assert context.get("allowPrivilegeEscalation") is False, where
                assert context.get("readOnlyRootFilesystem") is True, where
                assert "ALL" in (context.get("capabilities") or {}).get("drop", []), where
                assert context.get("privileged") is not True, where
                run_as_non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
                assert run_as_non_root is True, where
                seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile")
                assert (seccomp or {}).get("type") == "RuntimeDefault", where

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_tmp_is_a_writable_empty_dir_in_every_container(self, name):
        for workload in _workloads(_build(name)):
            volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
            for container in containers(workload):
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                where = (workload["metadata"]["name"], container["name"])

                assert "/tmp" in mounts, where
                assert "emptyDir" in volumes[mounts["/tmp"]], where

    def test_portal_pods_run_as_the_image_user(self):
        for workload in _workloads(_build("base")):
            if workload["metadata"]["labels"].get("app.kubernetes.io/name") != "codesearch-portal":
                continue
            assert pod_spec(workload)["securityContext"]["runAsUser"] == IMAGE_UID

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_every_long_running_container_has_startup_liveness_and_readiness_probes(self, name):
        for workload in _build(name):
            if workload["kind"] not in {"Deployment", "StatefulSet"}:
                continue
            for container in pod_spec(workload)["containers"]:
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, (workload["metadata"]["name"], probe)

    def test_web_container_runs_gunicorn_on_the_port_its_probes_and_service_use(self):
        objects = _build("base")
        web = _find(objects, "Deployment", "portal-web")
        container = pod_spec(web)["containers"][0]
        service = _find(objects, "Service", "portal-web")

        assert container["command"][:2] == ["gunicorn", "portal.wsgi:application"]
        assert "--bind=0.0.0.0:8000" in container["command"]
        assert "--config=python:portal.gunicorn_conf" in container["command"]
        assert container["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        assert _selects({"matchLabels": service["spec"]["selector"]}, _template_labels(web))
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_web_probes_name_the_public_host_and_https(self, name):
        # django-tenants answers 404 for hosts it does not know (such as the pod IP the
        # kubelet uses by default); a redirect to HTTPS would be a 301 that the kubelet
        # counts as success without running the check.
        objects = _build(name)
        base_domain = _find(objects, "ConfigMap", "portal-config")["data"]["PORTAL_BASE_DOMAIN"]
        container = pod_spec(_find(objects, "Deployment", "portal-web"))["containers"][0]

        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            headers = {h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]}
            assert headers == {"Host": base_domain, "X-Forwarded-Proto": "https"}, probe

    def test_worker_names_itself_for_its_probes(self):
        container = pod_spec(_find(_build("base"), "Deployment", "portal-worker"))["containers"][0]

        assert "--hostname=worker@%h" in container["command"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert "worker@$HOSTNAME" in " ".join(container[probe]["exec"]["command"])

    def test_worker_shuts_down_warm_within_the_task_time_limit(self, settings):
        # A cold shutdown (REMAP_SIGTERM=SIGQUIT) redelivers the running index job at once,
        # while its heartbeat is fresh, so the new delivery is dropped as a duplicate and the
        # job never finishes; a warm shutdown lets it complete.
        for name in BUILDS:
            worker = _find(_build(name), "Deployment", "portal-worker")
            container = pod_spec(worker)["containers"][0]

            assert "REMAP_SIGTERM" not in {e["name"] for e in container.get("env", [])}
            grace = pod_spec(worker)["terminationGracePeriodSeconds"]
            assert grace >= settings.CELERY_TASK_TIME_LIMIT
            visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
            assert grace < visibility

    def test_migration_job_migrates_shared_then_tenant_schemas(self):
        job = _find(_build("base"), "Job", "portal-migrate")
        script = " ".join(pod_spec(job)["containers"][0]["command"])

        shared = script.index("migrate_schemas --shared")
        tenant = script.index("migrate_schemas --tenant")
        assert shared < tenant
        assert pod_spec(job)["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] >= 1


# ----------------------------------------------------------------------------- workloads


class TestWorkloads:
    def test_beat_is_a_single_replica_recreated_on_update(self):
        for name in BUILDS:
            beat = _find(_build(name), "Deployment", "portal-beat")

            assert beat["spec"]["replicas"] == 1
            assert beat["spec"]["strategy"] == {"type": "Recreate"}

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_web_and_worker_spread_over_zones_and_nodes(self, name):
        for workload_name in ("portal-web", "portal-worker"):
            workload = _find(_build(name), "Deployment", workload_name)
            constraints = pod_spec(workload)["topologySpreadConstraints"]

            keys = {c["topologyKey"] for c in constraints}
            assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
            for constraint in constraints:
                assert _selects(constraint["labelSelector"], _template_labels(workload))

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_every_pod_selector_matches_its_template(self, name):
        for workload in _workloads(_build(name)):
            if workload["kind"] == "Job":
                continue
            assert _selects(workload["spec"]["selector"], _template_labels(workload))

    def test_uploads_volume_is_shared_by_web_and_worker(self):
        objects = _build("base")
        claim = _find(objects, "PersistentVolumeClaim", "portal-checkouts")

        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        for name in ("portal-web", "portal-worker"):
            spec = pod_spec(_find(objects, "Deployment", name))
            volumes = {v["name"]: v for v in spec["volumes"]}
            mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
            checkouts = volumes[mounts["/app/var/checkouts"]]
            assert checkouts["persistentVolumeClaim"]["claimName"] == "portal-checkouts"


# ----------------------------------------------------------------------------- autoscaling


class TestAutoscaling:
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_web_hpa_scales_on_cpu_memory_and_search_requests_per_second(self, name):
        hpa = _find(_build(name), "HorizontalPodAutoscaler", "portal-web")
        metrics = hpa["spec"]["metrics"]

        resources = {m["resource"]["name"] for m in metrics if m["type"] == "Resource"}
        pods = [m["pods"] for m in metrics if m["type"] == "Pods"]
        assert resources == {"cpu", "memory"}
        assert [p["metric"]["name"] for p in pods] == ["search_requests_per_second"]
        assert pods[0]["target"]["type"] == "AverageValue"
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
        assert hpa["spec"]["minReplicas"] >= 2

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_worker_hpa_scales_on_cpu_with_a_slow_scale_down(self, name):
        hpa = _find(_build(name), "HorizontalPodAutoscaler", "portal-worker")

        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_hpa_targets_exist_and_start_at_or_above_the_floor(self, name):
        objects = _build(name)
        for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            workload = _find(objects, ref["kind"], ref["name"])

            assert hpa["spec"]["minReplicas"] <= workload["spec"]["replicas"]
            assert workload["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]

    def test_prometheus_adapter_serves_the_metric_the_hpa_reads(self):
        objects = _build("base")
        config = yaml.safe_load(
            _find(objects, "ConfigMap", "codesearch-prometheus-adapter-rules")["data"][
                "config.yaml"
            ]
        )
        hpa = _find(objects, "HorizontalPodAutoscaler", "portal-web")
        wanted = next(
            m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"
        )

        rules = [r for r in config["rules"] if r["name"]["as"] == wanted]
        assert len(rules) == 1
        rule = rules[0]
        assert rule["seriesQuery"].startswith("portal_search_requests_total{")
        assert re.fullmatch(rule["name"]["matches"], "portal_search_requests_total")
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}
        assert "rate(<<.Series>>{<<.LabelMatchers>>}[2m])" in rule["metricsQuery"]
        assert "by (<<.GroupBy>>)" in rule["metricsQuery"]


# ----------------------------------------------------------------------------- disruption


class TestDisruptionBudgets:
    @pytest.mark.parametrize(
        ("spec", "replicas", "blocks"),
        [
            ({"minAvailable": 1}, 1, True),
            ({"maxUnavailable": 0}, 3, True),
            ({"maxUnavailable": "0%"}, 3, True),
            ({"minAvailable": "100%"}, 2, True),
            ({"maxUnavailable": "50%"}, 1, True),
            ({"maxUnavailable": 1}, 1, False),
            ({"minAvailable": 1}, 2, False),
            ({"maxUnavailable": "50%"}, 2, False),
        ],
    )
    def test_blocking_rule_follows_case_c16(self, spec, replicas, blocks):
        assert pdb_blocks_eviction({"spec": spec}, replicas) is blocks

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_no_budget_blocks_a_drain_of_the_workloads_it_selects(self, name):
        objects = _build(name)
        for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
            assert pdb["apiVersion"] == "policy/v1"
            selected = [
                w
                for w in _workloads(objects)
                if w["kind"] != "Job"
                and w["metadata"]["namespace"] == pdb["metadata"]["namespace"]
                and _selects(pdb["spec"]["selector"], _template_labels(w))
            ]
            assert selected, f"PodDisruptionBudget {pdb['metadata']['name']} selects nothing"
            for workload in selected:
                replicas = _effective_min_replicas(workload, objects)
                assert not pdb_blocks_eviction(pdb, replicas), (
                    pdb["metadata"]["name"],
                    workload["metadata"]["name"],
                    replicas,
                )

    def test_multi_replica_workloads_have_a_budget_and_beat_has_none(self):
        objects = _build("base")
        budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]

        def covered(workload: Manifest) -> bool:
            return any(_selects(b["spec"]["selector"], _template_labels(workload)) for b in budgets)

        assert covered(_find(objects, "Deployment", "portal-web"))
        assert covered(_find(objects, "Deployment", "portal-worker"))
        assert covered(_find(objects, "StatefulSet", "qdrant"))
        assert not covered(_find(objects, "Deployment", "portal-beat"))


# ----------------------------------------------------------------------------- network


def _policies(objects: list[Manifest]) -> list[Manifest]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}


def _allows_egress(objects, from_labels, to_labels, port, namespace_labels=None) -> bool:
    """True when some egress rule lets pods with ``from_labels`` reach ``to_labels``:``port``."""
    for policy in _policies(objects):
        spec = policy["spec"]
        if "Egress" not in spec["policyTypes"] or not _selects(spec["podSelector"], from_labels):
            continue
        for rule in spec.get("egress", []):
            if ("TCP", port) not in _ports(rule):
                continue
            for peer in rule.get("to", []):
                pod_ok = _selects(peer.get("podSelector", {}), to_labels)
                ns_selector = peer.get("namespaceSelector")
                ns_ok = ns_selector is None or _selects(ns_selector, namespace_labels or {})
                if "podSelector" in peer and pod_ok and ns_ok:
                    return True
    return False


def _allows_ingress(objects, to_labels, from_labels, port) -> bool:
    for policy in _policies(objects):
        spec = policy["spec"]
        if "Ingress" not in spec["policyTypes"] or not _selects(spec["podSelector"], to_labels):
            continue
        for rule in spec.get("ingress", []):
            if ("TCP", port) not in _ports(rule):
                continue
            for peer in rule.get("from", []):
                if "namespaceSelector" not in peer and _selects(
                    peer.get("podSelector", {}), from_labels
                ):
                    return True
    return False


PORTAL = {"app.kubernetes.io/name": "codesearch-portal"}
QDRANT = {"app.kubernetes.io/name": "qdrant"}
POSTGRES = {"app.kubernetes.io/name": "postgresql"}
REDIS = {"app.kubernetes.io/name": "redis"}


class TestNetworkPolicies:
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_namespace_starts_from_deny_all(self, name):
        deny = [
            p
            for p in _policies(_build(name))
            if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]

        assert len(deny) == 1

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_every_pod_may_resolve_names_through_kube_dns_on_udp_and_tcp(self, name):
        # Case C17: a default-deny egress policy also blocks DNS unless this rule exists.
        found = False
        for policy in _policies(_build(name)):
            if policy["spec"]["podSelector"] != {}:
                continue
            for rule in policy["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    is_kube_dns = peer.get("namespaceSelector") == {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    } and peer.get("podSelector") == {"matchLabels": {"k8s-app": "kube-dns"}}
                    if is_kube_dns and {("UDP", 53), ("TCP", 53)} <= _ports(rule):
                        found = True

        assert found

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_web_and_workers_reach_postgres_redis_and_qdrant_and_those_accept_them(self, name):
        objects = _build(name)
        for component in ("web", "worker"):
            labels = {**PORTAL, "app.kubernetes.io/component": component}
            for backend, port in ((POSTGRES, 5432), (REDIS, 6379), (QDRANT, 6333)):
                assert _allows_egress(objects, labels, backend, port), (component, port)
                assert _allows_ingress(objects, backend, labels, port), (component, port)

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_migrations_reach_postgres_and_beat_reaches_redis(self, name):
        objects = _build(name)
        migrate = {**PORTAL, "app.kubernetes.io/component": "migrate"}
        beat = {**PORTAL, "app.kubernetes.io/component": "beat"}

        assert _allows_egress(objects, migrate, POSTGRES, 5432)
        assert _allows_ingress(objects, POSTGRES, migrate, 5432)
        assert _allows_egress(objects, beat, REDIS, 6379)
        assert not _allows_egress(objects, beat, QDRANT, 6333)

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_qdrant_peers_talk_on_the_p2p_port(self, name):
        objects = _build(name)

        assert _allows_egress(objects, QDRANT, QDRANT, 6335)
        assert _allows_ingress(objects, QDRANT, QDRANT, 6335)
        portal_web = {**PORTAL, "app.kubernetes.io/component": "web"}
        assert not _allows_ingress(objects, QDRANT, portal_web, 6335)

    def test_only_the_ingress_controller_and_monitoring_reach_web(self):
        objects = _build("base")
        web = {**PORTAL, "app.kubernetes.io/component": "web"}
        sources = []
        for policy in _policies(objects):
            spec = policy["spec"]
            if "Ingress" in spec["policyTypes"] and _selects(spec["podSelector"], web):
                for rule in spec.get("ingress", []):
                    assert _ports(rule) == {("TCP", 8000)}
                    sources += [p["namespaceSelector"]["matchLabels"] for p in rule["from"]]

        assert sorted(s["kubernetes.io/metadata.name"] for s in sources) == [
            "ingress-nginx",
            "monitoring",
        ]


# ----------------------------------------------------------------------------- qdrant


class TestQdrant:
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_statefulset_runs_three_clustered_peers(self, name):
        objects = _build(name)
        statefulset = _find(objects, "StatefulSet", "qdrant")
        container = pod_spec(statefulset)["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}

        assert statefulset["spec"]["replicas"] == 3
        assert env["QDRANT__CLUSTER__ENABLED"] == "true"
        assert env["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        assert "--bootstrap" in container["command"][-1]
        assert "--uri" in container["command"][-1]

    def test_peers_find_each_other_through_a_headless_service(self):
        objects = _build("base")
        statefulset = _find(objects, "StatefulSet", "qdrant")
        headless = _find(objects, "Service", statefulset["spec"]["serviceName"])

        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["publishNotReadyAddresses"] is True
        assert {p["port"] for p in headless["spec"]["ports"]} >= {6333, 6335}
        script = pod_spec(statefulset)["containers"][0]["command"][-1]
        assert f".{headless['metadata']['name']}." in script

    def test_each_peer_keeps_its_data_on_its_own_volume_on_its_own_node(self):
        statefulset = _find(_build("base"), "StatefulSet", "qdrant")
        container = pod_spec(statefulset)["containers"][0]
        claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        anti = pod_spec(statefulset)["affinity"]["podAntiAffinity"]
        required = anti["requiredDuringSchedulingIgnoredDuringExecution"]

        assert mounts[next(iter(claims & set(mounts)))] in {"/qdrant/storage", "/qdrant/snapshots"}
        assert {"/qdrant/storage", "/qdrant/snapshots"} <= {mounts[c] for c in claims}
        assert required[0]["topologyKey"] == "kubernetes.io/hostname"
        assert _selects(required[0]["labelSelector"], _template_labels(statefulset))

    def test_api_key_comes_from_the_secret_and_the_portal_uses_the_cluster_service(self):
        objects = _build("base")
        container = pod_spec(_find(objects, "StatefulSet", "qdrant"))["containers"][0]
        api_key = next(e for e in container["env"] if e["name"] == "QDRANT__SERVICE__API_KEY")
        service = _find(objects, "Service", "qdrant")
        config = _find(objects, "ConfigMap", "portal-config")["data"]

        assert api_key["valueFrom"]["secretKeyRef"]["key"] == "QDRANT_API_KEY"
        assert config["QDRANT_URL"] == "http://qdrant.codesearch.svc.cluster.local:6333"
        assert service["spec"].get("clusterIP") != "None"

    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_server_version_is_compatible_with_the_pinned_client(self, name):
        container = pod_spec(_find(_build(name), "StatefulSet", "qdrant"))["containers"][0]

        assert qdrant_image_is_compatible(container["image"]), container["image"]

    def test_compatibility_rule_rejects_distant_and_untagged_images(self):
        assert not qdrant_image_is_compatible("docker.io/qdrant/qdrant:v0.20.0")
        assert not qdrant_image_is_compatible("docker.io/qdrant/qdrant:v1.10.0")
        assert not qdrant_image_is_compatible("docker.io/qdrant/qdrant:dev")


# ----------------------------------------------------------------------------- ingress


class TestIngress:
    @pytest.mark.parametrize("name", sorted(BUILDS))
    def test_ingress_serves_the_base_domain_and_every_tenant_subdomain(self, name):
        objects = _build(name)
        ingress = _find(objects, "Ingress", "portal-web")
        base_domain = _find(objects, "ConfigMap", "portal-config")["data"]["PORTAL_BASE_DOMAIN"]

        hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
        assert hosts == [base_domain, f"*.{base_domain}"]
        assert set(ingress["spec"]["tls"][0]["hosts"]) == set(hosts)
        for rule in ingress["spec"]["rules"]:
            backend = rule["http"]["paths"][0]["backend"]["service"]
            service = _find(objects, "Service", backend["name"])
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}

    def test_upload_limit_at_the_ingress_matches_the_portal_default(self):
        ingress = _find(_build("base"), "Ingress", "portal-web")
        body_size = ingress["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-body-size"
        ]

        # MAX_UPLOAD_BYTES defaults to 100 MiB in portal/settings.
        assert body_size == "100m"
