"""The Redis counter itself: exact counts, the sliding window, atomicity, keys, outages."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.ratelimit import RateLimitUnavailable, get_policy, hit, parse_rate, refund, reset
from portal.ratelimit.limiter import _connection, counter_key
from portal.ratelimit.policies import API_TOKEN, LOGIN_ACCOUNT, Policy, Rate

pytestmark = pytest.mark.usefixtures("rate_limits")


def _policy(count: int, *, period_seconds: int = 60, is_fail_open: bool = True) -> Policy:
    return Policy(name="test_policy", rate=Rate(count, period_seconds), is_fail_open=is_fail_open)


def test_limit_allows_exactly_the_configured_count_then_denies():
    policy = _policy(5)
    decisions = [hit(policy, tenant="acme", subject="exact") for _ in range(7)]
    assert [d.is_allowed for d in decisions] == [True] * 5 + [False] * 2
    assert decisions[4].remaining == 0
    assert [d.count for d in decisions] == [1, 2, 3, 4, 5, 6, 6]
    # Denied hits are not stored: the sixth fits once these five have decayed to four, a
    # fifth of the way into the next window, 12 s to 72 s from now depending on the clock.
    assert 12 <= decisions[5].retry_after_seconds <= 72
    # Unchanged counters and a later clock: the wait can only shrink.
    assert decisions[6].retry_after_seconds <= decisions[5].retry_after_seconds


def _window_keys(subject: str) -> list[str]:
    client = _connection.scripts().client
    base = counter_key("test_policy", tenant="acme", subject=subject)
    return sorted(key.decode() for key in client.scan_iter(match=f"{base}:*"))


def _redis_now_ms() -> int:
    seconds, microseconds = _connection.scripts().client.time()
    return seconds * 1000 + microseconds // 1000


def test_counters_name_the_tenant_and_window_and_expire_two_windows_after_it_starts():
    policy = _policy(5, period_seconds=90)
    hit(policy, tenant="acme", subject="ttl")
    assert counter_key("test_policy", tenant="acme", subject="ttl") == (
        "ratelimit:test_policy:acme:ttl"
    )
    (key,) = _window_keys("ttl")
    window_index = int(key.rsplit(":", 1)[1])
    assert key == f"ratelimit:test_policy:acme:ttl:{window_index}"
    ttl_ms = _connection.scripts().client.pttl(key)
    expires_in_ms = (window_index + 2) * 90_000 - _redis_now_ms()
    assert abs(ttl_ms - expires_in_ms) < 1_000


def test_the_same_subject_in_another_tenant_has_its_own_budget():
    policy = _policy(2)
    for _ in range(3):
        hit(policy, tenant="acme", subject="shared-name")
    assert hit(policy, tenant="globex", subject="shared-name").is_allowed


def test_concurrent_hits_from_threads_never_exceed_the_limit():
    policy = _policy(37)
    threads_count, hits_per_thread = 16, 8
    barrier = threading.Barrier(threads_count)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        results = [
            hit(policy, tenant="acme", subject="race").is_allowed for _ in range(hits_per_thread)
        ]
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == threads_count * hits_per_thread
    assert sum(allowed) == 37


def test_refund_gives_hits_back_and_reset_forgets_them():
    policy = _policy(2)
    hit(policy, tenant="acme", subject="refund")
    hit(policy, tenant="acme", subject="refund")
    refund(policy, tenant="acme", subject="refund")
    assert hit(policy, tenant="acme", subject="refund").is_allowed
    assert not hit(policy, tenant="acme", subject="refund").is_allowed
    reset(policy, tenant="acme", subject="refund")
    assert _window_keys("refund") == []
    assert hit(policy, tenant="acme", subject="refund").count == 1


def test_refund_never_goes_below_zero():
    policy = _policy(2)
    hit(policy, tenant="acme", subject="over-refund")
    refund(policy, tenant="acme", subject="over-refund", cost=5)
    assert _window_keys("over-refund") == []
    assert [hit(policy, tenant="acme", subject="over-refund").is_allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]


def _sleep_until(window_ms: int, fraction: float) -> None:
    """Sleep until Redis's clock is ``fraction`` of the way into a window (the next such)."""
    wait_ms = (int(window_ms * fraction) - _redis_now_ms() % window_ms) % window_ms
    time.sleep(wait_ms / 1000)


def _window_position(window_ms: int) -> tuple[int, float]:
    now = _redis_now_ms()
    return now // window_ms, (now % window_ms) / window_ms


def test_no_double_burst_across_a_window_boundary():
    """A full budget spent late in one window leaves only its decayed share in the next.

    A fixed window would admit the whole limit again right after the boundary. Real 2 s
    windows on Redis's clock: the test sleeps to chosen points of the window.
    """
    limit, window_ms = 10, 2_000
    policy = _policy(limit, period_seconds=window_ms // 1000)
    _sleep_until(window_ms, 0.75)
    first_index, _ = _window_position(window_ms)
    first = [hit(policy, tenant="acme", subject="burst") for _ in range(limit)]
    assert _window_position(window_ms)[0] == first_index, "first burst straddled a boundary"
    assert all(d.is_allowed for d in first)

    _sleep_until(window_ms, 0.1)
    second_index, before = _window_position(window_ms)
    second = [hit(policy, tenant="acme", subject="burst") for _ in range(limit)]
    after_index, after = _window_position(window_ms)
    assert second_index == after_index == first_index + 1, "second burst left the next window"
    admitted = sum(d.is_allowed for d in second)
    # The previous window's ten still weigh 10 * (1 - fraction): only the decayed share fits.
    assert limit * before - 1 < admitted <= limit * after
    assert admitted < limit

    # Retry-After is honest: after waiting it (nobody else hitting), one more hit fits.
    for _ in range(limit + 1):
        denied = hit(policy, tenant="acme", subject="burst")
        if not denied.is_allowed:
            break
    assert not denied.is_allowed
    assert denied.remaining == 0
    time.sleep(denied.retry_after_seconds)
    assert hit(policy, tenant="acme", subject="burst").is_allowed


def test_refund_never_creates_a_counter():
    policy = _policy(2)
    refund(policy, tenant="acme", subject="never-hit")
    assert _window_keys("never-hit") == []


def test_disabled_limits_allow_everything(settings):
    settings.RATE_LIMITS = {"ENABLED": False, "RATES": {}}
    policy = _policy(1)
    assert all(hit(policy, tenant="acme", subject="off").is_allowed for _ in range(5))


@pytest.mark.parametrize(
    ("text", "count", "seconds"), [("60/m", 60, 60), ("5/15m", 5, 900), ("10/h", 10, 3600)]
)
def test_rates_parse_count_and_window(text, count, seconds):
    assert parse_rate(text) == Rate(count, seconds)


@pytest.mark.parametrize("text", ["", "0/m", "5", "5/0m", "five/m", "5/15w"])
def test_malformed_rates_are_refused_at_configuration(text):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


def test_unknown_rate_names_in_settings_are_refused(settings):
    settings.RATE_LIMITS = {"ENABLED": True, "RATES": {"serch_tenant": "1/m"}}
    with pytest.raises(ImproperlyConfigured, match="serch_tenant"):
        get_policy(API_TOKEN)


@pytest.mark.usefixtures("redis_down")
class TestRedisUnavailable:
    def test_fail_open_policy_allows_and_warns_once_per_outage(self, caplog):
        policy = _policy(1, is_fail_open=True)
        with caplog.at_level(logging.WARNING, logger="portal.ratelimit.limiter"):
            decisions = [hit(policy, tenant="acme", subject="down") for _ in range(3)]
        assert all(d.is_allowed and d.is_degraded for d in decisions)
        warnings = [r for r in caplog.records if r.msg == "portal.ratelimit.redis_unavailable"]
        assert len(warnings) == 1

    def test_fail_closed_policy_refuses_with_retry_after(self):
        with pytest.raises(RateLimitUnavailable) as info:
            hit(get_policy(LOGIN_ACCOUNT), tenant="acme", subject="down")
        assert info.value.status_code == 503
        assert info.value.retry_after_seconds > 0
