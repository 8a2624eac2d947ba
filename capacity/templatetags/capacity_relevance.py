"""Template helpers of the relevance panel (templates/capacity/_relevance.html)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template

from capacity.relevance_dashboard import relevance_panel as build_relevance_panel
from capacity.selectors import Scope

register = template.Library()

MISSING = "\u2013"  # an en dash


@register.simple_tag
def relevance_panel(scope: Scope) -> dict[str, Any]:
    """Return the panel's data for ``scope`` (use as ``{% relevance_panel scope as x %}``)."""
    return build_relevance_panel(scope)


@register.filter
def as_percent(value: float | None) -> str:
    """0.1234 -> "12.3 %"; None (no denominator) -> a dash."""
    return MISSING if value is None else f"{value * 100:.1f} %"


@register.filter
def as_score(value: float | None) -> str:
    """A metric between 0 and 1 with three decimals; None -> a dash."""
    return MISSING if value is None else f"{value:.3f}"


@register.filter
def as_ms(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f} ms"


@register.filter
def as_utc_minute(value: str) -> str:
    """An ISO timestamp (as in the panel's JSON) -> "2026-12-04 18:50 UTC"."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return MISSING
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    """Look up a key that is not a valid template variable name (e.g. "24h")."""
    return mapping.get(key) if isinstance(mapping, dict) else None
