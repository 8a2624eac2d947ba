"""Options of the capacity app: defaults here, overrides in ``settings.CAPACITY``.

Unknown keys in ``settings.CAPACITY`` raise ``ImproperlyConfigured`` so a typo cannot silently
leave a default in force.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # Redis key prefix of the per-minute counters; one prefix per deployment sharing a Redis.
    "KEY_PREFIX": "capacity",
    # Unflushed minute hashes expire after this long, so a stopped beat cannot fill Redis.
    "PENDING_TTL_SECONDS": 24 * 3600,
    # After Redis fails, recording is skipped for this long instead of paying a connect
    # timeout on every search.
    "REDIS_BACKOFF_SECONDS": 30.0,
    # A process samples its own CPU and memory at most this often.
    "PROCESS_SAMPLE_SECONDS": 5.0,
    # Rows older than these are deleted by the flush task.
    "MINUTE_RETENTION_HOURS": 48,
    "HOUR_RETENTION_DAYS": 90,
    "DAY_RETENTION_DAYS": 730,
    # Prometheus: tenants outside the busiest N share the label "other".
    "PROMETHEUS_TOP_TENANTS": 20,
    # Who may scrape /metrics without a staff session (Prometheus in the cluster network).
    "METRICS_ALLOWED_NETWORKS": [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ],
}


def capacity_setting(name: str) -> Any:
    """Return one capacity option; raise ``ImproperlyConfigured`` for an unknown name."""
    overrides: dict[str, Any] = getattr(settings, "CAPACITY", {})
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.CAPACITY has unknown keys {sorted(unknown)}; known keys are "
            f"{sorted(DEFAULTS)}."
        )
    if name not in DEFAULTS:
        raise ImproperlyConfigured(f"{name!r} is not a capacity option.")
    return overrides.get(name, DEFAULTS[name])
