"""Bring a repository's chunks in the vector store up to date.

A job walks the repository, skips (and records) what it cannot or should not index, re-chunks
only files whose content hash changed, embeds chunks in batches, and replaces the file's points.
When the configured embedding model or keyword-term scheme differs from the one the repository
was indexed with, the content-hash shortcut is off and every file is embedded again: vectors of
two models are not comparable, so a partly re-embedded repository would rank nonsense.
Point ids are derived from tenant, repository, path and chunk position, so a replayed or
resumed job overwrites points instead of duplicating them (case C22).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pathspec
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from capacity.recording import measured_index_job
from search import search_cache
from search.chunk_heads import embed_chunks
from search.clients.vectorstore.base import ChunkPoint, StorageTarget, VectorStore
from search.embeddings import get_cached_embedder
from search.exceptions import INDEX_JOB_LIMIT_CODE, JobAlreadyRunning, JobNotFound
from search.ingest.chunking import Chunk, chunk_source
from search.ingest.decoding import load_source
from search.ingest.walker import FileEntry, FileLimits, SkippedFile, walk_repository
from search.models import FileOutcome, IndexedFile, IndexJob, Repository
from search.services.repositories import sync_git_repository
from search.sparse import TERM_SCHEME, chunk_sparse_vector
from search.vector_store import get_vector_store, storage_settings, storage_target
from tenants import audit
from tenants.accounts.models import AuditAction
from tenants.exceptions import QuotaExceeded, TenantError
from tenants.tiers import get_tier

logger = logging.getLogger(__name__)
# Files are gathered until their chunks fill this many embedding batches, then embedded in one
# call: the embedder sorts a call's texts by length, so larger calls carry less padding.
FLUSH_BATCHES = 4


class StorageMoving(TenantError):
    code = "storage_moving"
    status_code = 409


POINT_NAMESPACE = uuid.UUID("6f1d3c55-2b1e-4d7e-9f0a-5c3b8e2a9d41")
# A running job touches its heartbeat at least this often; a redelivered message only takes
# over a job whose heartbeat is older than the stale limit.
HEARTBEAT_STALE_AFTER = timedelta(minutes=5)
# A job a stopping worker handed back (queued again, no heartbeat since) is sent again after
# this long; a job no worker ever claimed only after UNCLAIMED_RESEND_AFTER, so a long but
# healthy queue is not flooded with duplicate messages (a duplicate is a no-op when claimed).
HANDED_BACK_RESEND_AFTER = timedelta(minutes=1)
UNCLAIMED_RESEND_AFTER = timedelta(minutes=15)
PROGRESS_EVERY_SECONDS = 1.0
# While a job stores points, cached answers of the tenant go stale this often at most, so a
# search during a long first index sees what is already stored instead of a cached answer
# from before (up to the cache's TTL). Each bump orphans the tenant's cached answers.
CACHE_BUMP_EVERY_SECONDS = 10.0


def point_id(tenant_key: str, repository_id: int, path: str, chunk_index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{tenant_key}/{repository_id}/{path}#{chunk_index}"))


def start_index_job(*, repository: Repository, acting_user: Any = None) -> IndexJob:
    """Queue an index job for the repository, unless one is already queued or running.

    Raise :class:`JobAlreadyRunning` (409) naming the active job; enqueue after commit.
    """
    from search.tasks import index_repository

    tier = get_tier(connection.tenant.tier)
    with transaction.atomic():
        _refuse_while_storage_moves(connection.tenant.pk)
        Repository.objects.select_for_update().get(pk=repository.pk)
        active = repository.jobs.filter(
            status__in=[IndexJob.Status.QUEUED, IndexJob.Status.RUNNING]
        ).first()
        if active is not None:
            raise JobAlreadyRunning(
                f"Index job {active.pk} for {repository.name} is already {active.status}; "
                "wait for it to finish.",
                data={"job_id": active.pk},
            )
        running = IndexJob.objects.filter(status=IndexJob.Status.RUNNING).count()
        if running >= tier.concurrent_index_jobs:
            raise QuotaExceeded(
                f"The {tier.label} plan runs {tier.concurrent_index_jobs} index job(s) at a "
                "time; wait for the running job to finish.",
                code=INDEX_JOB_LIMIT_CODE,
                status_code=429,
            )
        job = IndexJob.objects.create(
            repository=repository,
            requested_by=acting_user if getattr(acting_user, "pk", None) else None,
            enqueued_at=timezone.now(),
        )
        audit.record_event(
            AuditAction.INDEX_JOB_STARTED,
            target_type="index_job",
            target_id=job.pk,
            actor=acting_user,
            detail={"repository_id": repository.pk, "repository": repository.name},
        )
        schema = connection.schema_name
        transaction.on_commit(lambda: index_repository.delay(schema, job.pk))
    logger.info("search.index_job.queued", extra={"job_id": job.pk, "repository_id": repository.pk})
    return job


def recover_stalled_jobs(*, now: datetime | None = None) -> list[int]:
    """Send again the message of each of this tenant's jobs that no worker will run; return
    their ids.

    Messages are acknowledged late, but a worker that dies (SIGKILL, out of memory, a stop
    that timed out) leaves its message unacknowledged until the broker's visibility timeout,
    hours away, while its job shows "running" and holds the plan's job slot. Three cases:

    - running, but no heartbeat for HEARTBEAT_STALE_AFTER: the worker is gone; the new
      delivery takes the job over (see :func:`_claim`);
    - queued again by a stopping worker (it had started) and no heartbeat for
      HANDED_BACK_RESEND_AFTER: its thread is not finishing it after all;
    - queued and never claimed for UNCLAIMED_RESEND_AFTER: the message was lost.

    Each case waits as long again before a further resend. Beat runs this every minute.
    """
    from search.tasks import index_repository

    now = now or timezone.now()

    def quiet_for(age: timedelta) -> Q:
        return (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - age)) & (
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - age)
        )

    stalled = IndexJob.objects.filter(
        (Q(status=IndexJob.Status.RUNNING) & quiet_for(HEARTBEAT_STALE_AFTER))
        | (
            Q(status=IndexJob.Status.QUEUED, started_at__isnull=False)
            & quiet_for(HANDED_BACK_RESEND_AFTER)
        )
        | (
            Q(status=IndexJob.Status.QUEUED, started_at__isnull=True)
            & Q(created_at__lt=now - UNCLAIMED_RESEND_AFTER)
            & quiet_for(UNCLAIMED_RESEND_AFTER)
        )
    )
    job_ids = sorted(stalled.values_list("pk", flat=True))
    if not job_ids:
        return []
    IndexJob.objects.filter(pk__in=job_ids).update(enqueued_at=now)
    schema = connection.schema_name
    for job_id in job_ids:
        index_repository.delay(schema, job_id)
        logger.warning("search.index_job.resent", extra={"job_id": job_id, "schema": schema})
    return job_ids


def _refuse_while_storage_moves(tenant_id: int) -> None:
    """Raise :class:`StorageMoving` (409) while the tenant's points are being copied.

    The tenant row is locked for the rest of the caller's transaction: a storage move locks it
    too before it checks for active jobs, so a job and a move can never both start.
    """
    from tenants.models import Tenant

    moving_to = (
        Tenant.objects.select_for_update()
        .filter(pk=tenant_id)
        .values_list("storage_moving_to", flat=True)
        .first()
    )
    if moving_to:
        raise StorageMoving(
            f"This tenant's search storage is being moved to {moving_to} storage; start the "
            "index job again once the move has finished (usually within minutes).",
        )


def get_job(job_id: int) -> IndexJob:
    job = IndexJob.objects.select_related("repository").filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"No index job with id {job_id} in this tenant.")
    return job


def _claim(job_id: int) -> IndexJob | None:
    """Mark the job running if this delivery may run it; None when another run owns it."""
    now = timezone.now()
    claimable = Q(status=IndexJob.Status.QUEUED) | Q(
        status=IndexJob.Status.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE_AFTER
    )
    with transaction.atomic():
        job = IndexJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise JobNotFound(f"No index job with id {job_id} in this tenant.")
        if not IndexJob.objects.filter(claimable, pk=job_id).exists():
            return None
        job.status = IndexJob.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts = F("attempts") + 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    job.refresh_from_db()
    return job


@dataclass
class _Batch:
    """Chunks waiting to be embedded, grouped by the file they replace."""

    files: list[tuple[Any, list[Chunk], bool]] = field(default_factory=list)
    chunk_total: int = 0


class _JobRun:
    def __init__(
        self,
        job: IndexJob,
        store: VectorStore,
        target: StorageTarget,
        on_progress: Callable[[IndexJob], None] | None = None,
    ) -> None:
        self.job = job
        self.on_progress = on_progress
        self.repository = job.repository
        self.store = store
        self.target = target
        self.model_name: str = settings.SEARCH["EMBEDDING_MODEL"]
        self.embedder = get_cached_embedder(
            self.model_name, cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
        )
        self.batch_size: int = settings.SEARCH["EMBED_BATCH_SIZE"]
        self.known = {f.path: f for f in IndexedFile.objects.filter(repository=self.repository)}
        # Stored vectors of another (or an unrecorded) model or term scheme: no file may be
        # skipped as unchanged. Once vectors exist, the repository's model is recorded only
        # when a job succeeds, so after a re-embedding job that fails half-way the next one
        # re-embeds everything again (a first index records it at start, see run()).
        self.model_changed = bool(self.known) and self.repository.vectors_are_stale
        self.batch = _Batch()
        self.last_progress = 0.0
        self.last_cache_bump = 0.0
        self.tier = get_tier(connection.tenant.tier)
        # Points the tenant stores right now, kept current as batches replace files.
        self.stored_vectors = store.count(target)

    def run(self) -> None:
        if not self.known:
            # Nothing stored yet: every vector this job writes comes from the configured model
            # and terms. Recording them now lets a resumed first index (the worker died, the
            # job was resent) skip the files already stored instead of embedding them again.
            Repository.objects.filter(pk=self.repository.pk).update(
                embedding_model=self.model_name, term_scheme=TERM_SCHEME
            )
        if self.model_changed:
            logger.info(
                "search.index_job.model_changed",
                extra={
                    "job_id": self.job.pk,
                    "repository_id": self.repository.pk,
                    "tenant_id": connection.tenant.pk,
                    "schema": connection.schema_name,
                    "old_model": self.repository.embedding_model or "unrecorded",
                    "new_model": self.model_name,
                    "old_term_scheme": self.repository.term_scheme,
                    "new_term_scheme": TERM_SCHEME,
                    "files": len(self.known),
                },
            )
        if self.repository.source == Repository.Source.GIT:
            self._sync()
        self.job.stage = IndexJob.Stage.INDEXING
        self.job.save(update_fields=["stage"])
        root = Path(self.repository.root_path)
        if not root.is_dir():
            raise JobNotFound(
                f"The repository folder {root} no longer exists; register the repository again."
            )
        limits = FileLimits(max_file_bytes=settings.SEARCH["MAX_FILE_BYTES"])
        entries = _apply_repository_ignores(
            list(walk_repository(root, limits=limits)), self.repository.ignore_patterns
        )
        self.job.files_total = len(entries)
        self.job.files_done = 0
        self._save_progress(force=True)
        if sum(isinstance(e, FileEntry) for e in entries) > self.tier.max_indexed_files:
            raise QuotaExceeded(
                f"The repository has more files than the {self.tier.label} plan indexes "
                f"({self.tier.max_indexed_files}); add ignore patterns or upgrade the plan.",
                code="quota_indexed_files",
            )

        seen: set[str] = set()
        for entry in entries:
            if isinstance(entry, SkippedFile):
                self._record(entry.path, FileOutcome.Kind.SKIPPED, entry.reason, entry.detail)
                self.job.files_skipped += 1
                self._file_done()
                continue
            seen.add(entry.path)
            self._index_entry(root, entry)
        self._flush()
        self._remove_deleted(seen)
        optimize = getattr(self.store, "optimize", None)
        if optimize is not None:
            optimize(self.target)
        self._save_progress(force=True)

    def _sync(self) -> None:
        """Fetch the git remote into the checkout; the walk that follows sees the new commit.

        An unchanged remote leaves every file's content hash as it was, so the walk finds
        nothing to embed.
        """
        self.job.stage = IndexJob.Stage.SYNCING
        self.job.heartbeat_at = timezone.now()
        self.job.save(update_fields=["stage", "heartbeat_at"])
        result = sync_git_repository(self.repository)
        self.job.commit = result.commit
        self.job.save(update_fields=["commit"])

    def _index_entry(self, root: Path, entry: FileEntry) -> None:
        try:
            source = load_source(root, entry)
        except OSError as exc:
            self._record(entry.path, FileOutcome.Kind.FAILED, "unreadable", str(exc))
            self.job.files_failed += 1
            self._file_done()
            return
        if isinstance(source, SkippedFile):
            self._record(source.path, FileOutcome.Kind.SKIPPED, source.reason, source.detail)
            self.job.files_skipped += 1
            self._file_done()
            return
        known = self.known.get(source.path)
        if (
            known is not None
            and known.content_hash == source.content_hash
            and not self.model_changed
        ):
            self.job.files_unchanged += 1
            self._file_done()
            return
        try:
            chunks = chunk_source(source)
        except Exception as exc:  # a parser bug must cost one file, not the job
            logger.exception("search.index_job.chunking_failed", extra={"job_id": self.job.pk})
            self._record(source.path, FileOutcome.Kind.FAILED, "chunking_failed", repr(exc))
            self.job.files_failed += 1
            self._file_done()
            return
        if source.decode_fallback:
            self._record(
                source.path,
                FileOutcome.Kind.DECODE_FALLBACK,
                "decode_fallback",
                f"not valid UTF-8; decoded as {source.encoding}",
            )
            self.job.files_decode_fallback += 1
        self.batch.files.append((source, chunks, known is not None))
        self.batch.chunk_total += len(chunks)
        if self.batch.chunk_total >= self.batch_size * FLUSH_BATCHES:
            self._flush()

    def _flush(self) -> None:
        if not self.batch.files:
            return
        files, self.batch = self.batch.files, _Batch()
        chunks = [chunk for _, file_chunks, _ in files for chunk in file_chunks]
        started = time.perf_counter()
        dense, heads = embed_chunks(self.embedder, chunks)
        self.job.embed_seconds += time.perf_counter() - started

        points = [
            ChunkPoint(
                id=point_id(self.target.tenant_key, self.repository.pk, c.path, c.chunk_index),
                dense=[float(x) for x in vector],
                sparse=chunk_sparse_vector(c),
                payload=_payload(self.repository, c),
                head=[float(x) for x in head],
            )
            for c, vector, head in zip(chunks, dense, heads, strict=True)
        ]
        replaced = [source.path for source, _, was_known in files if was_known]
        self._check_vector_quota(adding=len(points), replacing=replaced)
        if replaced:
            self.store.delete_points(self.target, repository_id=self.repository.pk, paths=replaced)
        for start in range(0, len(points), 256):
            self.store.upsert(self.target, points[start : start + 256])

        # The file rows move only after their points are stored: a crash before this line
        # leaves the old hash, so the next run indexes the file again.
        with transaction.atomic():
            for source, file_chunks, _ in files:
                IndexedFile.objects.update_or_create(
                    repository=self.repository,
                    path=source.path,
                    defaults={
                        "content_hash": source.content_hash,
                        "language": source.language,
                        "size_bytes": source.size_bytes,
                        "chunk_count": len(file_chunks),
                    },
                )
        self.job.files_indexed += len(files)
        self.job.chunks_indexed += len(chunks)
        now = time.monotonic()
        if now - self.last_cache_bump >= CACHE_BUMP_EVERY_SECONDS:
            search_cache.bump_index_version(connection.schema_name)
            self.last_cache_bump = now
        for _ in files:
            self._file_done()

    def _check_vector_quota(self, *, adding: int, replacing: list[str]) -> None:
        """Raise :class:`QuotaExceeded` before a batch would take the tenant past max_vectors."""
        removed = sum(self.known[path].chunk_count for path in replacing if path in self.known)
        projected = self.stored_vectors - removed + adding
        if projected > self.tier.max_vectors:
            raise QuotaExceeded(
                f"Indexing stopped: this batch would bring the tenant to {projected} vectors, "
                f"over the {self.tier.label} plan's max_vectors quota of "
                f"{self.tier.max_vectors} (stored now: {self.stored_vectors}). Add ignore "
                "patterns, remove repositories, or move to a larger plan.",
                code="quota_vectors",
                data={
                    "quota": "max_vectors",
                    "limit": self.tier.max_vectors,
                    "stored": self.stored_vectors,
                    "projected": projected,
                },
            )
        self.stored_vectors = projected

    def _remove_deleted(self, seen: set[str]) -> None:
        gone = sorted(set(self.known) - seen)
        if not gone:
            return
        for start in range(0, len(gone), 500):
            self.store.delete_points(
                self.target, repository_id=self.repository.pk, paths=gone[start : start + 500]
            )
        self.stored_vectors -= sum(
            self.known[path].chunk_count for path in gone if path in self.known
        )
        IndexedFile.objects.filter(repository=self.repository, path__in=gone).delete()
        for path in gone:
            self._record(path, FileOutcome.Kind.DELETED, "deleted", "no longer in the repository")
        self.job.files_deleted = len(gone)

    def _record(self, path: str, kind: str, reason: str, detail: str) -> None:
        FileOutcome.objects.create(
            job=self.job, path=path[:1024], kind=kind, reason=reason[:40], detail=detail
        )

    def _file_done(self) -> None:
        self.job.files_done += 1
        self._save_progress()

    def _save_progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_EVERY_SECONDS:
            return
        self.last_progress = now
        if self.on_progress is not None:
            self.on_progress(self.job)
        self.job.heartbeat_at = timezone.now()
        self.job.save(
            update_fields=[
                "heartbeat_at",
                "files_total",
                "files_done",
                "files_indexed",
                "files_unchanged",
                "files_skipped",
                "files_failed",
                "files_deleted",
                "files_decode_fallback",
                "chunks_indexed",
                "embed_seconds",
            ]
        )
        # Count the work since the last save now, so the throughput chart shows it in the
        # minutes it happened instead of as one spike when the job ends.
        from capacity.recording import record_index_progress

        try:
            record_index_progress(self.job)
        except Exception:  # measurement must never fail an index job
            logger.exception(
                "search.index_job.progress_not_recorded", extra={"job_id": self.job.pk}
            )


def _apply_repository_ignores(
    entries: list[FileEntry | SkippedFile], patterns: str
) -> list[FileEntry | SkippedFile]:
    """Turn files matching the repository's own ignore patterns into recorded skips."""
    lines = [line.strip() for line in patterns.splitlines() if line.strip()]
    if not lines:
        return entries
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return [
        SkippedFile(
            path=e.path, reason="ignored", detail="matches the repository's ignore patterns"
        )
        if isinstance(e, FileEntry) and spec.match_file(e.path)
        else e
        for e in entries
    ]


def _payload(repository: Repository, chunk: Chunk) -> dict[str, Any]:
    return {
        "repository_id": repository.pk,
        "repository": repository.name,
        "path": chunk.path,
        "language": chunk.language,
        "kind": chunk.kind,
        "symbol": chunk.symbol,
        "name": chunk.name,
        "context": chunk.context,
        "signature": chunk.signature,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "text": chunk.text,
    }


# Jobs this process is running, so a worker that is shutting down can hand them back.
_active_jobs: set[tuple[str, int]] = set()
_active_jobs_lock = threading.Lock()


def requeue_active_jobs() -> int:
    """Mark the jobs this process runs as queued again; return how many.

    Called when a worker shuts down: its unacknowledged messages go back to the broker, and
    the next delivery must be able to claim the job at once instead of waiting for the
    heartbeat to go stale. A job that still finishes here simply ends as succeeded.
    """
    from django_tenants.utils import schema_context

    with _active_jobs_lock:
        active = sorted(_active_jobs)
    for schema_name, job_id in active:
        with schema_context(schema_name):
            IndexJob.objects.filter(pk=job_id, status=IndexJob.Status.RUNNING).update(
                status=IndexJob.Status.QUEUED, heartbeat_at=None
            )
        logger.warning("search.index_job.requeued", extra={"job_id": job_id})
    return len(active)


@measured_index_job
def run_index_job(
    job_id: int, *, on_progress: Callable[[IndexJob], None] | None = None
) -> IndexJob | None:
    """Run a queued job to completion; return None when another run already owns it.

    Safe to call twice for one job: the second delivery is a no-op while the first is alive.
    """
    job = _claim(job_id)
    if job is None:
        logger.info("search.index_job.duplicate_delivery", extra={"job_id": job_id})
        return None
    tenant = connection.tenant
    target = storage_target(tenant)
    store = get_vector_store()
    logger.info("search.index_job.started", extra={"job_id": job.pk, "attempt": job.attempts})
    active_key = (connection.schema_name, job.pk)
    with _active_jobs_lock:
        _active_jobs.add(active_key)
    try:
        store.ensure_tenant_storage(target, storage_settings(tenant))
        run = _JobRun(job, store, target, on_progress)
        run.run()
    except Exception as exc:
        logger.exception("search.index_job.failed", extra={"job_id": job.pk})
        job.status = IndexJob.Status.FAILED
        job.error = str(exc) or exc.__class__.__name__
        job.finished_at = timezone.now()
        job.save()
        return job
    finally:
        with _active_jobs_lock:
            _active_jobs.discard(active_key)
    job.status = (
        IndexJob.Status.WARNINGS
        if job.files_failed or job.files_decode_fallback
        else IndexJob.Status.SUCCEEDED
    )
    job.finished_at = timezone.now()
    job.save()
    repository = job.repository
    repository.last_indexed_at = job.finished_at
    repository.embedding_model = run.model_name
    repository.term_scheme = TERM_SCHEME
    repository.file_count = IndexedFile.objects.filter(repository=repository).count()
    repository.chunk_count = sum(
        IndexedFile.objects.filter(repository=repository).values_list("chunk_count", flat=True)
    )
    repository.save(
        update_fields=[
            "last_indexed_at",
            "embedding_model",
            "term_scheme",
            "file_count",
            "chunk_count",
        ]
    )
    search_cache.bump_index_version(tenant.schema_name)
    logger.info(
        "search.index_job.finished",
        extra={
            "job_id": job.pk,
            "status": job.status,
            "files": job.files_indexed,
            "chunks": job.chunks_indexed,
            "seconds": round(job.elapsed_seconds or 0.0, 2),
        },
    )
    return job
