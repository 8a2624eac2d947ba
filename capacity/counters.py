"""The Redis side of measurement: per-minute hashes written on the request path, drained by
the flush task, and cumulative totals read by the Prometheus export.

Layout (``P`` is the ``KEY_PREFIX`` option):

- ``P:u:<minute>:<tenant id>``: one tenant's counters for one minute (epoch seconds / 60);
- ``P:p:<minute>:<role>:<host:pid>``: one process's CPU and memory samples for one minute;
- ``P:pending``: the set of minute hashes not yet flushed to PostgreSQL;
- ``P:t:<tenant id>``: cumulative counters for Prometheus, never expired or drained.
- ``P:once:<name>``: first-use markers with a TTL (one credited click per search shown).

Every write is one pipelined MULTI, so the flush task, which reads and deletes a hash in one
MULTI as well, sees each increment exactly once. When Redis fails, writes are dropped for a
back-off period after one warning: measurement must never slow down or fail a search.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from redis.exceptions import RedisError

from capacity.conf import capacity_setting
from capacity.histogram import BUCKET_COUNT

logger = logging.getLogger(__name__)

# Redis hash field -> UsageRollup field.
USAGE_FIELDS: dict[str, str] = {
    "req": "search_requests",
    "err": "search_errors",
    "l1": "cache_l1_hits",
    "l2": "cache_l2_hits",
    "miss": "cache_misses",
    "res": "results_returned",
    "bytes": "response_bytes",
    "jobs": "index_jobs",
    "jobs_failed": "index_jobs_failed",
    "files": "files_indexed",
    "chunks": "chunks_indexed",
    "zero": "zero_result_searches",
    "shown": "searches_shown",
    "clicked": "searches_clicked",
}
USAGE_FLOAT_FIELDS: dict[str, str] = {
    "lat_ms": "latency_ms_sum",
    "embed_s": "embed_seconds",
    "index_s": "index_seconds",
    "rr": "first_click_rr_sum",
}
USAGE_GAUGES: dict[str, str] = {"g_vectors": "vectors", "g_stored_bytes": "stored_bytes"}
COUNTER_FIELDS = (*USAGE_FIELDS.values(), *USAGE_FLOAT_FIELDS.values())
GAUGE_FIELDS = tuple(USAGE_GAUGES.values())

_lock = threading.Lock()
_client: redis.Redis | None = None
_skip_until = 0.0
_warned = threading.Event()

# Keep a per-minute maximum without a read-modify-write race between processes.
_MAX_SCRIPT = (
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if (not v) or tonumber(v) < tonumber(ARGV[2]) then "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end return 1"
)


def _prefix() -> str:
    return str(capacity_setting("KEY_PREFIX"))


def minute_of(at: datetime) -> int:
    """Return the epoch minute holding ``at`` (which must be timezone-aware)."""
    return int(at.timestamp()) // 60


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def get_client() -> redis.Redis:
    """Return this process's Redis client for counters (created once, lazily)."""
    global _client
    with _lock:
        if _client is None:
            _client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=1.0
            )
        return _client


def reset_client() -> None:
    """Forget the client and any back-off (tests, and after a settings change)."""
    global _client, _skip_until
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
        _skip_until = 0.0
    _warned.clear()


def _is_backing_off() -> bool:
    return time.monotonic() < _skip_until


def _failed(exc: Exception) -> None:
    global _skip_until
    _skip_until = time.monotonic() + float(capacity_setting("REDIS_BACKOFF_SECONDS"))
    if not _warned.is_set():
        _warned.set()
        logger.warning("capacity.counters.redis_unavailable", extra={"error": repr(exc)})


def claim_once(name: str, *, ttl_seconds: int) -> bool | None:
    """Mark ``name`` as seen for ``ttl_seconds``; True only for the first claim.

    Return None when Redis is unreachable (the caller drops the measurement). Used to count
    one click per search shown, however often its links are opened.
    """
    if _is_backing_off():
        return None
    try:
        claimed = get_client().set(f"{_prefix()}:once:{name}", 1, nx=True, ex=ttl_seconds)
    except (RedisError, OSError) as exc:
        _failed(exc)
        return None
    return bool(claimed)


def usage_key(minute: int, tenant_id: int) -> str:
    return f"{_prefix()}:u:{minute}:{tenant_id}"


def process_key(minute: int, role: str, instance: str) -> str:
    return f"{_prefix()}:p:{minute}:{role}:{instance}"


def totals_key(tenant_id: int) -> str:
    return f"{_prefix()}:t:{tenant_id}"


def write_usage(
    tenant_id: int,
    at: datetime,
    *,
    increments: Mapping[str, int],
    float_increments: Mapping[str, float] | None = None,
    gauges: Mapping[str, int] | None = None,
    with_totals: bool = True,
) -> bool:
    """Add to the tenant's hash for the minute of ``at``; return False when dropped.

    Side effects: one MULTI on Redis; nothing when Redis is backing off.
    """
    if _is_backing_off():
        return False
    key = usage_key(minute_of(at), tenant_id)
    try:
        pipe = get_client().pipeline(transaction=True)
        for name, amount in increments.items():
            if amount:
                pipe.hincrby(key, name, amount)
        for name, value in (float_increments or {}).items():
            if value:
                pipe.hincrbyfloat(key, name, value)
        if gauges:
            pipe.hset(key, mapping={f"g_{name}": value for name, value in gauges.items()})
        pipe.expire(key, int(capacity_setting("PENDING_TTL_SECONDS")))
        pipe.sadd(f"{_prefix()}:pending", key)
        if with_totals:
            totals = totals_key(tenant_id)
            for name, amount in increments.items():
                if amount:
                    pipe.hincrby(totals, name, amount)
            for name, value in (float_increments or {}).items():
                if value:
                    pipe.hincrbyfloat(totals, name, value)
            pipe.sadd(f"{_prefix()}:tenants", tenant_id)
        pipe.execute()
    except (RedisError, OSError) as exc:
        _failed(exc)
        return False
    return True


def write_process_sample(
    role: str, instance: str, at: datetime, *, cpu_microseconds: int, rss_bytes: int
) -> bool:
    """Add one CPU/memory sample of a process to its minute hash; False when dropped."""
    if _is_backing_off():
        return False
    key = process_key(minute_of(at), role, instance)
    try:
        pipe = get_client().pipeline(transaction=True)
        pipe.hincrby(key, "cpu_us", cpu_microseconds)
        pipe.hincrby(key, "rss_sum", rss_bytes)
        pipe.hincrby(key, "samples", 1)
        pipe.eval(_MAX_SCRIPT, 1, key, "rss_max", rss_bytes)
        pipe.expire(key, int(capacity_setting("PENDING_TTL_SECONDS")))
        pipe.sadd(f"{_prefix()}:pending", key)
        pipe.execute()
    except (RedisError, OSError) as exc:
        _failed(exc)
        return False
    return True


@dataclass(frozen=True)
class MinuteHash:
    """A drained or peeked minute hash, decoded."""

    kind: str  # "u" (tenant usage) or "p" (process)
    minute: int
    tenant_id: int | None
    role: str
    instance: str
    fields: dict[str, float]


def usage_values(minute_hash: MinuteHash) -> dict[str, Any]:
    """Return a tenant hash as UsageRollup field values (counters, histogram, gauges)."""
    fields = minute_hash.fields
    values: dict[str, Any] = {name: int(fields.get(key, 0)) for key, name in USAGE_FIELDS.items()}
    values.update({name: fields.get(key, 0.0) for key, name in USAGE_FLOAT_FIELDS.items()})
    values["latency_histogram"] = [int(fields.get(f"h{i}", 0)) for i in range(BUCKET_COUNT)]
    values.update(
        {name: int(fields[key]) if key in fields else None for key, name in USAGE_GAUGES.items()}
    )
    return values


def _parse(key: str, raw: Mapping[bytes, bytes]) -> MinuteHash | None:
    rest = key[len(_prefix()) + 1 :]
    parts = rest.split(":", 2)
    if len(parts) != 3 or parts[0] not in ("u", "p"):
        return None
    kind, minute_text, tail = parts
    fields = {k.decode(): float(v) for k, v in raw.items()}
    if kind == "u":
        return MinuteHash("u", int(minute_text), int(tail), "", "", fields)
    role, _, instance = tail.partition(":")
    return MinuteHash("p", int(minute_text), None, role, instance, fields)


def drain_before(minute: int) -> list[MinuteHash]:
    """Remove and return every pending hash of a minute earlier than ``minute``.

    Each hash is read and deleted in one MULTI, so an increment lands either in what is
    returned or in a new hash that the next drain picks up. Raise RedisError when Redis is
    unreachable (the flush task retries on its next run).
    """
    client = get_client()
    pending = f"{_prefix()}:pending"
    drained: list[MinuteHash] = []
    for raw_key in client.smembers(pending):
        key = raw_key.decode()
        parts = key[len(_prefix()) + 1 :].split(":", 2)
        if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= minute:
            continue
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        pipe.srem(pending, key)
        raw, _, _ = pipe.execute()
        parsed = _parse(key, raw) if raw else None
        if parsed is not None:
            drained.append(parsed)
    return drained


def peek_usage(tenant_id: int | None) -> list[MinuteHash]:
    """Return the not-yet-flushed tenant hashes (one tenant, or all for None) without
    removing them; empty when Redis is unreachable. Used for live charts."""
    if _is_backing_off():
        return []
    try:
        client = get_client()
        keys = [k.decode() for k in client.smembers(f"{_prefix()}:pending")]
        wanted = [
            key
            for key in keys
            if key.startswith(f"{_prefix()}:u:")
            and (tenant_id is None or key.endswith(f":{tenant_id}"))
        ]
        pipe = client.pipeline(transaction=False)
        for key in wanted:
            pipe.hgetall(key)
        raws = pipe.execute()
    except (RedisError, OSError) as exc:
        _failed(exc)
        return []
    hashes = [_parse(key, raw) for key, raw in zip(wanted, raws, strict=True) if raw]
    return [h for h in hashes if h is not None and (tenant_id is None or h.tenant_id == tenant_id)]


def read_totals() -> dict[int, dict[str, float]]:
    """Return the cumulative counters of every tenant that ever recorded one.

    Raise RedisError when Redis is unreachable (the /metrics view answers 503).
    """
    client = get_client()
    ids = sorted(int(raw) for raw in client.smembers(f"{_prefix()}:tenants"))
    pipe = client.pipeline(transaction=False)
    for tenant_id in ids:
        pipe.hgetall(totals_key(tenant_id))
    return {
        tenant_id: {k.decode(): float(v) for k, v in raw.items()}
        for tenant_id, raw in zip(ids, pipe.execute(), strict=True)
    }


def delete_all() -> None:
    """Remove every counter key of this prefix (tests and ``seed`` resets); uses SCAN."""
    client = get_client()
    for key in client.scan_iter(match=f"{_prefix()}:*", count=500):
        client.delete(key)
