"""REST counterpart of the search page's click beacon: which result rank a client opened."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from capacity.search_feedback import MAX_TOKEN_LENGTH, record_click
from portal.api_errors import error_responses
from portal.ratelimit.throttles import ApiTokenThrottle
from tenants.accounts.permissions import IsTenantMember


class SearchFeedbackSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=MAX_TOKEN_LENGTH,
        help_text="The click token issued with the results (the search page's `data-token`).",
    )
    rank = serializers.IntegerField(
        min_value=1, help_text="1-based position of the result opened, within those shown."
    )


class SearchFeedbackView(APIView):
    """Record the rank of the result opened for a search; only the first per search counts."""

    permission_classes = [IsTenantMember]
    # Per-token limit only: feedback must not spend the tenant's search budget.
    throttle_classes = [ApiTokenThrottle]

    @extend_schema(
        request=SearchFeedbackSerializer,
        responses={204: None, **error_responses(400, 401, 403, 429)},
        description=(
            "Counts toward the tenant's click-through rate and mean reciprocal rank of the "
            "first click (dashboard: /manage/performance/). Repeated clicks for the same "
            "token answer 204 and are not counted again."
        ),
    )
    def post(self, request: Request) -> Response:
        body = SearchFeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record_click(
            int(connection.tenant.pk),
            token=body.validated_data["token"],
            rank=str(body.validated_data["rank"]),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
