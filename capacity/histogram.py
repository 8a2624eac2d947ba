"""The fixed-bucket latency histogram every process records into, and percentiles from it.

Fixed bounds make histograms from different processes, minutes and tenants addable bucket by
bucket, which a list of raw samples or a sketch with data-dependent bounds would not be.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Upper bounds in milliseconds; the last bucket holds everything slower. Dense below 200 ms,
# where cached and uncached searches fall, so p50 and p95 resolve to a few milliseconds.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    2,
    5,
    10,
    20,
    35,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1000,
    2000,
    5000,
)
BUCKET_COUNT = len(LATENCY_BOUNDS_MS) + 1


def bucket_index(latency_ms: float) -> int:
    """Return the index of the bucket holding ``latency_ms`` (bounds are inclusive)."""
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BOUNDS_MS)


def empty() -> list[int]:
    return [0] * BUCKET_COUNT


def add(total: Sequence[int], other: Sequence[int]) -> list[int]:
    """Return the bucket-wise sum; a shorter (older or empty) list counts as zeros."""
    length = max(len(total), len(other), BUCKET_COUNT)
    return [
        (total[i] if i < len(total) else 0) + (other[i] if i < len(other) else 0)
        for i in range(length)
    ]


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    result = empty()
    for histogram in histograms:
        result = add(result, histogram)
    return result


def percentile(counts: Sequence[int], quantile: float) -> float | None:
    """Return the latency in ms below which ``quantile`` of the requests fell.

    Interpolate linearly inside the bucket that holds the rank, the usual assumption for a
    fixed-bucket histogram. A rank in the open last bucket returns its lower bound, since
    nothing is known above it. Return None for an empty histogram; raise ValueError for a
    quantile outside [0, 1].
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    total = sum(counts)
    if total == 0:
        return None
    rank = quantile * total
    seen = 0
    for index, count in enumerate(counts):
        if count == 0:
            continue
        if seen + count >= rank:
            lower = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index >= len(LATENCY_BOUNDS_MS):
                return float(lower)
            upper = LATENCY_BOUNDS_MS[index]
            return float(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])
