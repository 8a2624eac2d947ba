"""Middleware that binds the log context for each request and routes hosts to tenants."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from portal import logging as log_context
from portal.unknown_host import unknown_host_page


class RequestContextMiddleware:
    """Give each request an id and make sure no context leaks into the next request.

    The context is cleared when the next request starts, not when this one's middleware
    returns: Django logs 4xx/5xx responses (``django.request``) after the middleware chain has
    unwound, and writes deferred until after the response (:mod:`portal.after_response`) run
    later still; both belong to this request and its tenant.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        log_context.clear()
        request_id = uuid.uuid4().hex[:16]
        log_context.bind(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class TenantLogContextMiddleware:
    """Runs after the tenant middleware: stamp the resolved schema on every record."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        log_context.bind(tenant=connection.schema_name)
        return self.get_response(request)


class ProbeMiddleware:
    """Answer ``/health`` and ``/ready`` before the tenant is resolved from the host.

    Orchestrators probe pods by IP address, which is no tenant's domain; the probes must not
    depend on the host (and liveness must not depend on the database).
    """

    PATHS = {"/health", "/ready"}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in self.PATHS:
            from portal import health

            return health.health(request) if request.path == "/health" else health.ready(request)
        return self.get_response(request)


class TenantHostMiddleware(TenantMainMiddleware):
    """django-tenants' routing by host, with hosts compared case-insensitively.

    Host names are case-insensitive (RFC 4343) but domain rows are matched exactly, so the
    host is lower-cased before the lookup (signup stores domains in lower case). A host that
    belongs to no tenant gets a friendly 404 page, also under DEBUG.
    """

    @staticmethod
    def hostname_from_request(request: HttpRequest) -> str:
        return str(remove_www(request.get_host().split(":")[0].lower()))

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse | None:
        if request.path.startswith(settings.STATIC_URL):
            # The unknown-host page links its stylesheet on the same host: let the static
            # files middleware further down serve it from the public site.
            self.setup_url_routing(request, force_public=True)
            return None
        return unknown_host_page(request, hostname)
