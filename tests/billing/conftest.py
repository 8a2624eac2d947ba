"""Billing tests share the capacity fixtures."""

from tests.capacity.conftest import NOW, counters_clean, operator_client

__all__ = ["NOW", "counters_clean", "operator_client"]
