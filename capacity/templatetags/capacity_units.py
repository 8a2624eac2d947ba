"""Template filters that show measured quantities in units people read at a glance."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()

# Binary (IEC) prefixes, as the planner sizes memory in GiB.
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


@register.filter
def human_bytes(value: object) -> str:
    """Format a byte count as ``512 B``, ``1.50 KiB``, ``23.4 MiB`` or ``118 GiB``.

    Three significant digits are enough to compare sizes; the exact count belongs in a
    tooltip or the CSV. A value that is not a number is shown as it is.
    """
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)
    if not amount.is_finite():
        return str(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    unit = 0
    # Compare the rounded figure, so 1023.7 B reads 1.00 KiB rather than 1024 B.
    while round(amount, _decimals(amount, unit)) >= 1024 and unit < len(BYTE_UNITS) - 1:
        amount /= 1024
        unit += 1
    return f"{sign}{amount:.{_decimals(amount, unit)}f} {BYTE_UNITS[unit]}"


def _decimals(amount: Decimal, unit: int) -> int:
    if unit == 0:
        return 0
    return 2 if amount < 10 else 1 if amount < 100 else 0
