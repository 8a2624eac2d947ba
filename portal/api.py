"""The single place that turns exceptions into API error bodies."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.exceptions import PortalError

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render :class:`PortalError` in DRF's shape; leave everything else to DRF."""
    if isinstance(exc, PortalError):
        if exc.field:
            body: dict[str, Any] = {exc.field: [exc.message]}
        else:
            body = {"detail": exc.message, "code": exc.code, **exc.data}
        if exc.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
            logger.warning("portal.api.service_error", extra={"code": exc.code})
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data.setdefault("code", getattr(detail, "code", "error"))
    return response
