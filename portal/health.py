"""Liveness (``/health``) and readiness (``/ready``) probes."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from redis.exceptions import RedisError

from portal.exceptions import PortalError

logger = logging.getLogger(__name__)


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    """Check PostgreSQL, Redis and the vector store; 503 names whichever is down."""
    from search.vector_store import get_vector_store

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    try:
        cache.get("ready-probe")
        checks["redis"] = "ok"
    except (RedisError, OSError) as exc:
        checks["redis"] = f"unavailable: {exc.__class__.__name__}"
    try:
        get_vector_store().health()
        checks["vector_store"] = "ok"
    except PortalError as exc:
        checks["vector_store"] = f"unavailable: {exc.message}"
    is_ready = all(value == "ok" for value in checks.values())
    if not is_ready:
        logger.warning("portal.ready.failed", extra=checks)
    return JsonResponse({"ready": is_ready, "checks": checks}, status=200 if is_ready else 503)
