"""Recording on the request path, the minute flush, hour and day rollups, and retention."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import override_settings

from capacity import counters, recording
from capacity.models import ProcessRollup, Resolution, Source, UsageRollup
from capacity.services.rollups import apply_retention, flush_metrics
from tests.capacity.conftest import NOW

pytestmark = pytest.mark.django_db


def _search(tenant_id, took_ms, *, level="miss", at=NOW, results=3, error=False):
    return recording.record_search(
        tenant_id,
        took_ms=took_ms,
        cache_level=level,
        result_count=results,
        response_bytes=1000,
        is_error=error,
        at=at,
    )


def test_flush_moves_a_completed_minute_into_minute_hour_and_day_rows(acme, counters_clean):
    tenant_id = acme.tenant.pk
    assert _search(tenant_id, 4, level="l1")
    assert _search(tenant_id, 40, level="l2")
    assert _search(tenant_id, 400)
    assert _search(tenant_id, 3000, error=True)

    report = flush_metrics(now=NOW + timedelta(minutes=1))

    assert report.minutes == 1
    minute = UsageRollup.objects.get(tenant_id=tenant_id, resolution=Resolution.MINUTE)
    assert minute.bucket_start == NOW.replace(second=0)
    assert minute.source == Source.MEASURED
    assert (minute.search_requests, minute.search_errors) == (4, 1)
    assert (minute.cache_l1_hits, minute.cache_l2_hits, minute.cache_misses) == (1, 1, 1)
    assert minute.results_returned == 9
    assert minute.latency_ms_sum == pytest.approx(3444)
    assert sum(minute.latency_histogram) == 4
    hour = UsageRollup.objects.get(tenant_id=tenant_id, resolution=Resolution.HOUR)
    day = UsageRollup.objects.get(tenant_id=tenant_id, resolution=Resolution.DAY)
    assert hour.bucket_start == NOW.replace(minute=0, second=0)
    assert day.bucket_start == NOW.replace(hour=0, minute=0, second=0)
    assert hour.search_requests == day.search_requests == 4
    assert hour.latency_histogram == minute.latency_histogram


def test_current_minute_stays_in_redis_until_it_has_ended(acme, counters_clean):
    _search(acme.tenant.pk, 10)
    flush_metrics(now=NOW)
    assert not UsageRollup.objects.filter(tenant_id=acme.tenant.pk).exists()
    assert [h.fields["req"] for h in counters.peek_usage(acme.tenant.pk)] == [1.0]


def test_late_increments_to_a_flushed_minute_are_added_not_lost(acme, counters_clean):
    _search(acme.tenant.pk, 10)
    flush_metrics(now=NOW + timedelta(minutes=1))
    _search(acme.tenant.pk, 10)
    flush_metrics(now=NOW + timedelta(minutes=1))
    flush_metrics(now=NOW + timedelta(minutes=2))  # nothing pending: no double counting

    rows = UsageRollup.objects.filter(tenant_id=acme.tenant.pk)
    assert rows.get(resolution=Resolution.MINUTE).search_requests == 2
    assert rows.get(resolution=Resolution.HOUR).search_requests == 2
    assert rows.get(resolution=Resolution.DAY).search_requests == 2


def test_hours_roll_up_into_one_day_and_gauges_keep_the_last_value(acme, counters_clean):
    tenant_id = acme.tenant.pk
    morning = NOW.replace(hour=9)
    _search(tenant_id, 10, at=morning)
    recording.record_storage(tenant_id, vectors=100, stored_bytes=1000, at=morning)
    _search(tenant_id, 10, at=NOW)
    recording.record_storage(tenant_id, vectors=150, stored_bytes=1500, at=NOW)
    flush_metrics(now=NOW + timedelta(minutes=1))

    rows = UsageRollup.objects.filter(tenant_id=tenant_id)
    assert rows.filter(resolution=Resolution.HOUR).count() == 2
    day = rows.get(resolution=Resolution.DAY)
    assert day.search_requests == 2
    assert (day.vectors, day.stored_bytes) == (150, 1500)


def test_retention_deletes_only_rows_past_their_resolutions_limit(acme):
    def row(resolution, age):
        return UsageRollup.objects.create(
            tenant=acme.tenant, resolution=resolution, bucket_start=NOW - age
        )

    old_minute = row(Resolution.MINUTE, timedelta(hours=49))
    kept_minute = row(Resolution.MINUTE, timedelta(hours=47))
    old_hour = row(Resolution.HOUR, timedelta(days=91))
    kept_hour = row(Resolution.HOUR, timedelta(days=89))
    kept_day = row(Resolution.DAY, timedelta(days=700))

    assert apply_retention(NOW) == 2
    remaining = set(UsageRollup.objects.values_list("pk", flat=True))
    assert {kept_minute.pk, kept_hour.pk, kept_day.pk} <= remaining
    assert not {old_minute.pk, old_hour.pk} & remaining


def test_process_samples_are_flushed_with_cpu_and_memory(counters_clean):
    recording.sample_process(at=NOW, force=True)
    sum(i * i for i in range(200_000))  # use some CPU between the two samples
    recording.sample_process(at=NOW, force=True)
    flush_metrics(now=NOW + timedelta(minutes=1))

    row = ProcessRollup.objects.get(resolution=Resolution.MINUTE)
    assert row.role == "web" and row.samples == 2
    assert row.cpu_seconds > 0
    assert row.memory_bytes_peak >= row.memory_bytes_avg > 0
    assert ProcessRollup.objects.filter(resolution=Resolution.HOUR).count() == 1


def test_recording_drops_silently_after_one_warning_when_redis_is_down(
    acme_indexed, counters_clean, caplog, tmp_path
):
    from django_tenants.utils import tenant_context

    from search.services.querying import search_code

    with override_settings(REDIS_URL=f"unix://{tmp_path}/missing.sock"):
        counters.reset_client()
        with caplog.at_level(logging.WARNING, logger="capacity.counters"):
            assert not _search(acme_indexed.tenant.pk, 10)
            assert not _search(acme_indexed.tenant.pk, 10)
            with tenant_context(acme_indexed.tenant):
                response = search_code(query="parse configuration file", limit=3)
    warnings = [r for r in caplog.records if r.message == "capacity.counters.redis_unavailable"]
    assert len(warnings) == 1
    assert response.results is not None


def test_search_and_index_job_hooks_record_for_the_current_tenant(
    acme_indexed, counters_clean, django_capture_on_commit_callbacks
):
    from django_tenants.utils import tenant_context

    from search.models import Repository
    from search.services.indexing import start_index_job

    response = acme_indexed.api().get("/api/v1/search/", {"q": "read the config", "limit": 2})
    assert response.status_code == 200
    bad = acme_indexed.api().get("/api/v1/search/", {"q": "repo:nope x", "limit": 2})
    assert bad.status_code == 400
    with (
        tenant_context(acme_indexed.tenant),
        django_capture_on_commit_callbacks(execute=True),
    ):
        start_index_job(repository=Repository.objects.get(name="sample"))

    (minute,) = counters.peek_usage(acme_indexed.tenant.pk)
    # The 400 (unknown repo:) is the caller's mistake: rejected, not a request nor an error.
    assert minute.fields["req"] == 1 and "err" not in minute.fields
    assert minute.fields["rejected"] == 1
    assert minute.fields["jobs"] == 1
    assert minute.fields["g_vectors"] > 0
