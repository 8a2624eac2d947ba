from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(connection, "tenant", None)
    is_public = connection.schema_name == settings.PUBLIC_SCHEMA_NAME
    return {
        "current_tenant": None if is_public else tenant,
        "is_public_site": is_public,
        "base_domain": settings.PORTAL_BASE_DOMAIN,
    }
