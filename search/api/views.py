"""The tenant's search API: thin views over the search services."""

from __future__ import annotations

from typing import Any

from django.db import connection
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from capacity.search_feedback import issue_click_token
from portal.api_errors import error_responses
from portal.exceptions import PortalError
from portal.ratelimit.throttles import ApiTokenThrottle, TenantSearchThrottle
from search import selectors
from search.api.serializers import (
    IndexJobDetailSerializer,
    IndexJobSerializer,
    RepositoryCreateSerializer,
    RepositorySerializer,
    SearchParamsSerializer,
    SearchResponseSerializer,
)
from search.exceptions import INDEX_JOB_LIMIT_CODE, INDEX_JOB_LIMIT_RETRY_SECONDS
from search.services.indexing import get_job, start_index_job
from search.services.querying import search_code
from search.services.repositories import (
    delete_repository,
    get_repository,
    register_repository,
    start_resync,
)
from tenants.accounts.permissions import IsTenantAdmin, IsTenantMember


class JobLimitRetryAfter(APIView):
    """Base of the views that queue index jobs: a refusal for the plan's concurrent-job
    limit (429) carries ``Retry-After`` like the API's rate-limit 429s do."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, PortalError) and exc.code == INDEX_JOB_LIMIT_CODE:
            response["Retry-After"] = str(INDEX_JOB_LIMIT_RETRY_SECONDS)
        return response


class SearchView(APIView):
    permission_classes = [IsTenantMember]
    throttle_classes = [ApiTokenThrottle, TenantSearchThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="Query; supports repo:, "
                'path:, -path:, lang:, sym: and "exact phrases".',
            ),
            OpenApiParameter("limit", int, required=False, description="1-50, default 10."),
        ],
        responses={200: SearchResponseSerializer, **error_responses(400, 401, 403, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        response = search_code(
            query=params.validated_data["q"], limit=params.validated_data["limit"]
        )
        body = response.as_dict()
        # Clients that show the results send the opened rank back with this token
        # (POST /api/v1/search/feedback/), which feeds the tenant's click-through figures.
        body["feedback_token"] = (
            issue_click_token(connection.tenant.pk, result_count=len(response.results))
            if response.results
            else ""
        )
        # The body is already plain JSON types in the documented shape (the test suite checks
        # it against SearchResponseSerializer); running the serializer over it only copied it
        # field by field, ~0.7 ms for ten results.
        return Response(body)


class RepositoryListView(JobLimitRetryAfter):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):  # type: ignore[no-untyped-def]
        if self.request.method == "GET":
            return [IsTenantMember()]
        return [IsTenantAdmin()]

    @extend_schema(
        responses={200: RepositorySerializer(many=True), **error_responses(401, 403, 429)}
    )
    def get(self, request: Request) -> Response:
        return Response(RepositorySerializer(selectors.repositories(), many=True).data)

    @extend_schema(
        request=RepositoryCreateSerializer,
        responses={
            201: RepositorySerializer,
            **error_responses(400, 401, 403, 409, 413, 429, 503),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RepositoryCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        repository, job = register_repository(
            name=data["name"],
            archive=data.get("archive"),
            url=data.get("url", ""),
            branch=data.get("branch", ""),
            path=data.get("path", ""),
            ignore_patterns=data.get("ignore_patterns", ""),
            index=data.get("index", True),
            acting_user=request.user,
        )
        body: dict[str, Any] = dict(RepositorySerializer(repository).data)
        if job is not None:
            body["job"] = IndexJobSerializer(job).data
        return Response(body, status=status.HTTP_201_CREATED)


class RepositoryDetailView(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        if self.request.method == "GET":
            return [IsTenantMember()]
        return [IsTenantAdmin()]

    @extend_schema(responses={200: RepositorySerializer, **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, repository_id: int) -> Response:
        return Response(RepositorySerializer(get_repository(repository_id)).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404, 429, 503)})
    def delete(self, request: Request, repository_id: int) -> Response:
        delete_repository(repository_id=repository_id, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RepositoryIndexView(JobLimitRetryAfter):
    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        responses={202: IndexJobSerializer, **error_responses(401, 403, 404, 409, 429, 503)},
    )
    def post(self, request: Request, repository_id: int) -> Response:
        repository = get_repository(repository_id)
        job = start_index_job(repository=repository, acting_user=request.user)
        return Response(IndexJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class RepositorySyncView(JobLimitRetryAfter):
    """Fetch a git repository's branch and re-index what changed (files, not the whole repo)."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        responses={
            202: IndexJobSerializer,
            **error_responses(400, 401, 403, 404, 409, 429, 503),
        },
    )
    def post(self, request: Request, repository_id: int) -> Response:
        job = start_resync(repository_id=repository_id, acting_user=request.user)
        return Response(IndexJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailView(APIView):
    permission_classes = [IsTenantMember]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "outcomes",
                str,
                enum=["all", "none"],
                required=False,
                description="'none' leaves out the per-file outcomes (progress polling).",
            )
        ],
        responses={200: IndexJobDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = get_job(job_id)
        if request.query_params.get("outcomes") == "none":
            return Response(IndexJobSerializer(job).data)
        return Response(IndexJobDetailSerializer(job).data)
