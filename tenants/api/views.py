from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api_errors import error_responses
from portal.ratelimit.throttles import SignupAddressThrottle
from tenants.api.serializers import (
    SignupResponseSerializer,
    SignupSerializer,
    TenantStatusSerializer,
)
from tenants.models import Tenant
from tenants.services.signup import sign_up


class SignupView(APIView):
    """Create a tenant: its schema, search storage, namespace, first admin and API token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [SignupAddressThrottle]

    @extend_schema(
        request=SignupSerializer,
        responses={202: SignupResponseSerializer, **error_responses(400, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        serializer = SignupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = sign_up(**serializer.validated_data)
        result.tenant.refresh_from_db()
        port = "" if settings.PORTAL_PORT in (80, 443) else f":{settings.PORTAL_PORT}"
        body = {
            "tenant": TenantStatusSerializer(result.tenant).data,
            "domain": result.domain,
            "url": f"http://{result.domain}{port}/",
            "status_url": request.build_absolute_uri(f"/api/v1/signup/{result.tenant.slug}/"),
            "api_token": result.api_token,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SignupStatusView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: TenantStatusSerializer, **error_responses(404)})
    def get(self, request: Request, slug: str) -> Response:
        tenant = Tenant.objects.exclude(schema_name="public").filter(slug=slug).first()
        if tenant is None:
            raise NotFound(f"No tenant has the slug {slug!r}; check the status_url of the signup.")
        return Response(TenantStatusSerializer(tenant).data)
