"""Compare a desired manifest with the live object the API server returns.

Only fields the desired manifest sets are compared. Everything the server adds (uid,
resourceVersion, managedFields, creationTimestamp, status, defaulted fields) is therefore
ignored without a list of names to maintain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenants.kubernetes.quantity import parse_quantity


@dataclass(frozen=True)
class Drift:
    """One difference between what we apply and what the cluster holds.

    ``is_missing`` marks an object that does not exist at all (then ``path`` is empty and
    ``live`` is None); otherwise ``path`` points at the differing field, e.g.
    ``spec.hard["requests.cpu"]``.
    """

    kind: str
    namespace: str | None
    name: str
    path: str
    desired: Any
    live: Any
    is_missing: bool = False


def _join(path: str, key: str) -> str:
    if "." in key or "/" in key:
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key


def _as_quantity(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    # The API server rewrites quantities in canonical form ("1024Mi" comes back as "1Gi").
    desired_quantity = _as_quantity(desired)
    return desired_quantity is not None and desired_quantity == _as_quantity(live)


def find_differences(desired: Any, live: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Return ``(path, desired, live)`` for every field set in ``desired`` that ``live`` lacks
    or holds with another value. Lists are compared item by item and must have equal length.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [(path, desired, live)]
        differences: list[tuple[str, Any, Any]] = []
        for key, value in desired.items():
            differences += find_differences(value, live.get(key), _join(path, key))
        return differences
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [(path, desired, live)]
        differences = []
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            differences += find_differences(want, have, f"{path}[{index}]")
        return differences
    return [] if _same_scalar(desired, live) else [(path, desired, live)]
