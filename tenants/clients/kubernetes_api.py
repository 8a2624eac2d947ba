"""Adapter to a live Kubernetes API server: server-side apply, drift check, namespace delete.

This is the only module that imports the ``kubernetes`` package. It talks raw REST through the
``ApiClient``'s connection pool and credentials, with the path table in
:mod:`tenants.kubernetes.resources`, so there is no discovery round trip and no generated model
classes between us and the JSON. Every library or transport error leaves this module as a
:class:`~portal.exceptions.PortalError` subclass, chained with ``from``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from tenants.kubernetes.drift import Drift, find_differences
from tenants.kubernetes.exceptions import (
    KubernetesConfigInvalid,
    KubernetesConflict,
    KubernetesError,
    KubernetesUnavailable,
)
from tenants.kubernetes.resources import ObjectRef, object_ref

logger = logging.getLogger(__name__)

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
# Statuses that mean "the server or something in front of it is struggling": retry later.
UNAVAILABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_CONFLICT_MANAGER_RE = re.compile(r'conflict with "([^"]+)"')


@dataclass(frozen=True)
class _Response:
    status: int
    body: dict[str, Any]

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one object."""

    kind: str
    namespace: str | None
    name: str
    is_created: bool
    resource_version: str | None


def _status_body(raw: bytes | str | None) -> dict[str, Any]:
    """Return the decoded JSON Status body, or an empty dict when there is none."""
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _conflicts(status: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return the field managers and the fields named in a 409 apply Status."""
    managers: list[str] = []
    fields: list[str] = []
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes:
        managers += _CONFLICT_MANAGER_RE.findall(cause.get("message", ""))
        if cause.get("field"):
            fields.append(cause["field"])
    if not managers:
        managers = _CONFLICT_MANAGER_RE.findall(status.get("message", ""))
    return sorted(set(managers)), fields


class KubernetesApplier:
    """Apply, compare and delete tenant namespace objects on one cluster.

    ``api_client`` carries the host and credentials; ``field_manager`` is the owner name the
    server records in managedFields, so it must stay stable across releases or every apply
    conflicts with our own earlier writes.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        field_manager: str = "codesearch-portal",
        connect_timeout_seconds: float = 5.0,
        read_timeout_seconds: float = 30.0,
    ) -> None:
        self._api_client = api_client
        self._field_manager = field_manager
        self._timeout = urllib3.Timeout(connect=connect_timeout_seconds, read=read_timeout_seconds)

    @property
    def host(self) -> str:
        """Return the API server URL this applier talks to."""
        return str(self._api_client.configuration.host)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> _Response:
        """Send one request with the client's credentials and TLS settings.

        Return the status and decoded body for every answer the caller must interpret;
        raise :class:`KubernetesUnavailable` for transport failures and 429/5xx.
        """
        # The ApiClient's own call_api/ApiException path calls urllib3's deprecated
        # HTTPResponse.getheaders() on every error answer (kubernetes 34.1 with urllib3 2.x),
        # so we use its connection pool and auth settings directly and read statuses ourselves.
        headers = {
            **self._api_client.default_headers,
            "Accept": "application/json",
            "Content-Type": content_type,
        }
        query_params = list(query or [])
        self._api_client.update_params_for_auth(headers, query_params, ["BearerToken"])
        url = f"{self.host.rstrip('/')}{path}"
        if query_params:
            url = f"{url}?{urlencode(query_params)}"
        try:
            response = self._api_client.rest_client.pool_manager.request(
                method,
                url,
                body=None if body is None else json.dumps(body).encode("utf-8"),
                headers=headers,
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise self._unavailable(method, path, type(exc).__name__) from exc
        if response.status in UNAVAILABLE_STATUSES:
            raise self._unavailable(method, path, f"HTTP {response.status}")
        return _Response(status=response.status, body=_status_body(response.data))

    def _unavailable(self, method: str, path: str, cause: str) -> KubernetesUnavailable:
        logger.warning(
            "tenants.kubernetes.api.unavailable",
            extra={"method": method, "path": path, "host": self.host, "cause": cause},
        )
        return KubernetesUnavailable(
            f"The Kubernetes API server at {self.host} did not answer {method} {path} "
            f"({cause}); check the cluster and the KUBECONFIG setting, then retry.",
            data={"method": method, "path": path},
        )

    def _rejected(self, ref: ObjectRef, action: str, response: _Response) -> KubernetesError:
        reason = response.body.get("message") or "no message"
        return KubernetesError(
            f"The Kubernetes API server refused to {action} {ref.kind} "
            f"{ref.namespace or ''}/{ref.name} (HTTP {response.status}): {reason}. Check the "
            "manifest and the portal's RBAC permissions on the cluster.",
            data={"kind": ref.kind, "name": ref.name, "status": response.status},
        )

    def _apply_one(self, manifest: dict[str, Any], *, force: bool) -> ApplyResult:
        ref = object_ref(manifest)
        query = [("fieldManager", self._field_manager), ("force", "true" if force else "false")]
        response = self._request(
            "PATCH", ref.path, query=query, body=manifest, content_type=APPLY_CONTENT_TYPE
        )
        if response.status == 409:
            raise self._conflict(ref, response.body)
        if response.status == 404:
            # Apply creates missing objects, so 404 means the parent namespace is missing.
            raise KubernetesError(
                f"Applying {ref.kind} {ref.namespace}/{ref.name} failed: "
                f"{response.body.get('message', 'not found')}. Apply the Namespace first.",
                data={"kind": ref.kind, "name": ref.name, "status": 404},
            )
        if not response.is_success:
            raise self._rejected(ref, "apply", response)
        return ApplyResult(
            kind=ref.kind,
            namespace=ref.namespace,
            name=ref.name,
            # The API server answers 201 when the apply created the object, 200 otherwise.
            is_created=response.status == 201,
            resource_version=(response.body.get("metadata") or {}).get("resourceVersion"),
        )

    def _conflict(self, ref: ObjectRef, status: dict[str, Any]) -> KubernetesConflict:
        managers, fields = _conflicts(status)
        logger.warning(
            "tenants.kubernetes.apply.conflict",
            extra={
                "kind": ref.kind,
                "namespace": ref.namespace,
                "object_name": ref.name,
                "managers": managers,
                "fields": fields,
            },
        )
        named = ", ".join(f'"{manager}"' for manager in managers) or "another field manager"
        return KubernetesConflict(
            f"Server-side apply of {ref.kind} {ref.namespace or ''}/{ref.name} conflicts with "
            f"field manager {named} on {', '.join(fields) or 'some fields'}. Find out why "
            "that manager changed them; re-apply with force=True only to take ownership back.",
            data={"kind": ref.kind, "name": ref.name, "managers": managers, "fields": fields},
        )

    def apply(
        self, manifests: Iterable[dict[str, Any]], *, force: bool = False
    ) -> list[ApplyResult]:
        """Server-side apply each manifest in order, creating what is missing.

        Guarantee: on return every object exists with our fields; re-applying unchanged
        manifests changes nothing (the server keeps the resourceVersion). Stop at the first
        failure and raise :class:`KubernetesConflict` (HTTP 409, naming the other field
        managers) unless ``force`` is set, :class:`KubernetesUnavailable` when the server
        cannot be reached, or :class:`KubernetesError` for other refusals.
        Side effect: writes to the cluster.
        """
        results = []
        for manifest in manifests:
            result = self._apply_one(manifest, force=force)
            results.append(result)
            logger.info(
                "tenants.kubernetes.object.applied",
                extra={
                    "kind": result.kind,
                    "namespace": result.namespace,
                    "object_name": result.name,
                    "is_created": result.is_created,
                },
            )
        return results

    def diff(self, manifests: Iterable[dict[str, Any]]) -> list[Drift]:
        """Return how the live objects differ from ``manifests``; empty when in sync.

        Report a missing object once (``is_missing``), and for existing ones each field the
        manifest sets that is absent or different live. Fields only the server sets are
        ignored. Raise :class:`KubernetesUnavailable` or :class:`KubernetesError` like
        :meth:`apply`. Read-only.
        """
        drifts: list[Drift] = []
        for manifest in manifests:
            ref = object_ref(manifest)
            response = self._request("GET", ref.path)
            if response.status == 404:
                drifts.append(
                    Drift(ref.kind, ref.namespace, ref.name, "", manifest, None, is_missing=True)
                )
                continue
            if not response.is_success:
                raise self._rejected(ref, "read", response)
            for path, desired, actual in find_differences(manifest, response.body):
                drifts.append(Drift(ref.kind, ref.namespace, ref.name, path, desired, actual))
        return drifts

    def delete_namespace(self, name: str) -> bool:
        """Delete namespace ``name`` and, through the server, everything in it.

        Return True when the server accepted the deletion, False when the namespace was
        already gone (404), so calling it twice is safe. Raise :class:`KubernetesUnavailable`
        or :class:`KubernetesError`. Side effect: deletion on the cluster (asynchronous there).
        """
        ref = object_ref({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        response = self._request("DELETE", ref.path)
        if response.status != 404 and not response.is_success:
            raise self._rejected(ref, "delete", response)
        is_deleted = response.status != 404
        logger.info(
            "tenants.kubernetes.namespace.deleted",
            extra={"namespace": name, "was_present": is_deleted},
        )
        return is_deleted


def load_api_client(*, kubeconfig: str | None, in_cluster: bool) -> ApiClient | None:
    """Return an API client for the configured cluster, or None when none is configured.

    ``in_cluster`` uses the pod's service account; ``kubeconfig`` is a kubeconfig file path
    (its current context). Setting both is ambiguous and refused. Raise
    :class:`KubernetesConfigInvalid` naming the setting when the credentials cannot be
    loaded. No network traffic happens here.
    """
    if in_cluster and kubeconfig:
        raise KubernetesConfigInvalid(
            "Both an in-cluster configuration and KUBECONFIG are set; keep only one.",
            field="KUBECONFIG",
        )
    if in_cluster:
        configuration = Configuration()
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException as exc:
            raise KubernetesConfigInvalid(
                f"In-cluster Kubernetes credentials could not be loaded ({exc}); run the "
                "portal in a pod with a service account, or set KUBECONFIG instead.",
                field="KUBECONFIG",
            ) from exc
        return ApiClient(configuration)
    if kubeconfig:
        try:
            return kube_config.new_client_from_config(config_file=kubeconfig, persist_config=False)
        except (kube_config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
            raise KubernetesConfigInvalid(
                f"The kubeconfig {kubeconfig!r} could not be loaded ({exc}); point KUBECONFIG "
                "at a readable kubeconfig with a current context.",
                field="KUBECONFIG",
            ) from exc
    return None
