from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.accounts.permissions import is_tenant_admin, is_tenant_member

View = Callable[..., HttpResponse]


def member_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_tenant_member(request.user):
            return render(
                request,
                "error.html",
                {"message": "You are not a member of this tenant."},
                status=403,
            )
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_tenant_admin(request.user):
            return render(
                request,
                "error.html",
                {"message": "Only tenant admins may open this page; ask an admin of your tenant."},
                status=403,
            )
        return view(request, *args, **kwargs)

    return wrapper
