"""Read-only queries of the current tenant's search data."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, QuerySet, Sum, Value, When

from search.models import FileOutcome, IndexedFile, IndexJob, Repository, SearchQuery
from search.sparse import TERM_SCHEME


def repositories() -> QuerySet[Repository]:
    return Repository.objects.all()


def repositories_with_latest_job() -> list[Repository]:
    """Repositories, each with ``latest_job`` set (None when never indexed)."""
    items = list(Repository.objects.all())
    latest: dict[int, IndexJob] = {}
    for job in IndexJob.objects.filter(repository__in=items).order_by(
        "repository_id", "-created_at"
    ):
        latest.setdefault(job.repository_id, job)
    for repository in items:
        repository.latest_job = latest.get(repository.pk)
    return items


def configured_embedding_model() -> str:
    """Return the model new index jobs and searches use (the ``EMBEDDING_MODEL`` setting)."""
    return str(settings.SEARCH["EMBEDDING_MODEL"])


def repositories_needing_reindex() -> QuerySet[Repository]:
    """Indexed repositories whose vectors come from another model or keyword-term scheme.

    Blank ``embedding_model`` (indexed before models were recorded) counts as another model;
    a repository that never finished an index job is not included. Agrees with
    :attr:`Repository.needs_reindex`.
    """
    return Repository.objects.filter(last_indexed_at__isnull=False).exclude(
        embedding_model=configured_embedding_model(), term_scheme=TERM_SCHEME
    )


def jobs_for(repository: Repository) -> QuerySet[IndexJob]:
    return repository.jobs.all()


def recent_jobs(limit: int = 20) -> QuerySet[IndexJob]:
    return IndexJob.objects.select_related("repository")[:limit]


def outcomes_for(job: IndexJob) -> QuerySet[FileOutcome]:
    """Outcomes with the ones that need attention (failures, fallbacks) first."""
    attention = Case(
        When(kind=FileOutcome.Kind.FAILED, then=Value(0)),
        When(kind=FileOutcome.Kind.DECODE_FALLBACK, then=Value(1)),
        default=Value(2),
    )
    return job.outcomes.order_by(attention, "path")


def outcome_summary(job: IndexJob) -> list[dict[str, object]]:
    """Count the job's outcomes by kind and reason, largest first."""
    return list(
        job.outcomes.values("kind", "reason").annotate(count=Count("id")).order_by("-count")
    )


@dataclass(frozen=True)
class QuotaUsage:
    """One quota of the tenant's tier: what is used against what the tier allows.

    ``used`` is None for a rate quota that is enforced per request (searches per minute),
    where only the limit is shown.
    """

    name: str
    label: str
    used: int | None
    limit: int
    unit: str = ""

    @property
    def is_exceeded(self) -> bool:
        return self.used is not None and self.used > self.limit

    @property
    def percent_used(self) -> int | None:
        if self.used is None or self.limit <= 0:
            return None
        return min(100, round(100 * self.used / self.limit))


@dataclass(frozen=True)
class Usage:
    repositories: int
    indexed_files: int
    chunks: int
    searches: int
    jobs_running: int
    vectors: int = 0
    quotas: tuple[QuotaUsage, ...] = ()


def tenant_usage() -> Usage:
    """Return the current tenant's usage, and each quota of its tier against it.

    Vectors are counted in the vector store (what max_vectors limits), chunks from the
    indexed-file records. Read-only; one count request to the vector store.
    """
    from search.vector_store import get_vector_store, storage_target
    from tenants.tiers import get_tier

    tenant = connection.tenant
    tier = get_tier(tenant.tier)
    repositories = Repository.objects.count()
    indexed_files = IndexedFile.objects.count()
    jobs_running = IndexJob.objects.filter(status=IndexJob.Status.RUNNING).count()
    vectors = get_vector_store().count(storage_target(tenant))
    return Usage(
        repositories=repositories,
        indexed_files=indexed_files,
        chunks=IndexedFile.objects.aggregate(total=Sum("chunk_count"))["total"] or 0,
        searches=SearchQuery.objects.count(),
        jobs_running=jobs_running,
        vectors=vectors,
        quotas=(
            QuotaUsage("max_repositories", "Repositories", repositories, tier.max_repositories),
            QuotaUsage("max_indexed_files", "Indexed files", indexed_files, tier.max_indexed_files),
            QuotaUsage("max_vectors", "Vectors", vectors, tier.max_vectors),
            QuotaUsage(
                "search_requests_per_minute",
                "Searches",
                None,
                tier.search_requests_per_minute,
                unit="per minute",
            ),
            QuotaUsage(
                "concurrent_index_jobs",
                "Index jobs running",
                jobs_running,
                tier.concurrent_index_jobs,
            ),
        ),
    )
