"""The dashboard's relevance panel: offline benchmark runs beside the scope's own searches.

One function feeds both the server-rendered panel and its JSON refresh, so the numbers on
first paint and after every refresh come from the same code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from capacity.evaluation_runs import latest_runs
from capacity.online_relevance import online_relevance
from capacity.selectors import Scope


def relevance_panel(scope: Scope, *, now: datetime | None = None) -> dict[str, Any]:
    """Return ``{"scope", "online": {...}, "offline": {...}}`` for the scope.

    ``offline`` is platform-wide (benchmark corpus, not the tenant's code); ``online`` holds
    only the scope's own searches.
    """
    return {
        "scope": scope.label,
        "online": online_relevance(scope, now=now),
        "offline": latest_runs(),
    }
