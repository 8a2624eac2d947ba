"""A small, faithful HTTP double of the Kubernetes API server for the adapter tests.

No Kubernetes API server can run on this machine (no kube-apiserver, kind, k3s or envtest is
obtainable), so this double stands in. It implements just the behaviour the adapter relies
on, the way the real server does it:

* objects stored per REST path for the kinds the portal renders;
* server-side apply (``PATCH`` with ``application/apply-patch+yaml`` and ``fieldManager``):
  201 on create, 200 on update, resourceVersion unchanged by a no-op apply, field ownership
  per manager at leaf-field granularity (lists are atomic), fields a manager stops applying are
  removed, and a 409 ``Status`` naming the other manager when a different manager applies a
  different value to a field it owns, unless ``force=true``;
* ``GET`` and ``DELETE`` with 404 ``Status`` bodies; deleting a namespace removes its objects
  (immediately, where the real server finalises asynchronously);
* namespaced objects cannot be created in a missing namespace (404), and the body's
  apiVersion, kind and name must match the URL (400).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

FieldPath = tuple[str, ...]

# (URL prefix, plural) -> (apiVersion, kind, namespaced); written independently of the
# adapter's own table so a wrong path there shows up as a 404 here.
KINDS: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("/api/v1", "namespaces"): ("v1", "Namespace", False),
    ("/api/v1", "serviceaccounts"): ("v1", "ServiceAccount", True),
    ("/api/v1", "resourcequotas"): ("v1", "ResourceQuota", True),
    ("/api/v1", "limitranges"): ("v1", "LimitRange", True),
    ("/apis/rbac.authorization.k8s.io/v1", "roles"): ("rbac.authorization.k8s.io/v1", "Role", True),
    ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"): (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        True,
    ),
    ("/apis/networking.k8s.io/v1", "networkpolicies"): (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        True,
    ),
    ("/apis/policy/v1", "poddisruptionbudgets"): ("policy/v1", "PodDisruptionBudget", True),
}
_PATH_RE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)/(?P<name>[^/]+)$"
)
# Identity fields are not owned by any manager in managedFields.
_IDENTITY: frozenset[FieldPath] = frozenset(
    {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
)


class DoubleError(Exception):
    """An API error the handler turns into a ``Status`` response."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details or {},
            "code": code,
        }
        self.code = code


def leaf_paths(obj: dict[str, Any], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Yield the path of every leaf field: scalars, lists and empty maps."""
    for key, value in obj.items():
        path = (*prefix, key)
        if path in _IDENTITY or path[:2] == ("metadata", "managedFields"):
            continue
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


_MISSING = object()


def value_at(obj: dict[str, Any], path: FieldPath) -> Any:
    """Return the value at ``path``, or a sentinel when any step is missing."""
    current: Any = obj
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return _MISSING
        current = current[key]
    return current


def set_at(obj: dict[str, Any], path: FieldPath, value: Any) -> None:
    """Set ``path`` to a copy of ``value``, creating intermediate maps."""
    current = obj
    for key in path[:-1]:
        current = current.setdefault(key, {})
    current[path[-1]] = copy.deepcopy(value)


def remove_at(obj: dict[str, Any], path: FieldPath) -> None:
    """Remove ``path`` and any map it leaves empty (identity maps excepted)."""
    parents = []
    current: Any = obj
    for key in path[:-1]:
        if not isinstance(current, dict) or key not in current:
            return
        parents.append((current, key))
        current = current[key]
    current.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key] or key == "metadata":
            break
        del parent[key]


def _fields_v1(paths: set[FieldPath]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def _overlaps(a: FieldPath, b: FieldPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


class KubernetesApiDouble:
    """The in-memory API server; use as a context manager to serve it on 127.0.0.1."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        # path -> manager -> (operation, owned leaf paths)
        self.managers: dict[str, dict[str, tuple[str, set[FieldPath]]]] = {}
        self.requests: list[dict[str, Any]] = []
        # HTTP statuses to answer the next requests with, as an overloaded server would.
        self.injected_failures: list[int] = []
        self._lock = threading.Lock()
        self._versions = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> KubernetesApiDouble:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is None or self._thread is None:
            raise RuntimeError("the double was never started")
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """Return the base URL clients should use."""
        if self._server is None:
            raise RuntimeError("start the double with `with KubernetesApiDouble() as double:`")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- direct access for tests -----------------------------------------------------------

    def edit(self, path: str, *, manager: str, mutate: Callable[[dict[str, Any]], None]) -> None:
        """Change a stored object as an ``Update`` by ``manager`` would (e.g. kubectl edit).

        Changed fields move to ``manager``, as the real server does for non-apply writes.
        """
        with self._lock:
            before = self.objects[path]
            after = copy.deepcopy(before)
            mutate(after)
            changed = {
                p
                for p in set(leaf_paths(after)) | set(leaf_paths(before))
                if value_at(after, p) != value_at(before, p)
            }
            owners = self.managers[path]
            for name, (operation, owned) in list(owners.items()):
                owners[name] = (operation, {p for p in owned if not _touches(p, changed)})
            _, owned = owners.get(manager, ("Update", set()))
            owners[manager] = (
                "Update",
                owned | {p for p in changed if value_at(after, p) is not _MISSING},
            )
            self._store(path, after, bump=True)

    # -- request handling ------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[str, str, bool, str | None, str, str]:
        match = _PATH_RE.match(path)
        if match is None:
            raise DoubleError(404, "NotFound", "the server could not find the requested resource")
        key = (match["prefix"], match["plural"])
        if key not in KINDS:
            raise DoubleError(404, "NotFound", "the server could not find the requested resource")
        api_version, kind, namespaced = KINDS[key]
        if namespaced != (match["namespace"] is not None):
            raise DoubleError(404, "NotFound", "the server could not find the requested resource")
        group = api_version.rpartition("/")[0]
        resource = f"{match['plural']}.{group}" if group else match["plural"]
        return api_version, kind, namespaced, match["namespace"], match["name"], resource

    def _not_found(self, resource: str, name: str) -> DoubleError:
        plural = resource.split(".")[0]
        return DoubleError(
            404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": plural}
        )

    def _store(self, path: str, obj: dict[str, Any], *, bump: bool) -> None:
        if bump:
            obj["metadata"]["resourceVersion"] = str(next(self._versions))
        obj["metadata"]["managedFields"] = [
            {
                "manager": name,
                "operation": operation,
                "apiVersion": obj["apiVersion"],
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1(owned),
            }
            for name, (operation, owned) in sorted(self.managers[path].items())
            if owned
        ]
        self.objects[path] = obj

    def get(self, path: str) -> dict[str, Any]:
        with self._lock:
            *_, name, resource = self._resolve(path)
            if path not in self.objects:
                raise self._not_found(resource, name)
            return copy.deepcopy(self.objects[path])

    def delete(self, path: str) -> dict[str, Any]:
        with self._lock:
            _, kind, _, _, name, resource = self._resolve(path)
            if path not in self.objects:
                raise self._not_found(resource, name)
            removed = self.objects.pop(path)
            self.managers.pop(path, None)
            if kind == "Namespace":
                inside = f"/namespaces/{name}/"
                for other in [p for p in self.objects if inside in p]:
                    del self.objects[other]
                    self.managers.pop(other, None)
                removed.setdefault("status", {})["phase"] = "Terminating"
            return removed

    def apply(
        self, path: str, body_text: str, *, content_type: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        if content_type != "application/apply-patch+yaml":
            raise DoubleError(415, "UnsupportedMediaType", f"unsupported media type {content_type}")
        manager = (query.get("fieldManager") or [""])[0]
        if not manager:
            raise DoubleError(400, "BadRequest", "fieldManager is required for apply patch")
        force = (query.get("force") or ["false"])[0] == "true"
        try:
            body = yaml.safe_load(body_text)
        except yaml.YAMLError as exc:
            raise DoubleError(400, "BadRequest", f"error decoding YAML: {exc}") from exc
        if not isinstance(body, dict):
            raise DoubleError(400, "BadRequest", "the body must be an object")

        with self._lock:
            api_version, kind, namespaced, namespace, name, _ = self._resolve(path)
            self._check_identity(body, api_version, kind, namespace, name)
            if namespaced and f"/api/v1/namespaces/{namespace}" not in self.objects:
                raise self._not_found("namespaces", str(namespace))
            applied = set(leaf_paths(body))
            if path not in self.objects:
                return 201, self._create(path, body, kind, namespace, manager, applied)
            return 200, self._update(path, body, manager, applied, force=force)

    def _check_identity(
        self,
        body: dict[str, Any],
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
    ) -> None:
        metadata = body.get("metadata") or {}
        if body.get("apiVersion") != api_version or body.get("kind") != kind:
            raise DoubleError(
                400,
                "BadRequest",
                f"the body's {body.get('apiVersion')}/{body.get('kind')} does not match "
                f"{api_version}/{kind} in the URL",
            )
        if metadata.get("name") != name:
            raise DoubleError(400, "BadRequest", "the name of the object does not match the URL")
        if metadata.get("namespace") not in (None, namespace):
            raise DoubleError(
                400, "BadRequest", "the namespace of the object does not match the URL"
            )

    def _create(
        self,
        path: str,
        body: dict[str, Any],
        kind: str,
        namespace: str | None,
        manager: str,
        applied: set[FieldPath],
    ) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        if namespace is not None:
            metadata["namespace"] = namespace
        uid_number = len(self.objects) + 1
        metadata["uid"] = f"00000000-0000-4000-8000-{uid_number:012d}"
        metadata["creationTimestamp"] = "2026-01-01T00:00:00Z"
        # Server-populated fields, as on a real cluster, so clients must tolerate them.
        if kind == "Namespace":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        if kind == "ResourceQuota":
            hard = copy.deepcopy(obj.get("spec", {}).get("hard", {}))
            obj["status"] = {"hard": hard, "used": dict.fromkeys(hard, "0")}
        self.managers[path] = {manager: ("Apply", applied)}
        self._store(path, obj, bump=True)
        return copy.deepcopy(obj)

    def _update(
        self,
        path: str,
        body: dict[str, Any],
        manager: str,
        applied: set[FieldPath],
        *,
        force: bool,
    ) -> dict[str, Any]:
        live = self.objects[path]
        owners = self.managers[path]
        # dict.fromkeys: one cause per owned field even when several applied fields touch it.
        conflicts = list(
            dict.fromkeys(
                (other, owned_path)
                for other, (_, owned) in sorted(owners.items())
                if other != manager
                for owned_path in sorted(owned)
                for applied_path in applied
                if _overlaps(owned_path, applied_path)
                and value_at(body, applied_path) != value_at(live, applied_path)
            )
        )
        if conflicts and not force:
            raise _conflict_error(conflicts, live["apiVersion"])

        merged = copy.deepcopy(live)
        _, previously = owners.get(manager, ("Apply", set()))
        still_owned = set().union(*(o for n, (_, o) in owners.items() if n != manager))
        for dropped in previously - applied:
            if not any(_overlaps(dropped, p) for p in still_owned):
                remove_at(merged, dropped)
        for applied_path in applied:
            set_at(merged, applied_path, value_at(body, applied_path))
        if force:
            taken = {owned_path for _, owned_path in conflicts}
            for other, (operation, owned) in list(owners.items()):
                if other != manager:
                    owners[other] = (operation, owned - taken)
        owners[manager] = ("Apply", applied)

        changed = _strip_volatile(merged) != _strip_volatile(live)
        self._store(path, merged, bump=changed)
        return copy.deepcopy(merged)


def _touches(path: FieldPath, changed: set[FieldPath]) -> bool:
    return any(_overlaps(path, other) for other in changed)


def _strip_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(obj)
    for key in ("managedFields", "resourceVersion"):
        stripped["metadata"].pop(key, None)
    return stripped


def _conflict_error(conflicts: list[tuple[str, FieldPath]], api_version: str) -> DoubleError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{other}" using {api_version}',
            "field": "." + ".".join(path),
        }
        for other, path in conflicts
    ]
    summary = "\n".join(f"{cause['message']}: {cause['field']}" for cause in causes)
    plural = "conflict" if len(causes) == 1 else "conflicts"
    return DoubleError(
        409,
        "Conflict",
        f"Apply failed with {len(causes)} {plural}: {summary}",
        {"causes": causes},
    )


def _handler_for(double: KubernetesApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean; requests are recorded in ``double.requests``."""

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            body_text = self.rfile.read(length).decode("utf-8") if length else ""
            content_type = self.headers.get("Content-Type", "")
            double.requests.append(
                {
                    "method": method,
                    "path": url.path,
                    "query": query,
                    "content_type": content_type,
                    "authorization": self.headers.get("Authorization"),
                }
            )
            try:
                if double.injected_failures:
                    code = double.injected_failures.pop(0)
                    raise DoubleError(code, "ServiceUnavailable", "injected failure")
                if method == "GET":
                    self._reply(200, double.get(url.path))
                elif method == "DELETE":
                    self._reply(200, double.delete(url.path))
                elif method == "PATCH":
                    code, obj = double.apply(
                        url.path, body_text, content_type=content_type, query=query
                    )
                    self._reply(code, obj)
                else:
                    raise DoubleError(405, "MethodNotAllowed", f"{method} is not supported")
            except DoubleError as exc:
                self._reply(exc.code, exc.body)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

    return Handler
