"""Validate rendered manifests offline against the Kubernetes OpenAPI schemas.

No API server runs where manifests are rendered, so kubernetes-validate's bundled schemas are
the check. ``strict=True`` matters: it rejects unknown fields and raises when a kind/version
has no schema at all, where the command line only warns and exits 0 (so a removed
``policy/v1beta1`` PodDisruptionBudget would pass there).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import VersionNotSupportedError, all_versions, schema_contents
from referencing import Registry, Resource

from tenants.kubernetes.exceptions import KubernetesVersionUnsupported, ManifestInvalid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemovedApi:
    """An apiVersion (and kind, or every kind) that current clusters no longer serve."""

    api_version: str
    kind: str  # "*" for every kind in the group version
    removed_in: str
    replacement: str


# Kept in step with the case list in cases/files/C16/removed_apis.txt; a test compares them.
REMOVED_APIS: tuple[RemovedApi, ...] = (
    RemovedApi("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
    RemovedApi("policy/v1beta1", "PodSecurityPolicy", "1.25", "Pod Security Admission labels"),
    RemovedApi("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
    RemovedApi("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
    RemovedApi("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "autoscaling/v2"),
    RemovedApi("networking.k8s.io/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    RemovedApi("extensions/v1beta1", "*", "1.22", "the kind's apps/, networking.k8s.io/ group"),
    RemovedApi("flowcontrol.apiserver.k8s.io/v1beta2", "*", "1.29", "flowcontrol/v1"),
)


def _describe(manifest: dict[str, Any]) -> str:
    kind = manifest.get("kind", "<no kind>")
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name", "<no name>")
    namespace = metadata.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def find_removed_api(manifest: dict[str, Any]) -> RemovedApi | None:
    """Return the removed API entry ``manifest`` uses, or None when its apiVersion is served."""
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    for removed in REMOVED_APIS:
        if removed.api_version == api_version and removed.kind in ("*", kind):
            return removed
    return None


def _check_not_removed(manifest: dict[str, Any]) -> None:
    removed = find_removed_api(manifest)
    if removed is None:
        return
    raise ManifestInvalid(
        f"{_describe(manifest)} uses apiVersion {removed.api_version}, which Kubernetes "
        f"stopped serving in {removed.removed_in}; render it with {removed.replacement}.",
        code="manifest_removed_api",
        data={"kind": manifest.get("kind"), "api_version": removed.api_version},
    )


@functools.cache
def _bundled_versions() -> tuple[str, ...]:
    # all_versions() lists the package's schema folders on every call; they never change.
    return tuple(all_versions())


def _supported_versions() -> list[str]:
    return [".".join(version.split(".")[:2]) for version in _bundled_versions()]


def _schema_folder_version(kubernetes_version: str) -> str:
    """Return the bundled schema version kubernetes-validate would pick for the request.

    That is the newest bundled version not newer than the requested major.minor; the caller
    has already checked that the version is covered.
    """
    wanted = tuple(int(part) for part in kubernetes_version.removeprefix("v").split(".")[:2])
    candidates = [
        version
        for version in _bundled_versions()
        if tuple(int(part) for part in version.split(".")[:2]) <= wanted
    ]
    if not candidates:
        raise VersionNotSupportedError(version=kubernetes_version)
    return candidates[-1]


# "rbac.authorization.k8s.io/v1" is stored as "rbac-v1", "v1" as "v1".
_API_GROUP_DOMAIN = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


@functools.lru_cache(maxsize=256)
def _strict_validator(version: str, kind: str, api_version: str) -> jsonschema.Validator:
    """Return a compiled strict validator for one kind, built once per process.

    ``kubernetes_validate.validate`` re-reads and re-parses the kind's schema and the 1.4 MB
    definitions file for every document, which made validation most of the namespace step.
    The schema files and the validator class are the ones it uses, so the verdicts are the same.
    Raise ``FileNotFoundError`` when the version has no schema for the kind.
    """
    if not kind.isalnum():
        # The kind becomes part of a file name; nothing but letters and digits names a kind.
        raise FileNotFoundError(kind)
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    file_api_version = _API_GROUP_DOMAIN.sub(r"\1-", api_version)
    schema = schema_contents(f"{folder}/{kind.lower()}-{file_api_version}.json", version)
    registry: Registry = Resource.from_contents(schema) @ _definitions_registry(folder, version)
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=16)
def _definitions_registry(folder: str, version: str) -> Registry:
    definitions = schema_contents(f"{folder}/_definitions.json", version)
    return Resource.from_contents(definitions) @ Registry()


def _check_version(kubernetes_version: str) -> None:
    # Checked up front: kubernetes-validate compares versions as strings and fails with an
    # IndexError for versions older than its oldest schema set.
    major_minor = ".".join(kubernetes_version.removeprefix("v").split(".")[:2])
    supported = _supported_versions()
    if major_minor not in supported:
        raise KubernetesVersionUnsupported(
            f"Kubernetes version {kubernetes_version!r} is not covered by the offline schemas "
            f"of kubernetes-validate {kubernetes_validate.__version__}; pick a version from "
            f"{supported[0]} to {supported[-1]}.",
            field="kubernetes_version",
        )


def _check_schema(manifest: dict[str, Any], kubernetes_version: str) -> None:
    version = _schema_folder_version(kubernetes_version)
    api_version = str(manifest.get("apiVersion", ""))
    kind = str(manifest.get("kind", ""))
    try:
        try:
            validator = _strict_validator(version, kind, api_version)
        except FileNotFoundError:
            raise kubernetes_validate.SchemaNotFoundError(
                kind=kind, version=".".join(version.split(".")[:2]), api_version=api_version
            ) from None
        try:
            validator.validate(manifest)
        except jsonschema.ValidationError as caught:
            raise kubernetes_validate.ValidationError(
                caught, version=".".join(version.split(".")[:2])
            ) from caught
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path) or "<root>"
        raise ManifestInvalid(
            f"{_describe(manifest)} does not match the Kubernetes {exc.version} schema at "
            f"{path}: {exc.message}. Fix the renderer for this kind.",
            data={"kind": manifest.get("kind"), "path": path, "error": exc.message},
        ) from exc
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise ManifestInvalid(
            f"{_describe(manifest)}: Kubernetes {exc.version} has no schema for apiVersion "
            f"{exc.api_version} kind {exc.kind}; use an apiVersion that version serves.",
            code="manifest_unknown_kind",
            data={"kind": exc.kind, "api_version": exc.api_version},
        ) from exc
    except VersionNotSupportedError as exc:
        raise KubernetesVersionUnsupported(
            f"Kubernetes version {kubernetes_version!r} is not covered by the offline schemas "
            f"(kubernetes-validate {kubernetes_validate.__version__}); pick one of "
            f"{', '.join(_supported_versions())}.",
            field="kubernetes_version",
        ) from exc


def validate_manifests(
    manifests: Iterable[dict[str, Any]], *, kubernetes_version: str = "1.33"
) -> None:
    """Check every manifest against the strict schemas of ``kubernetes_version``.

    Guarantee, on return, that no manifest uses a removed apiVersion (see
    :data:`REMOVED_APIS`) and that each matches its kind's schema with no unknown fields.
    Raise :class:`ManifestInvalid` naming the first failing kind/name and the schema error,
    or :class:`KubernetesVersionUnsupported` for a version without bundled schemas.
    No side effects besides reading the bundled schema files.
    """
    _check_version(kubernetes_version)
    count = 0
    for manifest in manifests:
        _check_not_removed(manifest)
        _check_schema(manifest, kubernetes_version)
        count += 1
    logger.debug(
        "tenants.kubernetes.manifests.validated",
        extra={"manifest_count": count, "kubernetes_version": kubernetes_version},
    )
