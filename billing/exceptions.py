"""Errors of the billing app."""

from __future__ import annotations

from portal.exceptions import PortalError


class InvalidPriceBook(PortalError):
    """A price book edit with a missing, negative or out-of-range value."""

    code = "invalid_price_book"
    status_code = 400


class PriceBookMissing(PortalError):
    """No price book exists (the billing migrations have not run)."""

    code = "price_book_missing"
    status_code = 503
