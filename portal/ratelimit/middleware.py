"""Apply rate limits to server-rendered pages that are not DRF views.

The API views declare DRF throttles; the HTML signup form and the search page reach the same
counters through this table, so a client cannot avoid a limit by switching from the API to the
form. Login has its own view (``tenants.accounts.security_views``) because a successful login
gives its hits back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.ratelimit import limiter, policies
from portal.ratelimit.exceptions import RateLimited, RateLimitUnavailable
from portal.ratelimit.subjects import address_subject, tenant_key
from tenants.tiers import get_tier

Rule = Callable[[HttpRequest], tuple[policies.Policy, str] | None]


def _signup_form(request: HttpRequest) -> tuple[policies.Policy, str] | None:
    if request.method != "POST":
        return None
    return policies.get_policy(policies.SIGNUP_ADDRESS), address_subject(request)


def _search_page(request: HttpRequest) -> tuple[policies.Policy, str] | None:
    # Only signed-in members spend the tenant's budget: an anonymous visitor is redirected to
    # the login page, and must not be able to exhaust a tenant's searches for its members.
    if not request.GET.get("q", "").strip() or not request.user.is_authenticated:
        return None
    tier = get_tier(request.tenant.tier)  # type: ignore[attr-defined]
    rate = policies.Rate(count=tier.search_requests_per_minute, period_seconds=60)
    return policies.get_policy(policies.SEARCH_TENANT, rate=rate), "tenant"


# URL name -> rule. URL names are unique within each URLconf (public and tenant).
ROUTE_RULES: dict[str, Rule] = {
    "signup": _signup_form,
    "search:home": _search_page,
}


def limit_response(request: HttpRequest, exc: RateLimited | RateLimitUnavailable) -> HttpResponse:
    """Render the error page with the limit's status and a ``Retry-After`` header."""
    response = render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    response["Retry-After"] = str(exc.retry_after_seconds)
    return response


class RateLimitMiddleware:
    """Must run after the tenant and authentication middleware (it reads both)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        rule = ROUTE_RULES.get(match.view_name) if match is not None else None
        limit = rule(request) if rule is not None else None
        if limit is None:
            return None
        policy, subject = limit
        try:
            decision = limiter.hit(policy, tenant=tenant_key(), subject=subject)
        except RateLimitUnavailable as exc:
            return limit_response(request, exc)
        if decision.is_allowed:
            return None
        return limit_response(
            request,
            RateLimited(
                f"Too many requests ({policy.rate}); try again in "
                f"{decision.retry_after_seconds} seconds.",
                retry_after_seconds=decision.retry_after_seconds,
            ),
        )
