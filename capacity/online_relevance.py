"""Reads of online relevance: how the scope's own searches fared over the last day or week.

Built from the same usage rows as the latency charts (hour rows, plus the minutes still in
Redis), so searches, zero-result rate, click-through rate, MRR of the first click and latency
percentiles describe exactly the same searches. Only measured rows count; generated demo
history carries no clicks and is left out rather than diluting the rates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from capacity import counters, histogram
from capacity.models import Resolution, Source, UsageRollup
from capacity.selectors import Scope, usage_rows

# Window name -> how many hour buckets it spans (the current hour and the ones before it).
ONLINE_WINDOWS: dict[str, int] = {"24h": 24, "7d": 7 * 24}
TALLY_FIELDS = (
    "search_requests",
    "search_errors",
    "zero_result_searches",
    "searches_shown",
    "searches_clicked",
    "first_click_rr_sum",
)


@dataclass
class Tally:
    """Summed counters of some usage rows, and their merged latency histogram."""

    search_requests: int = 0
    search_errors: int = 0
    zero_result_searches: int = 0
    searches_shown: int = 0
    searches_clicked: int = 0
    first_click_rr_sum: float = 0.0
    latency_histogram: list[int] = field(default_factory=histogram.empty)

    def add(self, values: dict[str, Any]) -> None:
        for name in TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + values.get(name, 0))
        self.latency_histogram = histogram.add(
            self.latency_histogram, values.get("latency_histogram") or []
        )


@dataclass(frozen=True)
class OnlineRelevance:
    """One window's figures; a rate is None when its denominator is zero."""

    window: str
    searches: int
    zero_result_rate: float | None
    searches_shown: int
    searches_clicked: int
    # Searches with a click / web searches that showed results.
    click_through_rate: float | None
    # Mean of 1/rank of the first result opened, over searches with a click.
    mrr_first_click: float | None
    p50_ms: float | None
    p95_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def figures(window: str, tally: Tally) -> OnlineRelevance:
    """Turn a tally into the dashboard's figures (zero-result rate over answered searches)."""
    answered = tally.search_requests - tally.search_errors
    p50 = histogram.percentile(tally.latency_histogram, 0.50)
    p95 = histogram.percentile(tally.latency_histogram, 0.95)
    return OnlineRelevance(
        window=window,
        searches=tally.search_requests,
        zero_result_rate=_ratio(tally.zero_result_searches, answered),
        searches_shown=tally.searches_shown,
        searches_clicked=tally.searches_clicked,
        click_through_rate=_ratio(tally.searches_clicked, tally.searches_shown),
        mrr_first_click=_ratio(tally.first_click_rr_sum, tally.searches_clicked),
        p50_ms=None if p50 is None else round(p50, 1),
        p95_ms=None if p95 is None else round(p95, 1),
    )


def _row_values(row: UsageRollup) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(row, name) for name in TALLY_FIELDS}
    values["latency_histogram"] = row.latency_histogram
    return values


def hourly_tallies(
    scope: Scope, *, hours: int, now: datetime | None = None
) -> dict[datetime, Tally]:
    """Return one tally per hour bucket with activity, over the current hour and the
    ``hours - 1`` before it; minutes not yet flushed from Redis are included."""
    now = now or timezone.now()
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    since = current_hour - timedelta(hours=hours - 1)
    tallies: dict[datetime, Tally] = defaultdict(Tally)
    for row in usage_rows(scope, resolution=Resolution.HOUR, since=since, source=Source.MEASURED):
        tallies[row.bucket_start].add(_row_values(row))
    tenant_id = None if scope.tenant is None else scope.tenant.pk
    for minute_hash in counters.peek_usage(tenant_id):
        hour = counters.minute_start(minute_hash.minute).replace(minute=0)
        if hour >= since:
            tallies[hour].add(counters.usage_values(minute_hash))
    return dict(tallies)


def online_relevance(scope: Scope, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the figures of every window and an hourly series over the longest one."""
    now = now or timezone.now()
    longest = max(ONLINE_WINDOWS.values())
    tallies = hourly_tallies(scope, hours=longest, now=now)
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    windows = {}
    for name, hours in ONLINE_WINDOWS.items():
        since = current_hour - timedelta(hours=hours - 1)
        total = Tally()
        for hour, tally in tallies.items():
            if hour >= since:
                total.add(vars(tally))
        windows[name] = figures(name, total).as_dict()
    series: dict[str, list[Any]] = defaultdict(list)
    # Every hour gets a point, so quiet hours show as gaps instead of joining their neighbours.
    for offset in range(longest - 1, -1, -1):
        hour = current_hour - timedelta(hours=offset)
        point = figures("hour", tallies.get(hour) or Tally())
        series["t"].append(hour.isoformat())
        series["searches"].append(point.searches)
        series["zero_result_rate"].append(point.zero_result_rate)
        series["click_through_rate"].append(point.click_through_rate)
        series["mrr_first_click"].append(point.mrr_first_click)
    return {"windows": windows, "hourly": dict(series)}
