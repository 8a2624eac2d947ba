"""404 answers that match what the client speaks: JSON under ``/api/``, HTML elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults

API_PREFIX = "/api/"


def api_not_found() -> JsonResponse:
    """Return the ``{"detail", "code"}`` 404 the API schema documents."""
    return JsonResponse(
        {
            "detail": "No API endpoint or object at this path; the endpoints and their "
            "parameters are listed at /api/v1/docs/.",
            "code": "not_found",
        },
        status=404,
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a URL that matched no route (the ``handler404`` of both URLconfs).

    API clients get the ``{"detail", "code"}`` body the schema documents for 404, e.g. for
    ``/api/v1/jobs/abc/``, whose id is not a number; pages keep Django's page.
    """
    if request.path.startswith(API_PREFIX):
        return api_not_found()
    return defaults.page_not_found(request, exception)


class ApiNotFoundMiddleware:
    """Give unrouted ``/api/`` paths the JSON 404 with DEBUG on as well.

    With DEBUG, Django answers a URL that matches no route with its HTML debug page (which
    lists every URL pattern) and never calls ``handler404``. This replaces a 404 under
    ``/api/`` whose path resolves to no view; a view's own 404 (DRF's JSON, or its browsable
    page) is left alone, and pages keep Django's behaviour. It sits inside
    ``CommonMiddleware`` so a missing trailing slash is still redirected first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 404 or not request.path.startswith(API_PREFIX):
            return response
        try:
            resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
        except Resolver404:
            return api_not_found()
        return response
