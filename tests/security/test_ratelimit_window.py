"""The sliding-window arithmetic on its own: the estimate, the admission rule, Retry-After."""

from __future__ import annotations

import itertools

import pytest

from portal.ratelimit.window import WindowCounts, retry_after_seconds

MINUTE_MS = 60_000


def test_previous_window_decays_with_the_elapsed_fraction():
    counts = WindowCounts(previous=10, current=3, elapsed_ms=MINUTE_MS // 2, window_ms=MINUTE_MS)
    assert counts.estimate() == 8  # 10 * 0.5 + 3
    assert counts.estimate(extra=1) == 9


def test_estimate_rounds_up_so_remaining_never_overpromises():
    # 10 * (1 - 0.25) + 2 = 9.5: one more hit would make 10.5, so nothing remains under 10.
    counts = WindowCounts(previous=10, current=2, elapsed_ms=15_000, window_ms=MINUTE_MS)
    assert counts.estimate() == 10
    assert not counts.admits(1, 10)


def test_a_full_previous_window_admits_only_its_decayed_share_at_the_start():
    limit = 10
    # 1.2 s into the new window: 10 * 0.98 = 9.8, so no whole hit fits yet.
    counts = WindowCounts(previous=limit, current=0, elapsed_ms=1_200, window_ms=MINUTE_MS)
    assert not counts.admits(1, limit)
    # 6 s in (a tenth of the window): exactly one hit fits, a second does not.
    assert counts.admits(1, limit, elapsed_ms=6_000)
    assert not counts.admits(2, limit, elapsed_ms=6_000)


def test_wait_within_this_window_ends_exactly_when_the_previous_share_has_decayed():
    counts = WindowCounts(previous=10, current=0, elapsed_ms=0, window_ms=MINUTE_MS)
    assert counts.wait_ms(1, 10) == 6_000
    assert counts.admits(1, 10, elapsed_ms=6_000)
    assert not counts.admits(1, 10, elapsed_ms=5_999)


def test_wait_past_the_window_when_this_window_alone_is_full():
    # Five hits late in the window with a limit of five: the next hit fits once these five
    # have decayed to four, a fifth of the way into the next window.
    counts = WindowCounts(previous=0, current=5, elapsed_ms=59_000, window_ms=MINUTE_MS)
    assert counts.wait_ms(1, 5) == 1_000 + 12_000
    next_window = WindowCounts(previous=5, current=0, elapsed_ms=12_000, window_ms=MINUTE_MS)
    assert next_window.admits(1, 5)
    assert not next_window.admits(1, 5, elapsed_ms=11_999)


def _brute_force_wait(counts: WindowCounts, cost: int, limit: int) -> int:
    """Step Redis's clock one millisecond at a time, assuming nobody else hits."""
    window = counts.window_ms
    for at in range(counts.elapsed_ms, window):
        if counts.admits(cost, limit, elapsed_ms=at):
            return at - counts.elapsed_ms
    following = WindowCounts(previous=counts.current, current=0, elapsed_ms=0, window_ms=window)
    for at in range(window):
        if following.admits(cost, limit, elapsed_ms=at):
            return window - counts.elapsed_ms + at
    # Both counters have expired two windows on; the documented answer even if it never fits.
    return 2 * window - counts.elapsed_ms


@pytest.mark.parametrize("window_ms", [7, 10])
def test_wait_is_the_first_millisecond_the_rule_admits(window_ms):
    cases = itertools.product(
        range(window_ms), range(1, 6), range(9), range(7), range(1, 3)
    )  # elapsed, limit, previous, current, cost
    checked = 0
    for elapsed, limit, previous, current, cost in cases:
        counts = WindowCounts(previous, current, elapsed, window_ms)
        expected = _brute_force_wait(counts, cost, limit)
        assert counts.wait_ms(cost, limit) == expected, (counts, cost, limit)
        checked += 1
    assert checked == window_ms * 5 * 9 * 7 * 2


@pytest.mark.parametrize(
    ("wait_ms", "seconds"), [(0, 1), (1, 1), (999, 1), (1_000, 1), (1_001, 2), (72_000, 72)]
)
def test_retry_after_rounds_up_to_whole_seconds_and_is_never_zero(wait_ms, seconds):
    assert retry_after_seconds(wait_ms) == seconds
