"""``Authorization: Bearer <token>`` for the API, looked up in the current tenant's schema.

A token belongs to one tenant schema, so another tenant's token sent to this tenant's domain
is simply unknown here and fails with 401.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.accounts.models import ApiToken
from tenants.accounts.tokens import digests_match, parse_prefix


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        credentials = credentials.strip()
        prefix = parse_prefix(credentials)
        if prefix is None:
            raise exceptions.AuthenticationFailed(
                "Malformed API token: expected 'Authorization: Bearer csp_<prefix>_<secret>'."
            )
        token = (
            ApiToken.objects.select_related("user")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        if token is None or not digests_match(credentials, token.digest):
            raise exceptions.AuthenticationFailed(
                "Invalid or revoked API token for this tenant; create one on the API tokens page."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describe the bearer token in the OpenAPI schema."""

    target_class = "tenants.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the tenant's API tokens page: "
            "`Authorization: Bearer csp_<prefix>_<secret>`.",
        }
