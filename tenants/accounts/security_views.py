"""Account pages with a security role: throttled login and the audit log."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.ratelimit import limiter, policies
from portal.ratelimit.exceptions import RateLimited, RateLimitUnavailable
from portal.ratelimit.middleware import limit_response
from portal.ratelimit.subjects import account_subject, address_subject, tenant_key
from tenants import audit
from tenants.accounts.decorators import admin_required


def _login_limits(request: HttpRequest) -> list[tuple[policies.Policy, str]]:
    account = account_subject(request.POST.get("username", ""))
    address = address_subject(request)
    return [
        (policies.get_policy(policies.LOGIN_ACCOUNT_ADDRESS), f"{account}:{address}"),
        (policies.get_policy(policies.LOGIN_ACCOUNT), account),
        (policies.get_policy(policies.LOGIN_ADDRESS), address),
    ]


class ThrottledLoginView(LoginView):
    """Django's login, counting every attempt before the password is checked.

    Each POST takes one hit from three budgets (account and address together, the account
    from anywhere, the address over any account) before authentication, so parallel guesses
    can never exceed a limit. A successful login gives its hits back, so only failures
    accumulate. Redis down: refuse with 503 rather than allow unlimited guessing.
    """

    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        limits = _login_limits(request)
        try:
            for policy, subject in limits:
                decision = limiter.hit(policy, tenant=tenant_key(), subject=subject)
                if not decision.is_allowed:
                    raise RateLimited(
                        "Too many failed logins; wait "
                        f"{_minutes(decision.retry_after_seconds)} and try again, or ask an "
                        "admin of your tenant to reset your password.",
                        retry_after_seconds=decision.retry_after_seconds,
                    )
        except (RateLimited, RateLimitUnavailable) as exc:
            return limit_response(request, exc)
        self._limits = limits
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        for policy, subject in self._limits:
            if policy.name == policies.LOGIN_ADDRESS:
                # Other accounts' failures from this address stay counted.
                limiter.refund(policy, tenant=tenant_key(), subject=subject)
            else:
                limiter.reset(policy, tenant=tenant_key(), subject=subject)
        return super().form_valid(form)


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@admin_required
def audit_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/audit.html", {"events": audit.latest_events()})
