"""How fast a tenant searches, in the unit its plan limits: searches per minute.

Read from the capacity measurements, which count every search request (cached answers and
refused queries too, as the rate limit does), not from the search log, which only keeps
searches that reached the index. Minutes not yet flushed are read from Redis, so the current
minute is included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Sum
from django.utils import timezone

from capacity import counters
from capacity.models import Resolution, Source
from capacity.selectors import Scope, usage_rows


@dataclass(frozen=True)
class SearchRates:
    """One tenant's searches: this minute, the busiest minute today, today, all recorded."""

    this_minute: int
    minute_start: datetime
    peak_minute: int
    peak_minute_start: datetime | None
    today: int
    total: int


def search_rates(scope: Scope, *, now: datetime | None = None) -> SearchRates:
    """Return the tenant's measured search counts per minute, today and in total.

    "Today" starts at midnight in the portal's time zone; the total covers the retention of
    day rollups. Read-only: three queries and one Redis read (none while Redis is down, which
    leaves out the minutes not yet flushed).
    """
    if scope.tenant is None:
        raise ValueError("search_rates() reads one tenant's counts; pass tenant_scope().")
    now = now or timezone.now()
    minute_start = now.replace(second=0, microsecond=0)
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)

    per_minute: Counter[datetime] = Counter()
    for bucket, count in usage_rows(
        scope, resolution=Resolution.MINUTE, since=day_start, source=Source.MEASURED
    ).values_list("bucket_start", "search_requests"):
        per_minute[bucket] += count
    pending: Counter[datetime] = Counter()
    for minute_hash in counters.peek_usage(scope.tenant.pk):
        pending[counters.minute_start(minute_hash.minute)] += int(minute_hash.fields.get("req", 0))
    per_minute.update({bucket: n for bucket, n in pending.items() if bucket >= day_start})
    peak = max(per_minute.items(), key=lambda item: (item[1], item[0]), default=None)

    days = usage_rows(scope, resolution=Resolution.DAY, source=Source.MEASURED)
    flushed_total = days.aggregate(total=Sum("search_requests"))["total"] or 0
    flushed_today = (
        days.filter(bucket_start__gte=day_start).aggregate(total=Sum("search_requests"))["total"]
        or 0
    )
    return SearchRates(
        this_minute=per_minute.get(minute_start, 0),
        minute_start=minute_start,
        peak_minute=peak[1] if peak and peak[1] else 0,
        peak_minute_start=peak[0] if peak and peak[1] else None,
        today=flushed_today + sum(n for bucket, n in pending.items() if bucket >= day_start),
        total=flushed_total + sum(pending.values()),
    )
