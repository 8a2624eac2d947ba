"""Two-level cache of search responses: an in-process LRU in front of Redis.

Keys are a SHA-256 digest of the tenant, the tenant's index version and the normalised request,
never Python's ``hash()`` (which differs per process, so replicas would never share entries).
A finished index job bumps the tenant's version, which makes every older entry unreachable;
entries then expire by TTL, so invalidation needs no Redis ``KEYS`` scan (case C20). When Redis
is unreachable, search still answers uncached and one warning is logged.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import time
import weakref
from collections import Counter, OrderedDict
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError

from portal import after_response

logger = logging.getLogger(__name__)

L1_MAX_ENTRIES = 512
L2_TTL_SECONDS = 600
VERSION_TTL_SECONDS = 30 * 24 * 3600
# How long a process trusts its last reading of a tenant's index version before asking Redis
# again. Without it an in-process (L1) hit still waits for a Redis round trip, which is most of
# its cost. A re-index finished by this process is seen at once (the bump updates the memo);
# one finished by another process is seen within this many seconds.
VERSION_MEMO_SECONDS = 1.0
# Popularity counts are added up in-process and written to Redis in one pipeline at most this
# often, so a cached answer costs no Redis round trip at all.
POPULARITY_FLUSH_SECONDS = 2.0


class LRUCache:
    """A thread-safe least-recently-used map: reads refresh an entry's recency."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class VersionMemo:
    """The last index version read per tenant, trusted for ``VERSION_MEMO_SECONDS``."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._versions: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_key: str) -> int | None:
        with self._lock:
            entry = self._versions.get(tenant_key)
        if entry is None or time.monotonic() - entry[1] > self.max_age:
            return None
        return entry[0]

    def set(self, tenant_key: str, version: int) -> None:
        with self._lock:
            self._versions[tenant_key] = (version, time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()


_l1 = LRUCache(L1_MAX_ENTRIES)
_versions = VersionMemo(VERSION_MEMO_SECONDS)
_redis_warned = threading.Event()


def _redis_failed(event: str, exc: Exception) -> None:
    """Log the first Redis failure of this process; later ones would only repeat it."""
    if not _redis_warned.is_set():
        _redis_warned.set()
        logger.warning(event, extra={"error": repr(exc)})


# Django's Redis backend builds a new redis-py client, with its table of ~160 reply callbacks,
# for every call: 0.28 ms per GET here, of which 0.16 ms is that construction. The search path
# makes one or two reads per request, so it keeps one client per backend object (Django keeps
# one backend per thread) on that backend's own connection pool, with the backend's key
# function and serializer, so the entries stay readable through ``cache``.
_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _redis() -> Any:
    backend = cache._cache
    client = _clients.get(backend)
    if client is None:
        client = backend.get_client(write=True)
        _clients[backend] = client
    return client


def _redis_get(key: str) -> Any | None:
    raw = _redis().get(cache.make_key(key))
    return None if raw is None else cache._cache._serializer.loads(raw)


def _redis_set(key: str, value: Any, *, timeout: int) -> None:
    _redis().set(cache.make_key(key), cache._cache._serializer.dumps(value), ex=timeout)


def _version_key(tenant_key: str) -> str:
    # django-tenants' key function prefixes the schema as well; the explicit tenant key keeps
    # the key correct when the cache is shared with a differently configured process.
    return f"search:version:{tenant_key}"


def index_version(tenant_key: str, *, fresh: bool = False) -> int:
    """The tenant's index version; ``fresh`` skips this process's short-lived memo."""
    if not fresh:
        remembered = _versions.get(tenant_key)
        if remembered is not None:
            return remembered
    try:
        version = int(_redis_get(_version_key(tenant_key)) or 0)
    except (RedisError, OSError) as exc:
        # Not remembered: the next request asks Redis again and sees it recover at once.
        _redis_failed("search.cache.redis_unavailable", exc)
        return 0
    _versions.set(tenant_key, version)
    return version


def bump_index_version(tenant_key: str) -> None:
    """Make every cached response of the tenant stale (after a re-index or deletion)."""
    key = _version_key(tenant_key)
    try:
        version = 1 if cache.add(key, 1, timeout=VERSION_TTL_SECONDS) else int(cache.incr(key))
    except (RedisError, OSError) as exc:
        _redis_failed("search.cache.redis_unavailable", exc)
        _versions.clear()
    else:
        _versions.set(tenant_key, version)
    _l1.clear()


def response_key(tenant_key: str, request: dict[str, Any]) -> str:
    version = index_version(tenant_key)
    body = json.dumps(request, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{tenant_key}\x00{version}\x00{body}".encode()).hexdigest()
    return f"search:response:{tenant_key}:{digest}"


def get_response(key: str) -> tuple[Any | None, str]:
    """Return (value, level) where level is 'l1', 'l2' or 'miss'."""
    value = _l1.get(key)
    if value is not None:
        return value, "l1"
    try:
        value = _redis_get(key)
    except (RedisError, OSError) as exc:
        _redis_failed("search.cache.redis_unavailable", exc)
        value = None
    if value is not None:
        _l1.set(key, value)
        return value, "l2"
    return None, "miss"


def set_response(key: str, value: Any) -> None:
    """Cache in this process at once, and in Redis once the response has been sent.

    The Redis write is a round trip the client does not need to wait for; this process
    answers the same request from L1 meanwhile, other processes a moment later from L2.
    """
    _l1.set(key, value)
    after_response.defer(_write_l2, key, value)


def _write_l2(key: str, value: Any) -> None:
    try:
        _redis_set(key, value, timeout=L2_TTL_SECONDS)
    except (RedisError, OSError) as exc:
        _redis_failed("search.cache.redis_unavailable", exc)


def clear_local() -> None:
    """Forget everything this process holds: L1 entries, version memo, unsent counts."""
    _l1.clear()
    _versions.clear()
    _popularity.discard()


POPULAR_TTL_SECONDS = 7 * 24 * 3600


def _popular_key(tenant_key: str) -> str:
    return f"search:popular:{tenant_key}"


class PopularityBuffer:
    """Query counts waiting to be added to the tenants' popularity rankings in Redis."""

    def __init__(self, flush_seconds: float) -> None:
        self.flush_seconds = flush_seconds
        self._counts: Counter[tuple[str, str]] = Counter()
        self._flushed_at = time.monotonic()
        self._lock = threading.Lock()

    def add(self, tenant_key: str, query: str) -> None:
        with self._lock:
            self._counts[(tenant_key, query)] += 1
            due = time.monotonic() - self._flushed_at >= self.flush_seconds
        if due:
            after_response.defer(self.flush)

    def flush(self, *, quiet: bool = False) -> None:
        """Write the waiting counts; ``quiet`` (at interpreter exit) drops them on failure."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._flushed_at = time.monotonic()
        if not counts:
            return
        try:
            client = cache._cache.get_client(write=True)
            pipe = client.pipeline(transaction=False)
            for (tenant_key, query), count in counts.items():
                pipe.zincrby(cache.make_key(_popular_key(tenant_key)), count, query)
            for tenant_key in {tenant_key for tenant_key, _ in counts}:
                pipe.expire(cache.make_key(_popular_key(tenant_key)), POPULAR_TTL_SECONDS)
            pipe.execute()
        except (RedisError, OSError) as exc:
            # Popularity only steers cache warming; losing a few seconds of counts is harmless.
            if not quiet:
                _redis_failed("search.cache.redis_unavailable", exc)

    def discard(self) -> None:
        with self._lock:
            self._counts.clear()


_popularity = PopularityBuffer(POPULARITY_FLUSH_SECONDS)
atexit.register(_popularity.flush, quiet=True)


def count_query(tenant_key: str, query: str) -> None:
    """Count one use of a query in the tenant's popularity ranking (cached answers too)."""
    _popularity.add(tenant_key, query)


def top_queries(tenant_key: str, limit: int) -> list[str]:
    """The tenant's most used queries of the last week (Redis), most used first."""
    _popularity.flush()
    try:
        client = cache._cache.get_client()
        rows = client.zrevrange(cache.make_key(_popular_key(tenant_key)), 0, limit - 1)
    except (RedisError, OSError) as exc:
        _redis_failed("search.cache.redis_unavailable", exc)
        return []
    return [row.decode() if isinstance(row, bytes) else str(row) for row in rows]
