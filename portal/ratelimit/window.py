"""The sliding-window estimate: how many hits count now, and how long until one more fits.

The hit script in :mod:`portal.ratelimit.limiter` decides atomically in Redis; this module is
the same rule in Python, applied to the counters the script returns, to report the count and an
honest ``Retry-After``. Both sides compare integers scaled by the window length
(``previous * (window - elapsed) + current * window <= limit * window``), never floats, so they
cannot disagree by a rounding error at the exact edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowCounts:
    """The two counters of one subject as the hit script saw them, on Redis's clock.

    ``current`` includes the hit that was just admitted (a denied hit is not stored), and
    ``elapsed_ms`` is how far Redis's clock is into the current window.
    """

    previous: int
    current: int
    elapsed_ms: int
    window_ms: int

    def _weighted(self, current: int, elapsed_ms: int) -> int:
        # The estimate times the window length, an exact integer.
        return self.previous * (self.window_ms - elapsed_ms) + current * self.window_ms

    def admits(self, cost: int, limit: int, *, elapsed_ms: int | None = None) -> bool:
        """True when ``cost`` more hits keep the estimate <= ``limit`` (the script's rule)."""
        at = self.elapsed_ms if elapsed_ms is None else elapsed_ms
        return self._weighted(self.current + cost, at) <= limit * self.window_ms

    def estimate(self, *, extra: int = 0) -> int:
        """The estimated hits in the sliding window (plus ``extra``), rounded up.

        Rounded up so that ``limit - estimate`` is the number of hits that still fit now.
        """
        return math.ceil(self._weighted(self.current + extra, self.elapsed_ms) / self.window_ms)

    def wait_ms(self, cost: int, limit: int) -> int:
        """Milliseconds until ``cost`` more hits would be admitted, if nobody else hits.

        While ``current + cost`` fits the limit, the previous window's share decays within this
        window; otherwise the earliest chance is in the next window, where today's counter has
        become the previous one and decays in its turn. A ``cost`` above the limit never fits;
        the answer is then the time until both counters have expired, the most that can be
        promised.
        """
        window, elapsed = self.window_ms, self.elapsed_ms
        if self.admits(cost, limit):
            return 0
        slack = limit - self.current - cost
        if slack >= 0:
            # previous * (window - t) <= slack * window, for the first whole millisecond t.
            earliest = window - (slack * window) // self.previous
            return max(earliest - elapsed, 0)
        to_next_window = window - elapsed
        if cost > limit:
            return to_next_window + window
        earliest_next = window - ((limit - cost) * window) // self.current
        return to_next_window + earliest_next


def retry_after_seconds(wait_ms: int) -> int:
    """Whole seconds to wait, rounded up and at least 1 (sent as ``Retry-After``)."""
    return max(1, math.ceil(wait_ms / 1000))
