"""Bind a scope-taking view to who may see it: a tenant's admins or the platform's operators.

The dashboards of capacity/ and billing/ are written once against a :class:`Scope`; these
wrappers decide the scope from the request's site, never from request data.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse

from capacity.selectors import operator_scope, tenant_scope
from tenants.accounts.decorators import admin_required

View = Callable[..., HttpResponse]


def for_tenant_admins(view: View, **extra: object) -> View:
    """Serve ``view`` on a tenant's site, scoped to that tenant, to its admins only."""

    @admin_required
    def wrapped(request: HttpRequest) -> HttpResponse:
        return view(request, tenant_scope(), **extra)

    return wrapped


def for_operators(view: View, **extra: object) -> View:
    """Serve ``view`` on the public site, across all tenants, to staff users only."""

    @staff_member_required
    def wrapped(request: HttpRequest) -> HttpResponse:
        return view(request, operator_scope(), **extra)

    return wrapped
