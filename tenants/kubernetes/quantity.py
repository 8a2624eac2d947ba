"""Parse Kubernetes resource quantities ("250m", "512Mi", "2") into exact numbers.

Only the ``kubernetes`` client adapter may import the ``kubernetes`` package, and profile
consistency checks run without it, so this small parser covers the quantity grammar we use:
an unsigned decimal number followed by an optional binary (Ki..Ei), decimal (k..E) or milli
(m) suffix. Decimal exponents ("1e3") are not used in our profiles and are rejected.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY_RE = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>[a-zA-Z]{0,2})$")


def parse_quantity(value: str | int) -> Decimal:
    """Return the exact value of a quantity (cores for CPU, bytes for memory and storage).

    Raise :class:`ValueError` naming the value when it is not a quantity this parser knows.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    match = _QUANTITY_RE.match(str(value))
    if match is None or match.group("suffix") not in _SUFFIX_FACTORS:
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as '250m' or '512Mi'")
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from exc
    return number * _SUFFIX_FACTORS[match.group("suffix")]


def is_quantity(value: object) -> bool:
    """Return whether ``value`` is a string this module can parse as a quantity."""
    if not isinstance(value, str):
        return False
    try:
        parse_quantity(value)
    except ValueError:
        return False
    return True
