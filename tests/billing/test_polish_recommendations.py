"""Recommendations that save next to nothing are left out, unless they are about risk."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing import recommendations as recs
from billing.selectors import current_price_book
from capacity.coefficients import fitted_coefficients
from capacity.selectors import tenant_scope

pytestmark = pytest.mark.django_db


def _recommendation(kind: str, saving: str) -> recs.Recommendation:
    return recs.Recommendation(
        tenant="acme",
        kind=kind,
        title="t",
        evidence="e",
        monthly_saving=Decimal(saving),
        currency="USD",
        price_book_version=1,
        source="measured",
    )


@pytest.mark.parametrize(
    ("kind", "saving", "shown"),
    [
        (recs.INT8, "0.00", False),
        (recs.INT8, "0.99", False),
        (recs.INT8, "1.00", True),
        (recs.RESERVED, "250.00", True),
        (recs.STALE_REPOSITORIES, "0.00", True),
    ],
)
def test_only_savings_above_the_minimum_or_risks_are_worth_showing(kind, saving, shown):
    assert recs.is_worth_showing(_recommendation(kind, saving)) is shown


def _kinds(fixture) -> dict[str, Decimal]:
    with tenant_context(fixture.tenant):
        scope = tenant_scope()
        found = recs.recommendations(scope, fitted_coefficients(scope), current_price_book())
    return {r.kind: r.monthly_saving for r in found}


def test_a_small_repositorys_int8_saving_is_left_out_but_stale_repositories_are_kept(
    acme_indexed,
):
    from capacity.storage import tenant_storage
    from search.models import Repository

    vectors = tenant_storage(acme_indexed.tenant).vectors
    computed = recs.int8_quantization(acme_indexed.tenant, vectors, current_price_book())
    assert computed is not None and computed.monthly_saving < recs.MIN_MONTHLY_SAVING
    with tenant_context(acme_indexed.tenant):
        Repository.objects.update(last_indexed_at=timezone.now() - timedelta(days=120))

    kinds = _kinds(acme_indexed)

    assert recs.INT8 not in kinds
    assert recs.STALE_REPOSITORIES in kinds
    assert kinds[recs.STALE_REPOSITORIES] < recs.MIN_MONTHLY_SAVING
