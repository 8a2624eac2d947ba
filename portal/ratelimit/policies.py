"""Named limits: what is counted, how many per window, and what happens when Redis is down.

Rates come from ``settings.RATE_LIMITS["RATES"]`` (``"5/15m"`` means five per fifteen minutes)
with the defaults below, except the per-tenant search limit, which the tenant's tier sets
(``Tier.search_requests_per_minute``).

Failure direction when Redis cannot be reached:

- search and API-token limits **fail open**: they protect capacity, not secrets, and Redis
  being down already costs the search cache; refusing every search would turn a cache outage
  into a full outage. One warning is logged per outage.
- signup and login limits **fail closed** (503 with ``Retry-After``): they are the only brake
  on password guessing and signup abuse, and without a counter both become unlimited. Signed-in
  users keep working because sessions live in PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SIGNUP_ADDRESS = "signup_address"
LOGIN_ACCOUNT_ADDRESS = "login_account_address"
LOGIN_ACCOUNT = "login_account"
LOGIN_ADDRESS = "login_address"
API_TOKEN = "api_token"  # noqa: S105 -- a policy name, not a secret
SEARCH_TENANT = "search_tenant"

# Defaults, overridable per name in settings.RATE_LIMITS["RATES"].
DEFAULT_RATES: dict[str, str] = {
    # Signups from one address: provisioning a tenant is expensive.
    SIGNUP_ADDRESS: "10/h",
    # Login attempts on one account from one address, then from any address (a distributed
    # guess), then from one address over any account (spraying one password).
    LOGIN_ACCOUNT_ADDRESS: "5/15m",
    LOGIN_ACCOUNT: "50/h",
    LOGIN_ADDRESS: "30/15m",
    # Requests per API token across the tenant API, so one runaway CI job cannot use up the
    # tenant's whole search budget on its own.
    API_TOKEN: "300/m",
}
FAIL_OPEN = {API_TOKEN, SEARCH_TENANT}
KNOWN_SETTINGS = {"ENABLED", "RATES"}

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    period_seconds: int

    def __str__(self) -> str:
        return f"{self.count} per {self.period_seconds} s"


@dataclass(frozen=True)
class Policy:
    name: str
    rate: Rate
    # True: allow the request when Redis is unreachable; False: refuse it with 503.
    is_fail_open: bool


def parse_rate(text: str) -> Rate:
    """Parse ``"<count>/<n><unit>"`` (unit s, m, h or d; n defaults to 1), e.g. ``"5/15m"``.

    Raise :class:`ImproperlyConfigured` naming the accepted format.
    """
    match = _RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"Rate {text!r} in RATE_LIMITS is not valid; write e.g. '60/m' or '5/15m'."
        )
    multiplier = int(match.group(2) or "1")
    if multiplier < 1:
        raise ImproperlyConfigured(f"Rate {text!r} in RATE_LIMITS has a zero-length window.")
    return Rate(
        count=int(match.group(1)), period_seconds=multiplier * _UNIT_SECONDS[match.group(3)]
    )


def _config() -> dict[str, Any]:
    config: dict[str, Any] = getattr(settings, "RATE_LIMITS", {})
    unknown = set(config) - KNOWN_SETTINGS
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown RATE_LIMITS keys {sorted(unknown)}; use {sorted(KNOWN_SETTINGS)}."
        )
    rates = config.get("RATES", {})
    unknown_rates = set(rates) - set(DEFAULT_RATES)
    if unknown_rates:
        raise ImproperlyConfigured(
            f"Unknown RATE_LIMITS['RATES'] names {sorted(unknown_rates)}; "
            f"use {sorted(DEFAULT_RATES)}."
        )
    return config


def is_enabled() -> bool:
    return bool(_config().get("ENABLED", True))


def get_policy(name: str, *, rate: Rate | None = None) -> Policy:
    """Return the policy called ``name``; ``rate`` replaces the configured rate (tier limits).

    Raise :class:`ImproperlyConfigured` for an unknown name or a malformed rate.
    """
    if rate is None:
        if name not in DEFAULT_RATES:
            raise ImproperlyConfigured(f"No rate configured for rate-limit policy {name!r}.")
        rate = parse_rate(_config().get("RATES", {}).get(name, DEFAULT_RATES[name]))
    return Policy(name=name, rate=rate, is_fail_open=name in FAIL_OPEN)
