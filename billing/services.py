"""Writes of the billing app: publishing a new price book version."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from billing.exceptions import InvalidPriceBook
from billing.models import PriceBook

logger = logging.getLogger(__name__)

DISCOUNTS = ("reserved_discount", "spot_discount")


def _decimal(name: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidPriceBook(
            f"{name} must be a decimal number such as 0.0316, got {raw!r}.", field=name
        ) from exc
    if not value.is_finite() or value < 0:
        raise InvalidPriceBook(f"{name} must be zero or more, got {raw!r}.", field=name)
    if name in DISCOUNTS and value >= 1:
        raise InvalidPriceBook(
            f"{name} is a fraction of the on-demand price: enter a value from 0 to below 1 "
            f"(0.4 for 40% off), got {raw!r}.",
            field=name,
        )
    return value


def publish_price_book(
    *, prices: dict[str, Any], currency: str, note: str = "", acting_user: Any = None
) -> PriceBook:
    """Validate ``prices`` and store them as the next price book version.

    Never changes an existing version, so figures that name an older version stay
    explainable. Raise InvalidPriceBook naming the first bad field. Side effect: one row.
    """
    missing = [name for name in PriceBook.PRICE_FIELDS if name not in prices]
    if missing:
        raise InvalidPriceBook(f"Enter a value for {', '.join(missing)}.", field=missing[0])
    values = {name: _decimal(name, prices[name]) for name in PriceBook.PRICE_FIELDS}
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidPriceBook(
            f"currency must be a 3-letter ISO code such as USD or EUR, got {currency!r}.",
            field="currency",
        )
    for _ in range(3):
        try:
            with transaction.atomic():
                latest = PriceBook.objects.aggregate(v=Max("version"))["v"] or 0
                book = PriceBook.objects.create(
                    version=latest + 1,
                    currency=currency,
                    note=note[:200],
                    created_by=getattr(acting_user, "email", "") or "",
                    **values,
                )
            break
        except IntegrityError:
            # Two operators published at once; the unique version makes one retry.
            continue
    else:
        raise InvalidPriceBook("Another edit was published at the same time; submit again.")
    logger.info("billing.price_book.published", extra={"version": book.version})
    return book
