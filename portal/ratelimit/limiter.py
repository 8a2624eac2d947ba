"""An atomic sliding-window counter in Redis.

Why a sliding-window counter: a fixed window lets a client spend a full budget at the end of
one window and another at the start of the next, twice the limit within one window length. A
sliding log (a sorted set of timestamps per subject) would be exact but costs O(limit) memory
per subject. This keeps two integer counters per subject, the current and the previous window
(aligned to Redis's clock, ``window index = now // window``), and estimates the hits of the
last window length as ``previous * (1 - elapsed fraction) + current``: O(1) memory and no
double burst, since right after a boundary only the decayed share of the previous window is
admitted. The approximation assumes the previous window's hits were spread evenly over it; for
ordinary traffic the error is small. Its worst case is a previous window spent at its very end:
the hits admitted in the next window then come on top of it in the trailing window length, up
to ``limit * elapsed fraction`` more (never 2x), but only at the configured rate as the share
decays, never as a burst.

A hit is allowed when the estimate *after* it is <= the limit. Denied hits are not stored (a
change from the fixed window, which counted them): in a sliding window a stored denial would
carry into the next window through the previous counter, so a client that keeps retrying would
stay locked out for as long as it retries and up to a window after, and for a shared subject
(the whole tenant's search budget) one runaway script would lock out every member. Not storing
them still gives no extra attempts: hammering only takes each slot as the estimate frees it, at
the configured rate, and the ``Retry-After`` we answer stays true.

Why a Lua script: the check and the increment run atomically on the server in one round trip,
so concurrent requests on any number of replicas can never be admitted past the limit (and a
separate INCR and EXPIRE could leave a key without a TTL if the client dies between them,
locking the subject out for good). The script reads the clock with ``TIME``, so the clock is
Redis's alone and replicas with skewed clocks agree (Redis >= 5 replicates a script's effects,
not the script, so ``TIME`` before a write is allowed; checked on the embedded Redis 6.2).

Keys are ``ratelimit:<policy>:<tenant schema>:<subject>:<window index>``: every key names its
tenant and expires two windows after its window starts (when it stops being the previous
window), so nothing ever has to list them (no ``KEYS``, case C20). The script derives the two
window keys from the subject's key (``KEYS[1]``) because only Redis knows the index; that is
fine on a single Redis, a Redis Cluster would need a hash tag around the subject's key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import NamedTuple

import redis
from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import RedisError

from portal.ratelimit.exceptions import RateLimitUnavailable
from portal.ratelimit.policies import Policy, is_enabled
from portal.ratelimit.window import WindowCounts, retry_after_seconds

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"
# How long a caller refused because Redis is down should wait before trying again.
UNAVAILABLE_RETRY_SECONDS = 30
REDIS_TIMEOUT_SECONDS = 0.5

# Shared by the scripts: Redis's clock in milliseconds, the window index and the elapsed part.
_WINDOW_CLOCK = """
local window = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local index = math.floor(now / window)
local elapsed = now - index * window
"""
# ARGV: window ms, cost, limit. Returns {allowed 0/1, current (after this hit when allowed),
# previous, elapsed ms}. The comparison is the estimate scaled by the window, in integers
# (window.WindowCounts.admits is the same rule). Lua numbers are doubles: exact below 2**53,
# far above count * window for any rate we accept.
_HIT_SCRIPT = (
    _WINDOW_CLOCK
    + """
local cost = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local current_key = KEYS[1] .. ':' .. index
local current = tonumber(redis.call('GET', current_key) or '0')
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
if previous * (window - elapsed) + (current + cost) * window > limit * window then
  return {0, current, previous, elapsed}
end
current = redis.call('INCRBY', current_key, cost)
redis.call('PEXPIRE', current_key, 2 * window - elapsed)
return {1, current, previous, elapsed}
"""
)
# ARGV: window ms, cost. Give back hits of the current window (a login that succeeded)
# without creating a key or going below zero. Returns the current counter afterwards.
_REFUND_SCRIPT = (
    _WINDOW_CLOCK
    + """
local key = KEYS[1] .. ':' .. index
if redis.call('EXISTS', key) == 0 then
  return 0
end
local count = redis.call('DECRBY', key, ARGV[2])
if count <= 0 then
  redis.call('DEL', key)
  return 0
end
return count
"""
)
# ARGV: window ms. Forget both counters; returns how many keys were deleted.
_RESET_SCRIPT = (
    _WINDOW_CLOCK
    + """
return redis.call('DEL', KEYS[1] .. ':' .. index, KEYS[1] .. ':' .. (index - 1))
"""
)


@dataclass(frozen=True)
class Decision:
    is_allowed: bool
    # Estimated hits in the sliding window including this one, rounded up; for a denied hit,
    # what the estimate would have been (denied hits are not stored).
    count: int
    limit: int
    # When denied: seconds until the estimate admits one more hit if nobody else hits first.
    retry_after_seconds: int
    # True when Redis was unreachable and a fail-open policy let the request through.
    is_degraded: bool = False

    @property
    def remaining(self) -> int:
        """Hits that would still be admitted right now."""
        return max(self.limit - self.count, 0)


class _Scripts(NamedTuple):
    client: redis.Redis
    hit: Script
    refund: Script
    reset: Script


class _Connection:
    """One Redis client per process, rebuilt when ``settings.REDIS_URL`` changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._url: str | None = None
        self._scripts: _Scripts | None = None

    def scripts(self) -> _Scripts:
        """Return the client with the hit, refund and reset scripts registered on it."""
        with self._lock:
            if self._scripts is None or self._url != settings.REDIS_URL:
                self._url = settings.REDIS_URL
                client = redis.Redis.from_url(
                    self._url,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
                self._scripts = _Scripts(
                    client=client,
                    hit=client.register_script(_HIT_SCRIPT),
                    refund=client.register_script(_REFUND_SCRIPT),
                    reset=client.register_script(_RESET_SCRIPT),
                )
            return self._scripts


_connection = _Connection()
# Set while Redis is failing, so an outage logs one warning rather than one per request.
_outage = threading.Event()


def counter_key(policy_name: str, *, tenant: str, subject: str) -> str:
    """The subject's key; its two window counters are this plus ``:<window index>``."""
    return f"{KEY_PREFIX}:{policy_name}:{tenant}:{subject}"


def hit(policy: Policy, *, tenant: str, subject: str, cost: int = 1) -> Decision:
    """Count ``cost`` hits for ``subject`` in ``tenant`` and decide whether to allow them.

    Allowed hits are written to the current window's counter (expiring two windows after the
    window starts); denied hits are not stored (see the module docstring). When Redis is
    unreachable a fail-open policy returns an allowed, degraded decision and logs one warning
    per outage; a fail-closed policy raises :class:`RateLimitUnavailable` (503).
    """
    limit = policy.rate.count
    if not is_enabled():
        return Decision(is_allowed=True, count=0, limit=limit, retry_after_seconds=0)
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    window_ms = policy.rate.period_seconds * 1000
    try:
        scripts = _connection.scripts()
        allowed, current, previous, elapsed_ms = scripts.hit(
            keys=[key], args=[window_ms, cost, limit], client=scripts.client
        )
    except RedisError as exc:
        return _unavailable(policy, exc)
    _recovered()
    counts = WindowCounts(
        previous=int(previous),
        current=int(current),
        elapsed_ms=int(elapsed_ms),
        window_ms=window_ms,
    )
    if int(allowed):
        return Decision(
            is_allowed=True, count=counts.estimate(), limit=limit, retry_after_seconds=0
        )
    decision = Decision(
        is_allowed=False,
        count=counts.estimate(extra=cost),
        limit=limit,
        retry_after_seconds=retry_after_seconds(counts.wait_ms(cost, limit)),
    )
    logger.info(
        "portal.ratelimit.denied",
        extra={
            "policy": policy.name,
            "tenant": tenant,
            "count": decision.count,
            "limit": limit,
            "retry_after_seconds": decision.retry_after_seconds,
        },
    )
    return decision


def refund(policy: Policy, *, tenant: str, subject: str, cost: int = 1) -> None:
    """Give back ``cost`` hits of the current window, e.g. for a login that succeeded.

    Never creates a key nor goes below zero. A hit counted in the previous window (the login
    straddled a window boundary) is not given back; it fades out within one window. Best
    effort: when Redis is unreachable the hits stay counted and expire with their window.
    """
    if not is_enabled():
        return
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    window_ms = policy.rate.period_seconds * 1000
    try:
        scripts = _connection.scripts()
        scripts.refund(keys=[key], args=[window_ms, cost], client=scripts.client)
    except RedisError:
        logger.warning(
            "portal.ratelimit.refund_failed", extra={"policy": policy.name, "tenant": tenant}
        )


def reset(policy: Policy, *, tenant: str, subject: str) -> None:
    """Forget every hit of ``subject`` in both windows (a successful login, tests)."""
    key = counter_key(policy.name, tenant=tenant, subject=subject)
    window_ms = policy.rate.period_seconds * 1000
    try:
        scripts = _connection.scripts()
        scripts.reset(keys=[key], args=[window_ms], client=scripts.client)
    except RedisError:
        logger.warning(
            "portal.ratelimit.reset_failed", extra={"policy": policy.name, "tenant": tenant}
        )


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
