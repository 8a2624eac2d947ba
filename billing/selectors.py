"""Reads of the price book."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.exceptions import PriceBookMissing
from billing.models import PriceBook


def current_price_book() -> PriceBook:
    """Return the newest price book version; raise PriceBookMissing when there is none."""
    book = PriceBook.objects.order_by("-version").first()
    if book is None:
        raise PriceBookMissing(
            "No price book exists; run `manage.py migrate billing`, which creates version 1."
        )
    return book


def price_book_versions(limit: int = 20) -> QuerySet[PriceBook]:
    return PriceBook.objects.order_by("-version")[:limit]
