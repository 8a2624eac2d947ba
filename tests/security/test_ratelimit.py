"""The Redis counter itself: exact counts, atomicity under threads, keys, Redis outages."""

from __future__ import annotations

import logging
import threading

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
    assert decisions[5].retry_after_seconds >= 1
    assert decisions[5].retry_after_seconds <= 60


def test_counter_key_names_the_tenant_and_expires_with_the_window():
    policy = _policy(5, period_seconds=90)
    hit(policy, tenant="acme", subject="ttl")
    client, _, _ = _connection.scripts()
    key = counter_key("test_policy", tenant="acme", subject="ttl")
    assert key == "ratelimit:test_policy:acme:ttl"
    assert 0 < client.pttl(key) <= 90_000


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
    assert hit(policy, tenant="acme", subject="refund").count == 1


def test_refund_never_creates_a_counter():
    policy = _policy(2)
    refund(policy, tenant="acme", subject="never-hit")
    client, _, _ = _connection.scripts()
    assert not client.exists(counter_key("test_policy", tenant="acme", subject="never-hit"))


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
