"""404 answers that match what the client speaks: JSON under ``/api/``, HTML elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a URL that matched no route (the ``handler404`` of both URLconfs).

    API clients get the ``{"detail", "code"}`` body the schema documents for 404, e.g. for
    ``/api/v1/jobs/abc/``, whose id is not a number; pages keep Django's page.
    """
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {
                "detail": "No API endpoint or object at this path; the endpoints and their "
                "parameters are listed at /api/v1/docs/.",
                "code": "not_found",
            },
            status=404,
        )
    return defaults.page_not_found(request, exception)
