"""A small kustomize subset, enough to build deploy/kubernetes without the kustomize binary.

Supported: ``resources`` (files and directories holding a kustomization), ``labels`` (pairs
added to metadata only), ``images`` (newName/newTag), ``replicas`` and JSON 6902 ``patches``
that name their target by kind and name. Anything else in a kustomization fails loudly, so a
manifest change that needs more of kustomize cannot pass the tests by being ignored.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "labels", "images", "replicas", "patches"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a feature this loader does not implement."""


def load_yaml_documents(path: Path) -> list[Manifest]:
    """Return the non-empty YAML documents of one file."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def build(directory: Path) -> list[Manifest]:
    """Return the objects the kustomization in ``directory`` produces, in resource order."""
    kustomization = load_yaml_documents(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomization(
            f"{directory / 'kustomization.yaml'} uses {sorted(unknown)}; extend "
            "tests/deploy/kustomize.py or use the supported subset."
        )

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects += build(target)
        else:
            objects += load_yaml_documents(target)

    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, directory)
    for label_set in kustomization.get("labels", []):
        _apply_labels(objects, label_set)
    for image in kustomization.get("images", []):
        _apply_image(objects, image)
    for replica in kustomization.get("replicas", []):
        _apply_replicas(objects, replica)
    return objects


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    """Return the pod spec inside a workload (or a CronJob's job template), if any."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if kind in POD_TEMPLATE_KINDS:
        return spec["template"]["spec"]
    return None


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    """Return a workload's init containers and containers."""
    spec = pod_spec(manifest)
    if spec is None:
        return []
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def _apply_labels(objects: list[Manifest], label_set: dict[str, Any]) -> None:
    if label_set.get("includeSelectors") or label_set.get("includeTemplates"):
        raise UnsupportedKustomization("labels with includeSelectors/includeTemplates")
    for manifest in objects:
        manifest.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])


def _apply_image(objects: list[Manifest], image: dict[str, str]) -> None:
    for manifest in objects:
        for container in containers(manifest):
            name, _, tag = container["image"].partition(":")
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _apply_replicas(objects: list[Manifest], replica: dict[str, Any]) -> None:
    matched = [
        m
        for m in objects
        if m["metadata"]["name"] == replica["name"]
        and m["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}
    ]
    if not matched:
        raise UnsupportedKustomization(f"replicas entry {replica['name']!r} matches nothing")
    for manifest in matched:
        manifest["spec"]["replicas"] = replica["count"]


def _apply_patch(objects: list[Manifest], patch: dict[str, Any], directory: Path) -> None:
    target = patch.get("target") or {}
    if set(target) - {"kind", "name"} or "patch" not in patch:
        raise UnsupportedKustomization(
            f"patch in {directory}: only inline JSON 6902 patches with a kind/name target"
        )
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise UnsupportedKustomization(f"patch in {directory}: strategic merge is not supported")
    matched = [
        m
        for m in objects
        if m.get("kind") == target.get("kind") and m["metadata"]["name"] == target.get("name")
    ]
    if not matched:
        raise UnsupportedKustomization(f"patch target {target} in {directory} matches nothing")
    for manifest in matched:
        for operation in operations:
            _json_patch(manifest, operation)


def _json_patch(document: Manifest, operation: dict[str, Any]) -> None:
    tokens = [
        token.replace("~1", "/").replace("~0", "~") for token in operation["path"].split("/")[1:]
    ]
    parent: Any = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    op = operation["op"]
    if op in {"replace", "remove"}:
        # Both need the location to exist, as RFC 6902 requires.
        _ = parent[int(last)] if isinstance(parent, list) else parent[last]
    if op == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif op in {"replace", "add"}:
        value = copy.deepcopy(operation["value"])
        if isinstance(parent, list):
            if op == "add":
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[int(last)] = value
        else:
            parent[last] = value
    else:
        raise UnsupportedKustomization(f"JSON patch op {op!r}")
