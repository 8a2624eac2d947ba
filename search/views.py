"""Server-rendered pages of the tenant site: search, repositories, index jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from capacity.search_feedback import click_token_for_page
from capacity.search_rates import search_rates
from capacity.selectors import tenant_scope
from portal.exceptions import PortalError
from search import selectors
from search.clients.git import mask_credentials
from search.examples import example_queries
from search.exceptions import RepositoryInvalid
from search.services.indexing import get_job, start_index_job
from search.services.querying import search_code
from search.services.repositories import (
    delete_repository,
    get_repository,
    read_indexed_file,
    register_repository,
)
from search.sparse import TERM_SCHEME
from tenants.accounts.decorators import admin_required, member_required
from tenants.tiers import get_tier

REPOSITORY_SOURCE_CHOICE = (
    "Give exactly one source: a local directory under an allowed root, a .zip or .tar.gz "
    "archive to upload, or a git URL."
)


@member_required
def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    context: dict = {"query": query, "response": None, "error": None}
    status = 200
    if query:
        try:
            context["response"] = search_code(query=query, limit=20)
            context["click_token"] = click_token_for_page(len(context["response"].results))
        except PortalError as exc:
            context["error"] = exc.message
            status = exc.status_code
    else:
        context["examples"] = example_queries()
    # Results from a repository indexed another way rank poorly until it is re-indexed.
    context["stale_repositories"] = list(
        selectors.repositories_needing_reindex().values_list("name", flat=True)
    )
    return render(request, "search/search.html", context, status=status)


@member_required
def repositories_page(request: HttpRequest) -> HttpResponse:
    error = None
    status = 200
    if request.method == "POST":
        if not request.user.membership.is_admin:
            return render(
                request, "error.html", {"message": "Only admins add repositories."}, status=403
            )
        try:
            name = request.POST.get("name", "")
            ignore = request.POST.get("ignore_patterns", "")
            url = request.POST.get("url", "").strip()
            sources = (request.FILES.get("archive"), request.POST.get("path", "").strip(), url)
            if sum(bool(source) for source in sources) != 1:
                raise RepositoryInvalid(REPOSITORY_SOURCE_CHOICE, field="path")
            # One transaction: a refused first job (the plan's job limit) leaves neither the
            # repository nor an extracted upload behind, as in the API.
            _, job = register_repository(
                name=name,
                archive=request.FILES.get("archive"),
                url=url,
                branch=request.POST.get("branch", ""),
                path=request.POST.get("path", ""),
                ignore_patterns=ignore,
                acting_user=request.user,
            )
            return redirect("search:job", job_id=job.pk)
        except PortalError as exc:
            error = exc.message
            status = exc.status_code
    repositories = selectors.repositories_with_latest_job()
    return render(
        request,
        "search/repositories.html",
        {
            "repositories": repositories,
            "embedding_model": selectors.configured_embedding_model(),
            "term_scheme": TERM_SCHEME,
            "stale_repositories": [r for r in repositories if r.needs_reindex],
            "error": error,
            "allowed_roots": settings.SEARCH["REPOSITORY_ROOTS"],
            "form": _form_echo(request),
        },
        status=status,
    )


def _form_echo(request: HttpRequest) -> dict[str, str]:
    """The submitted fields to show again after an error; credentials in a git URL masked."""
    if request.method != "POST":
        return {}
    form = request.POST.dict()
    form["url"] = mask_credentials(form.get("url", ""))
    return form


@member_required
def repository_page(request: HttpRequest, repository_id: int) -> HttpResponse:
    try:
        repository = get_repository(repository_id)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return render(
        request,
        "search/repository.html",
        {
            "repository": repository,
            "jobs": selectors.jobs_for(repository)[:20],
            "embedding_model": selectors.configured_embedding_model(),
            "term_scheme": TERM_SCHEME,
        },
    )


@member_required
def file_page(request: HttpRequest, repository_id: int) -> HttpResponse:
    path = request.GET.get("path", "")
    try:
        repository, lines = read_indexed_file(repository_id=repository_id, path=path)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    first, last = _line_range(request.GET.get("start"), request.GET.get("end"), len(lines))
    return render(
        request,
        "search/file.html",
        {
            "repository": repository,
            "path": path,
            "lines": [
                (number, text, first <= number <= last)
                for number, text in enumerate(lines, start=1)
            ],
            "start": first,
        },
    )


def _line_range(start: str | None, end: str | None, total: int) -> tuple[int, int]:
    try:
        first = max(1, int(start or 0))
        last = min(total, int(end or first))
    except ValueError:
        return 0, -1
    return first, max(first, last)


@require_POST
@admin_required
def start_index(request: HttpRequest, repository_id: int) -> HttpResponse:
    try:
        job = start_index_job(repository=get_repository(repository_id), acting_user=request.user)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return redirect("search:job", job_id=job.pk)


@require_POST
@admin_required
def remove_repository(request: HttpRequest, repository_id: int) -> HttpResponse:
    try:
        delete_repository(repository_id=repository_id, acting_user=request.user)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return redirect("search:repositories")


@member_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = get_job(job_id)
    except PortalError as exc:
        return render(request, "error.html", {"message": exc.message}, status=exc.status_code)
    return render(
        request,
        "search/job.html",
        {
            "job": job,
            "summary": selectors.outcome_summary(job),
            "outcomes": selectors.outcomes_for(job)[:300],
        },
    )


@admin_required
def overview_page(request: HttpRequest) -> HttpResponse:
    tenant = connection.tenant
    return render(
        request,
        "search/overview.html",
        {
            "usage": selectors.tenant_usage(),
            "rates": search_rates(tenant_scope()),
            "tier": get_tier(tenant.tier),
            "jobs": selectors.recent_jobs(10),
        },
    )
