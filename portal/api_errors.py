"""How API error bodies look, for the OpenAPI schema.

``portal.api.exception_handler`` produces two shapes: ``{"detail": ..., "code": ...}`` for a
request-level error (with extra keys for some, e.g. the quota and limit of a quota error), and
``{"<field>": ["message", ...]}`` for invalid input. Views declare which statuses they can
answer with :func:`error_responses`, so clients see every status in the schema.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiErrorSerializer(serializers.Serializer):
    """A request-level error; some codes add keys (a quota error names its quota and limit)."""

    detail = serializers.CharField(help_text="What went wrong and what to do next.")
    code = serializers.CharField(help_text="Stable snake_case code, e.g. `job_already_running`.")


class ValidationErrorSerializer(serializers.Serializer):
    """Invalid input: each invalid field maps to its messages (``{"q": ["..."]}``), errors
    about the input as a whole are under ``non_field_errors``, and a body that cannot be
    parsed gets ``detail`` and ``code``."""

    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    detail = serializers.CharField(required=False)
    code = serializers.CharField(required=False)


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request is invalid; the body says which field and how to fix it.",
    401: "No API token, or an unknown or revoked one: send `Authorization: Bearer <token>`.",
    403: "The token's member may not do this (admins only), or a plan quota is exhausted.",
    404: "No such object in this tenant.",
    409: "Conflicts with work in progress, e.g. an index job already running for it.",
    413: "The request body is larger than the portal accepts (`MAX_UPLOAD_BYTES`).",
    429: "A rate limit or concurrency limit was reached; retry after `Retry-After` seconds.",
    503: "A backing service (vector store, Redis, git host) is unavailable; retry later.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Return ``extend_schema`` responses for these error statuses, with their body shape."""
    unknown = sorted(set(statuses) - set(ERROR_DESCRIPTIONS))
    if unknown:
        raise ValueError(f"No description for error statuses {unknown}; add them above.")
    return {
        status: OpenApiResponse(
            response=ValidationErrorSerializer if status == 400 else ApiErrorSerializer,
            description=ERROR_DESCRIPTIONS[status],
        )
        for status in statuses
    }
