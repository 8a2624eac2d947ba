"""Assemble the costs page: showback and recommendations, measured and generated apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from billing.models import PriceBook
from billing.recommendations import Recommendation, recommendations
from billing.selectors import current_price_book
from billing.showback import ShowbackLine, showback
from capacity.coefficients import fitted_coefficients
from capacity.models import Resolution, Source
from capacity.selectors import Scope, usage_rows


@dataclass
class CostReport:
    price_book: PriceBook
    showback: dict[str, list[ShowbackLine]]
    totals: dict[str, Decimal]
    recommendations: dict[str, list[Recommendation]] = field(default_factory=dict)


def has_generated_history(scope: Scope) -> bool:
    return usage_rows(scope, resolution=Resolution.HOUR, source=Source.GENERATED).exists()


def build_cost_report(scope: Scope, *, now: datetime | None = None) -> CostReport:
    """Return showback and recommendations per source (measured always; generated only when
    demo history exists), all priced with the current price book."""
    now = now or timezone.now()
    prices = current_price_book()
    coefficients = fitted_coefficients(scope, now=now)
    sources = [Source.MEASURED.value]
    if has_generated_history(scope):
        sources.append(Source.GENERATED.value)
    lines = {
        source: showback(scope, coefficients, prices, source=source, now=now) for source in sources
    }
    return CostReport(
        price_book=prices,
        showback=lines,
        totals={
            source: sum((line.amount for line in found), Decimal(0))
            for source, found in lines.items()
        },
        recommendations={
            source: recommendations(scope, coefficients, prices, source=source, now=now)
            for source in sources
        },
    )


def top_recommendations(scope: Scope, *, limit: int = 3) -> list[Recommendation]:
    """Return the largest measured-evidence recommendations for the dashboard."""
    prices = current_price_book()
    return recommendations(scope, fitted_coefficients(scope), prices)[:limit]
