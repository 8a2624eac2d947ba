"""An atomic fixed-window counter in Redis.

Why a fixed window, counted by a Lua script: one key per subject and window, O(1) memory and
one round trip per check, and the script runs atomically on the server, so concurrent requests
on any number of replicas can never be admitted past the limit (a separate INCR and EXPIRE can
also leave a key without a TTL if the client dies between them, locking the subject out for
good). The window starts at the first hit and its length comes from the key's TTL, so the
clock is Redis's alone and replicas with skewed clocks agree. The cost is the known fixed-window
edge: a client can spend a full budget at the end of one window and another at the start of
the next. A sliding log (a sorted set per subject) would avoid that at O(limit) memory per
subject, which we do not need to stop abuse or to enforce plan limits.

Keys are ``ratelimit:<policy>:<tenant schema>:<subject>``: every key names its tenant and every
key expires, so nothing ever has to list them (no ``KEYS``, case C20).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import RedisError

from portal.ratelimit.exceptions import RateLimitUnavailable
from portal.ratelimit.policies import Policy, is_enabled

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"
# How long a caller refused because Redis is down should wait before trying again.
UNAVAILABLE_RETRY_SECONDS = 30
REDIS_TIMEOUT_SECONDS = 0.5

# Returns {count after this hit, milliseconds left in the window}. PTTL < 0 means the key was
# just created (or lost its TTL): start the window now.
_HIT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# Give back hits (a login that succeeded) without creating a key or going below zero.
_REFUND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local count = redis.call('DECRBY', KEYS[1], ARGV[1])
if count <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
return count
"""


@dataclass(frozen=True)
class Decision:
    is_allowed: bool
    count: int
    limit: int
    retry_after_seconds: int
    # True when Redis was unreachable and a fail-open policy let the request through.
    is_degraded: bool = False

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


Scripts = tuple[redis.Redis, "redis.commands.core.Script", "redis.commands.core.Script"]


class _Connection:
    """One Redis client per process, rebuilt when ``settings.REDIS_URL`` changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._url: str | None = None
        self._scripts: Scripts | None = None

    def scripts(self) -> Scripts:
        """Return the client with the hit and refund scripts registered on it."""
        with self._lock:
            if self._scripts is None or self._url != settings.REDIS_URL:
                self._url = settings.REDIS_URL
                client = redis.Redis.from_url(
                    self._url,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
                self._scripts = (
                    client,
                    client.register_script(_HIT_SCRIPT),
                    client.register_script(_REFUND_SCRIPT),
                )
            return self._scripts


_connection = _Connection()
# Set while Redis is failing, so an outage logs one warning rather than one per request.
_outage = threading.Event()


def counter_key(policy_name: str, *, tenant: str, subject: str) -> str:
    return f"{KEY_PREFIX}:{policy_name}:{tenant}:{subject}"


def hit(policy: Policy, *, tenant: str, subject: str, cost: int = 1) -> Decision:
    """Count ``cost`` hits for ``subject`` in ``tenant`` and decide whether to allow them.

    Denied hits are counted too, so hammering a limit does not earn extra attempts. Redis
    is written (one key, expiring with the window). When Redis is unreachable a fail-open
    policy returns an allowed, degraded decision and logs one warning per outage; a
    fail-closed policy raises :class:`RateLimitUnavailable` (503).
    """
    limit = policy.rate.count
    if not is_enabled():
        return Decision(is_allowed=True, count=0, limit=limit, retry_after_seconds=0)
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    window_ms = policy.rate.period_seconds * 1000
    try:
        client, script, _ = _connection.scripts()
        count, ttl_ms = script(keys=[key], args=[window_ms, cost], client=client)
    except RedisError as exc:
        return _unavailable(policy, exc)
    _recovered()
    count, ttl_ms = int(count), int(ttl_ms)
    is_allowed = count <= limit
    retry_after = 0 if is_allowed else max(1, math.ceil(ttl_ms / 1000))
    if not is_allowed:
        logger.info(
            "portal.ratelimit.denied",
            extra={"policy": policy.name, "count": count, "limit": limit},
        )
    return Decision(
        is_allowed=is_allowed, count=count, limit=limit, retry_after_seconds=retry_after
    )


def refund(policy: Policy, *, tenant: str, subject: str, cost: int = 1) -> None:
    """Give back ``cost`` hits, e.g. for a login that succeeded; never creates a key.

    Best effort: when Redis is unreachable the hits stay counted and expire with the window.
    """
    if not is_enabled():
        return
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    try:
        client, _, script = _connection.scripts()
        script(keys=[key], args=[cost], client=client)
    except RedisError:
        logger.warning("portal.ratelimit.refund_failed", extra={"policy": policy.name})


def reset(policy: Policy, *, tenant: str, subject: str) -> None:
    """Forget every hit of ``subject`` in the current window (a successful login, tests)."""
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    try:
        client, _, _ = _connection.scripts()
        client.delete(key)
    except RedisError:
        logger.warning("portal.ratelimit.reset_failed", extra={"policy": policy.name})


def _unavailable(policy: Policy, exc: RedisError) -> Decision:
    if not _outage.is_set():
        _outage.set()
        logger.warning(
            "portal.ratelimit.redis_unavailable",
            extra={"policy": policy.name, "error": type(exc).__name__},
        )
    if policy.is_fail_open:
        return Decision(
            is_allowed=True,
            count=0,
            limit=policy.rate.count,
            retry_after_seconds=0,
            is_degraded=True,
        )
    raise RateLimitUnavailable(
        "This action is briefly unavailable because its abuse protection cannot be checked; "
        f"try again in {UNAVAILABLE_RETRY_SECONDS} seconds.",
        retry_after_seconds=UNAVAILABLE_RETRY_SECONDS,
    ) from exc


def _recovered() -> None:
    if _outage.is_set():
        _outage.clear()
        logger.info("portal.ratelimit.redis_recovered")
