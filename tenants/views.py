"""Pages of the public site (signup) and the tenant's account pages (members, tokens)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.exceptions import PortalError
from tenants.accounts import services as accounts
from tenants.accounts.decorators import admin_required, member_required
from tenants.accounts.models import ApiToken, Invitation, Role
from tenants.models import Tenant
from tenants.services.signup import sign_up
from tenants.tiers import TIERS


def _port_suffix() -> str:
    return "" if settings.PORTAL_PORT in (80, 443) else f":{settings.PORTAL_PORT}"


def signup_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"tiers": TIERS.values(), "form": {}, "error": None, "field": None}
    if request.method == "POST":
        context["form"] = request.POST
        try:
            result = sign_up(
                name=request.POST.get("name", ""),
                slug=request.POST.get("slug", ""),
                admin_email=request.POST.get("admin_email", ""),
                password=request.POST.get("password", ""),
                tier=request.POST.get("tier", "free"),
            )
        except PortalError as exc:
            context.update(error=exc.message, field=exc.field)
            return render(request, "tenants/signup.html", context, status=exc.status_code)
        # The token is shown on this response only; it is never stored in plaintext.
        return render(
            request,
            "tenants/signup_done.html",
            {
                "tenant": result.tenant,
                "api_token": result.api_token,
                "url": f"http://{result.domain}{_port_suffix()}/",
            },
        )
    return render(request, "tenants/signup.html", context)


def signup_status_page(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant.objects.exclude(schema_name="public"), slug=slug)
    domain = tenant.domains.filter(is_primary=True).first()
    return render(
        request,
        "tenants/signup_status.html",
        {"tenant": tenant, "url": f"http://{domain.domain}{_port_suffix()}/" if domain else ""},
    )


@admin_required
def members_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"error": None, "invite_url": None}
    status = 200
    if request.method == "POST":
        try:
            token = accounts.invite_member(
                email=request.POST.get("email", ""),
                role=request.POST.get("role", Role.MEMBER),
                invited_by=request.user,
            )
            context["invite_url"] = request.build_absolute_uri(f"/invite/{token}/")
        except PortalError as exc:
            context["error"] = exc.message
            status = exc.status_code
    context.update(
        members=get_user_model().objects.select_related("membership").order_by("username"),
        invitations=Invitation.objects.filter(accepted_at__isnull=True),
        roles=Role.choices,
    )
    return render(request, "accounts/members.html", context, status=status)


@require_POST
@admin_required
def change_role(request: HttpRequest, user_id: int) -> HttpResponse:
    try:
        accounts.set_member_role(
            user_id=user_id, role=request.POST.get("role", ""), acting_user=request.user
        )
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return redirect("accounts:members")


@member_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"error": None, "new_token": None}
    status = 200
    if request.method == "POST":
        try:
            _, context["new_token"] = accounts.create_api_token(
                user=request.user, name=request.POST.get("name", "")
            )
        except PortalError as exc:
            context["error"] = exc.message
            status = exc.status_code
    tokens = ApiToken.objects.select_related("user")
    if not request.user.membership.is_admin:
        tokens = tokens.filter(user=request.user)
    context["tokens"] = tokens
    return render(request, "accounts/tokens.html", context, status=status)


@require_POST
@member_required
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        accounts.revoke_api_token(token_id=token_id, acting_user=request.user)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return redirect("accounts:tokens")


def accept_invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    error = None
    status = 200
    if request.method == "POST":
        try:
            user = accounts.accept_invitation(
                token=token, password=request.POST.get("password", "")
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("search:home")
        except PortalError as exc:
            error = exc.message
            status = exc.status_code
    return render(request, "accounts/accept_invite.html", {"error": error}, status=status)
