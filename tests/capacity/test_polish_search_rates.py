"""The Usage page compares searches per minute with the per-minute plan limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from capacity import recording
from capacity.search_rates import search_rates
from capacity.selectors import operator_scope, tenant_scope
from capacity.services.rollups import flush_metrics
from tests.capacity.conftest import NOW

pytestmark = pytest.mark.django_db


def _searches(tenant, at, count, *, level="miss"):
    for _ in range(count):
        assert recording.record_search(
            tenant.pk, took_ms=5, cache_level=level, result_count=1, response_bytes=10, at=at
        )


def _rates(fixture, now=NOW):
    with tenant_context(fixture.tenant):
        return search_rates(tenant_scope(), now=now)


def test_rates_count_this_minute_the_busiest_minute_today_and_the_totals(
    acme, globex, counters_clean
):
    busy = NOW.replace(hour=9, minute=5, second=0)
    _searches(acme.tenant, NOW - timedelta(days=1), 9)  # yesterday: total only
    _searches(acme.tenant, busy + timedelta(seconds=10), 4, level="l1")  # cached answers count
    _searches(acme.tenant, busy + timedelta(seconds=50), 3)
    _searches(globex.tenant, busy, 50)  # another tenant's searches never show
    flush_metrics(now=NOW.replace(hour=10))
    _searches(acme.tenant, busy + timedelta(seconds=55), 1)  # late write to a flushed minute
    _searches(acme.tenant, NOW - timedelta(seconds=5), 2)  # this minute, still in Redis

    rates = _rates(acme)

    assert (rates.this_minute, rates.minute_start) == (2, NOW.replace(second=0))
    assert (rates.peak_minute, rates.peak_minute_start) == (8, busy)
    assert (rates.today, rates.total) == (10, 19)


def test_rates_are_zero_without_searches(acme, counters_clean):
    rates = _rates(acme)

    assert (rates.this_minute, rates.peak_minute, rates.today, rates.total) == (0, 0, 0, 0)
    assert rates.peak_minute_start is None


def test_rates_refuse_the_all_tenants_scope():
    with pytest.raises(ValueError, match="tenant_scope"):
        search_rates(operator_scope(), now=NOW)


def test_usage_page_labels_the_per_minute_figures_and_the_totals_apart(acme, counters_clean):
    _searches(acme.tenant, timezone.now(), 3)

    page = acme.client().get("/manage/").content.decode()

    assert "Searches this minute (" in page
    assert "</td><td>3</td><td>60 per minute</td>" in page
    assert "Searches in the busiest minute today (" in page
    assert "Searches today: 3 · all recorded: 3" in page
    assert "Searches run</td>" not in page
