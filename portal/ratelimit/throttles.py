"""DRF throttles backed by :mod:`portal.ratelimit.limiter`.

A denied request raises :class:`ApiRateLimited` straight from ``allow_request``, so the body is
``{"detail": ..., "code": "rate_limited"}`` and the response carries ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from portal.ratelimit import limiter, policies
from portal.ratelimit.exceptions import RateLimitUnavailable
from portal.ratelimit.subjects import address_subject, tenant_key
from tenants.accounts.models import ApiToken
from tenants.tiers import get_tier


class ApiRateLimited(exceptions.Throttled):
    default_code = "rate_limited"

    def __init__(self, detail: str, *, wait: int) -> None:
        exceptions.APIException.__init__(self, detail, self.default_code)
        self.wait = wait


class ApiRateLimitUnavailable(ApiRateLimited):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "rate_limit_unavailable"


class PolicyThrottle(BaseThrottle):
    """Count one hit against :meth:`get_policy` for :meth:`get_subject`; None skips."""

    # What the caller is told it went over, e.g. "this API token".
    subject_label = "this client"

    def get_policy(self, request: Request) -> policies.Policy:
        raise NotImplementedError("PolicyThrottle subclasses return the policy to apply.")

    def get_subject(self, request: Request) -> str | None:
        raise NotImplementedError("PolicyThrottle subclasses return the subject to count.")

    def allow_request(self, request: Request, view: Any) -> bool:
        subject = self.get_subject(request)
        if subject is None:
            return True
        policy = self.get_policy(request)
        try:
            decision = limiter.hit(policy, tenant=tenant_key(), subject=subject)
        except RateLimitUnavailable as exc:
            raise ApiRateLimitUnavailable(exc.message, wait=exc.retry_after_seconds) from exc
        if not decision.is_allowed:
            raise ApiRateLimited(
                f"Rate limit for {self.subject_label} reached ({policy.rate}); "
                f"retry in {decision.retry_after_seconds} seconds.",
                wait=decision.retry_after_seconds,
            )
        return True


class ApiTokenThrottle(PolicyThrottle):
    """Requests per API token (only requests authenticated with a token are counted)."""

    subject_label = "this API token"

    def get_policy(self, request: Request) -> policies.Policy:
        return policies.get_policy(policies.API_TOKEN)

    def get_subject(self, request: Request) -> str | None:
        token = request.auth
        return f"token:{token.pk}" if isinstance(token, ApiToken) else None


class TenantSearchThrottle(PolicyThrottle):
    """Searches per tenant per minute, from the tenant's tier; counts every member and token."""

    subject_label = "this tenant's plan"

    def get_policy(self, request: Request) -> policies.Policy:
        tier = get_tier(connection.tenant.tier)
        rate = policies.Rate(count=tier.search_requests_per_minute, period_seconds=60)
        return policies.get_policy(policies.SEARCH_TENANT, rate=rate)

    def get_subject(self, request: Request) -> str | None:
        return "tenant"


class SignupAddressThrottle(PolicyThrottle):
    """Signups per client address (anonymous, public site)."""

    subject_label = "your address"

    def get_policy(self, request: Request) -> policies.Policy:
        return policies.get_policy(policies.SIGNUP_ADDRESS)

    def get_subject(self, request: Request) -> str | None:
        if request.method != "POST":
            return None
        return address_subject(request._request)
