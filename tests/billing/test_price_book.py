"""Price book versions, Decimal money and the operators' editor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from billing.exceptions import InvalidPriceBook
from billing.models import PriceBook
from billing.selectors import current_price_book
from billing.services import publish_price_book

pytestmark = pytest.mark.django_db


def _prices(**overrides):
    prices = {name: "0.1" for name in PriceBook.PRICE_FIELDS}
    prices.update(overrides)
    return prices


def test_migrations_create_version_one_with_decimal_prices():
    book = PriceBook.objects.get(version=1)
    assert isinstance(book.cpu_per_core_hour, Decimal)
    assert book.currency == "USD"
    assert Decimal(0) < book.reserved_discount < Decimal(1)


def test_publishing_adds_a_version_and_leaves_the_old_one_unchanged():
    before = current_price_book()
    book = publish_price_book(prices=_prices(cpu_per_core_hour="0.05"), currency="eur")
    assert book.version == before.version + 1
    assert book.currency == "EUR"
    assert book.cpu_per_core_hour == Decimal("0.05")
    assert current_price_book().pk == book.pk
    assert PriceBook.objects.get(pk=before.pk).cpu_per_core_hour == before.cpu_per_core_hour


@pytest.mark.parametrize(
    ("field", "value"),
    [("spot_discount", "1.2"), ("cpu_per_core_hour", "-1"), ("network_per_gib", "abc")],
)
def test_invalid_prices_are_rejected_with_the_field_named(field, value):
    count = PriceBook.objects.count()
    with pytest.raises(InvalidPriceBook) as caught:
        publish_price_book(prices=_prices(**{field: value}), currency="USD")
    assert caught.value.code == "invalid_price_book"
    assert caught.value.field == field
    assert PriceBook.objects.count() == count


def test_price_book_page_needs_staff_and_publishes_on_post(public_tenant, operator_client):
    assert Client(HTTP_HOST="localhost").get("/operator/price-book/").status_code == 302
    version = current_price_book().version
    response = operator_client.post(
        "/operator/price-book/", {**_prices(memory_per_gib_hour="0.007"), "currency": "USD"}
    )
    assert response.status_code == 302
    book = current_price_book()
    assert book.version == version + 1
    assert book.memory_per_gib_hour == Decimal("0.007")
    assert book.created_by == "ops@example.com"
    bad = operator_client.post("/operator/price-book/", {**_prices(), "currency": "dollars"})
    assert bad.status_code == 400
    assert current_price_book().version == version + 1
