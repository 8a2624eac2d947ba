"""Read-only queries of the current tenant's search data."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, QuerySet, Sum, Value, When

from search.models import FileOutcome, IndexedFile, IndexJob, Repository, SearchQuery


def repositories() -> QuerySet[Repository]:
    return Repository.objects.all()


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
class Usage:
    repositories: int
    indexed_files: int
    chunks: int
    searches: int
    jobs_running: int


def tenant_usage() -> Usage:
    return Usage(
        repositories=Repository.objects.count(),
        indexed_files=IndexedFile.objects.count(),
        chunks=IndexedFile.objects.aggregate(total=Sum("chunk_count"))["total"] or 0,
        searches=SearchQuery.objects.count(),
        jobs_running=IndexJob.objects.filter(status=IndexJob.Status.RUNNING).count(),
    )
