"""Who is calling (the client address a trusted proxy vouches for) and browser hardening (CSP).

``X-Forwarded-For`` is only believed when the request comes from a proxy listed in
``settings.TRUSTED_PROXIES``; otherwise any client could name any address and escape its rate
limit or forge the address in the audit log.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 -- a placeholder value, never bound

_current_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_client_address", default=None
)

# No inline script or style anywhere: the templates load static files only. Two kinds of page
# may use inline styles (never scripts): Swagger UI, whose page carries one fixed <style> block
# and whose React code sets style attributes (its script is a separate file,
# SpectacularSwaggerSplitView), and the chart pages, where Plotly injects its stylesheet.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
API_DOCS_PATH = "/api/v1/docs/"
INLINE_STYLE_PATH_PREFIXES = (
    API_DOCS_PATH,
    "/manage/performance/",
    "/manage/capacity/",
    "/operator/",
)


def parse_address(text: str) -> IPAddress | None:
    """Parse one address as proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted_networks() -> list[IPNetwork]:
    networks: Iterable[IPNetwork | str] = getattr(settings, "TRUSTED_PROXIES", [])
    return [ipaddress.ip_network(network, strict=False) for network in networks]


def _is_trusted(address: IPAddress, networks: list[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(request: HttpRequest) -> str:
    """Return the caller's address: ``REMOTE_ADDR`` unless a trusted proxy forwarded it.

    From a trusted proxy, walk ``X-Forwarded-For`` from the right (the end our proxies
    appended) and take the first address that is not itself a trusted proxy; everything left
    of it was written by the client and is ignored. Never raises; an unparseable peer gives
    ``0.0.0.0``.
    """
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return UNKNOWN_ADDRESS
    networks = _trusted_networks()
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _is_trusted(peer, networks):
        return str(peer)
    nearest = peer
    for entry in reversed(forwarded.split(",")):
        hop = parse_address(entry)
        if hop is None:
            # Our proxies write valid addresses, so garbage came from the client: stop at
            # the last hop a trusted proxy vouched for.
            break
        if not _is_trusted(hop, networks):
            return str(hop)
        nearest = hop
    return str(nearest)


def current_client_address() -> str | None:
    """The address of the request being served in this context, or None (tasks, commands)."""
    return _current_address.get()


class ClientAddressMiddleware:
    """Resolve the client address once per request: ``request.client_address`` and context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        address = client_address(request)
        request.client_address = address  # type: ignore[attr-defined]
        token = _current_address.set(address)
        try:
            return self.get_response(request)
        finally:
            _current_address.reset(token)


class ContentSecurityPolicyMiddleware:
    """Send a Content-Security-Policy header that forbids inline and third-party code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            policy = (
                API_DOCS_CONTENT_SECURITY_POLICY
                if request.path.startswith(INLINE_STYLE_PATH_PREFIXES)
                else CONTENT_SECURITY_POLICY
            )
            response["Content-Security-Policy"] = policy
        return response


class RequestSizeLimitMiddleware:
    """Refuse bodies over the limit with 413 before anything reads them.

    Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when ``request.body`` or
    ``request.POST`` is read; DRF's parsers read the raw stream, so without this check a JSON
    body of any size is loaded and parsed. Multipart uploads may be as large as
    ``SEARCH["MAX_UPLOAD_BYTES"]`` (plus room for the form fields); Django spools them to disk.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = self._limit(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            message = (
                f"The request body is {length} bytes; the limit here is {limit} bytes. "
                "Send less data, or upload source as an archive."
            )
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message, "code": "request_too_large"}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _limit(request: HttpRequest) -> int | None:
        form_limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if form_limit is None:
            return None
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            return int(settings.SEARCH["MAX_UPLOAD_BYTES"]) + form_limit
        return form_limit
