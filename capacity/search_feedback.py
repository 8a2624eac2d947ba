"""Online relevance signals from the search page: searches shown and the result opened first.

When the search page shows results it asks :func:`issue_click_token` for a signed token that
names the tenant, how many results were shown and a random id, and counts one search shown.
A click on a result posts the token and the result's rank (the beacon view in
:mod:`capacity.views`); :func:`record_click` checks both and counts the search as clicked,
with the reciprocal rank of that first click, once per token. Every count goes to the
tenant's per-minute usage counters (:mod:`capacity.counters`), so the flush task rolls them
up with the latency figures they are shown beside.

The token is what keeps the figures honest: a click can only credit a search this site
showed, for the tenant whose site it was shown on, at a rank that existed, and only once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection
from django.utils import timezone

from capacity import counters
from capacity.exceptions import InvalidSearchFeedback

logger = logging.getLogger(__name__)

TOKEN_SALT = "capacity.search-feedback"  # noqa: S105 -- a signing namespace, not a secret
# A results page left open longer than this no longer credits clicks; the claim marker in
# Redis lives as long, so a token cannot be replayed after its marker has expired.
TOKEN_MAX_AGE_SECONDS = 24 * 3600
# Issued tokens are ~120 characters; anything far longer is not one of ours.
MAX_TOKEN_LENGTH = 400


@dataclass(frozen=True)
class ShownSearch:
    """What a valid token says about the search it was issued for."""

    tenant_id: int
    result_count: int
    search_id: str


def issue_click_token(tenant_id: int, *, result_count: int, at: datetime | None = None) -> str:
    """Count one search shown with ``result_count`` results and return its click token.

    Side effects: one Redis write (dropped when Redis is unreachable; the token still works,
    so a click may then count without its search, which only overstates the click rate for
    that outage).
    """
    search_id = secrets.token_urlsafe(12)
    counters.write_usage(tenant_id, at or timezone.now(), increments={"shown": 1})
    return signing.dumps({"t": tenant_id, "n": result_count, "s": search_id}, salt=TOKEN_SALT)


def click_token_for_page(result_count: int) -> str | None:
    """Return a click token for a results page of the current tenant's site, counting the
    search as shown; None when nothing was shown (or outside a tenant site)."""
    tenant = getattr(connection, "tenant", None)
    if result_count < 1 or tenant is None or connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return None
    return issue_click_token(int(tenant.pk), result_count=result_count)


def read_click_token(token: str, *, tenant_id: int) -> ShownSearch:
    """Return the search a token was issued for on this tenant's site.

    Raise :class:`InvalidSearchFeedback` when the token is malformed, expired, or was issued
    on another tenant's site (which is reported like a malformed one).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidSearchFeedback(
            "A click needs the token the search page gave you; none (or garbage) was sent.",
            field="token",
        )
    try:
        payload: Any = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise InvalidSearchFeedback(
            "This results page is too old to record clicks; search again.", field="token"
        ) from exc
    except signing.BadSignature as exc:
        raise InvalidSearchFeedback(
            "The click token is not valid; send the token the search page gave you.",
            field="token",
        ) from exc
    if not isinstance(payload, dict) or payload.get("t") != tenant_id:
        raise InvalidSearchFeedback(
            "The click token is not valid; send the token the search page gave you.",
            field="token",
        )
    return ShownSearch(
        tenant_id=int(payload["t"]), result_count=int(payload["n"]), search_id=str(payload["s"])
    )


def parse_rank(raw: object, *, result_count: int) -> int:
    """Return the 1-based rank of the opened result; raise InvalidSearchFeedback if absent,
    not a whole number, or beyond the results that were shown."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or not 1 <= int(text) <= result_count:
        raise InvalidSearchFeedback(
            f"rank must be a whole number from 1 to {result_count} (the results shown), "
            f"got {text[:20]!r}.",
            field="rank",
        )
    return int(text)


def record_click(tenant_id: int, *, token: str, rank: object, at: datetime | None = None) -> bool:
    """Validate a result click and count it if it is the first for its search.

    Return True when the click was counted, False when its search already had one (or Redis
    could not be reached). Raise :class:`InvalidSearchFeedback` for a bad token or rank.
    """
    shown = read_click_token(token, tenant_id=tenant_id)
    position = parse_rank(rank, result_count=shown.result_count)
    claimed = counters.claim_once(
        f"click:{tenant_id}:{shown.search_id}", ttl_seconds=TOKEN_MAX_AGE_SECONDS
    )
    if not claimed:
        return False
    written = counters.write_usage(
        tenant_id,
        at or timezone.now(),
        increments={"clicked": 1},
        float_increments={"rr": 1.0 / position},
    )
    logger.debug(
        "capacity.search_feedback.first_click",
        extra={"tenant_id": tenant_id, "rank": position, "written": written},
    )
    return written
