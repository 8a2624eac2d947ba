"""Errors raised when a rate limit denies a request or cannot be checked."""

from __future__ import annotations

from portal.exceptions import PortalError


class RateLimited(PortalError):
    """The caller went over a limit; ``retry_after_seconds`` says when to try again."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RateLimitUnavailable(PortalError):
    """Redis is unreachable and the policy fails closed (signup, login)."""

    code = "rate_limit_unavailable"
    status_code = 503

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
