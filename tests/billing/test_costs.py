"""Showback from measured usage and each recommendation kind with and without evidence."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing import recommendations as recs
from billing.selectors import current_price_book
from billing.showback import showback
from capacity.coefficients import fitted_coefficients
from capacity.models import Resolution, Source, UsageRollup
from capacity.selectors import tenant_scope

pytestmark = pytest.mark.django_db


def _hours(tenant, count, *, searches=10, chunks=0, jobs=0, every=1, vectors=None):
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    UsageRollup.objects.bulk_create(
        UsageRollup(
            tenant=tenant,
            source=Source.MEASURED,
            resolution=Resolution.HOUR,
            bucket_start=end - timedelta(hours=count - i),
            search_requests=searches if i % every == 0 else 0,
            chunks_indexed=chunks,
            index_jobs=jobs,
            response_bytes=2**30 if i == 0 else 0,
            vectors=vectors,
            stored_bytes=None if vectors is None else 2**30,
        )
        for i in range(count)
    )


def _recommendations(fixture):
    with tenant_context(fixture.tenant):
        scope = tenant_scope()
        return recs.recommendations(scope, fitted_coefficients(scope), current_price_book())


def _kinds(fixture):
    return {r.kind for r in _recommendations(fixture)}


@pytest.fixture
def any_saving(monkeypatch):
    """Show recommendations however small their saving: these tests are about evidence."""
    monkeypatch.setattr(recs, "MIN_MONTHLY_SAVING", Decimal(0))


def test_showback_prices_measured_usage_with_the_price_book_version(acme):
    _hours(acme.tenant, 10, searches=360, vectors=1_000_000)
    prices = current_price_book()
    with tenant_context(acme.tenant):
        scope = tenant_scope()
        coefficients = fitted_coefficients(scope)
        lines = {line.kind: line for line in showback(scope, coefficients, prices)}

    cps = Decimal(str(coefficients.cpu_seconds_per_search.value))
    assert lines["compute"].quantity == (3600 * cps / 3600).quantize(Decimal("0.0001"))
    assert lines["network"].quantity == Decimal(1)
    assert lines["network"].amount == prices.network_per_gib.quantize(Decimal("0.0001"))
    # 1M vectors held for the 10 hours since they were first seen.
    assert lines["vectors"].quantity == (Decimal(10) / 730).quantize(Decimal("0.0001"))
    assert all(isinstance(line.amount, Decimal) for line in lines.values())
    assert {line.price_book_version for line in lines.values()} == {prices.version}


def test_int8_is_recommended_only_for_a_tenant_with_float32_vectors(
    acme_indexed, globex, any_saving
):
    from capacity.storage import tenant_storage

    vectors = tenant_storage(acme_indexed.tenant).vectors
    (rec,) = [r for r in _recommendations(acme_indexed) if r.kind == recs.INT8]
    # The sample repository is small: the saving is real but rounds to cents.
    assert rec.monthly_saving >= 0 and f"{vectors} vectors at 1664 B" in rec.evidence
    assert rec.price_book_version == current_price_book().version
    assert recs.INT8 not in _kinds(globex)


def test_stale_repositories_are_recommended_only_when_old(acme_indexed):
    from search.models import Repository

    assert recs.STALE_REPOSITORIES not in _kinds(acme_indexed)
    with tenant_context(acme_indexed.tenant):
        Repository.objects.update(last_indexed_at=timezone.now() - timedelta(days=120))
    (rec,) = [r for r in _recommendations(acme_indexed) if r.kind == recs.STALE_REPOSITORIES]
    assert "sample" in rec.evidence


def test_spot_indexing_needs_indexing_in_the_period(globex, any_saving):
    assert recs.SPOT_INDEXING not in _kinds(globex)
    _hours(globex.tenant, 3, chunks=5000, jobs=1)
    assert recs.SPOT_INDEXING in _kinds(globex)


def test_rightsizing_follows_usage_percentiles(globex):
    _hours(globex.tenant, 12, searches=100)
    assert recs.RIGHTSIZING not in _kinds(globex)  # half a day is too little evidence
    UsageRollup.objects.filter(tenant=globex.tenant).delete()
    _hours(globex.tenant, 48, searches=100)
    (rec,) = [r for r in _recommendations(globex) if r.kind == recs.RIGHTSIZING]
    assert "p95" in rec.evidence and rec.monthly_saving > 0


def test_rightsizing_is_not_recommended_when_usage_needs_the_request(globex):
    # 200k searches an hour at the default 0.05 s each is ~2.8 cores: above the 1-core quota.
    _hours(globex.tenant, 48, searches=200_000)
    assert recs.RIGHTSIZING not in _kinds(globex)


def test_reserved_capacity_needs_a_week_of_high_uptime(globex, any_saving):
    _hours(globex.tenant, 9 * 24, searches=5, every=10)
    assert recs.RESERVED not in _kinds(globex)  # active 10% of hours
    UsageRollup.objects.filter(tenant=globex.tenant).update(search_requests=5)
    (rec,) = [r for r in _recommendations(globex) if r.kind == recs.RESERVED]
    assert "uptime" in rec.evidence


def test_costs_page_and_csv_exports_stay_in_the_tenant(acme, globex):
    _hours(acme.tenant, 5, searches=10, vectors=10)
    _hours(globex.tenant, 5, searches=10, vectors=10)
    client = acme.client()
    assert client.get("/manage/costs/").status_code == 200

    showback_rows = list(
        csv.DictReader(io.StringIO(client.get("/manage/costs/showback.csv").content.decode()))
    )
    assert showback_rows and {r["tenant"] for r in showback_rows} == {"acme"}
    assert {r["price_book_version"] for r in showback_rows} == {str(current_price_book().version)}
    recommendation_rows = list(
        csv.DictReader(
            io.StringIO(client.get("/manage/costs/recommendations.csv").content.decode())
        )
    )
    assert all(r["tenant"] == "acme" for r in recommendation_rows)


def test_operator_costs_cover_every_tenant(operator_client, acme, globex):
    _hours(acme.tenant, 5, searches=10)
    _hours(globex.tenant, 5, searches=10)
    text = operator_client.get("/operator/costs/showback.csv").content.decode()
    assert {r["tenant"] for r in csv.DictReader(io.StringIO(text))} >= {"acme", "globex"}
