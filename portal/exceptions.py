"""The error base shared by every app.

Each app subclasses :class:`PortalError` in its own ``exceptions.py``. The API exception handler
and the htmx error partial both render ``code``, ``status_code`` and the message, so an error
raised deep in a service reaches the user with a stable code and a message that says what to do.
"""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    """An expected failure with a stable snake_case code and an HTTP status."""

    code: str = "portal_error"
    status_code: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        field: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.field = field
        self.data = data or {}

    def __str__(self) -> str:
        return self.message


class ServiceUnavailable(PortalError):
    """A backing service (database, Redis, Qdrant, Kubernetes) cannot be reached."""

    code = "service_unavailable"
    status_code = 503
