"""The page for a host that belongs to no tenant (a typo, or a tenant that was deleted)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from portal.security import CONTENT_SECURITY_POLICY


def public_site_url(request: HttpRequest, path: str = "/") -> str:
    """Return ``path`` on the public site, with the scheme and port of this request."""
    _, _, port = request.get_host().partition(":")
    default_port = "443" if request.is_secure() else "80"
    netloc = settings.PORTAL_BASE_DOMAIN + (f":{port}" if port and port != default_port else "")
    return f"{request.scheme}://{netloc}{path}"


def unknown_host_page(request: HttpRequest, hostname: str) -> HttpResponse:
    """Render a 404 that names the host and links to signup on the public site.

    Runs inside the tenant middleware, before the security and CSP middleware, so their
    headers are set here.
    """
    signup_url = public_site_url(request, reverse("signup", urlconf="portal.urls_public"))
    response = render(
        request,
        "unknown_host.html",
        {
            "hostname": hostname,
            "signup_url": signup_url,
            # No tenant and no public-site navigation: every relative link would land here again.
            "current_tenant": None,
            "is_public_site": False,
        },
        status=404,
    )
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    return response
