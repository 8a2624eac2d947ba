"""Repositories, index jobs and what each job did with each file (tenant schema)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Repository(models.Model):
    class Source(models.TextChoices):
        LOCAL = "local", "Local directory"
        ARCHIVE = "archive", "Uploaded archive"
        GIT = "git", "Git remote"

    name = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    # LOCAL: the registered directory. ARCHIVE: the folder the upload was extracted into.
    # GIT: the checkout folder the index job clones into and updates.
    root_path = models.CharField(max_length=1024)
    # GIT only. The URL may carry credentials: show remote_url_masked, never this field.
    remote_url = models.CharField(max_length=2048, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    # The commit the checkout holds after the last successful sync.
    synced_commit = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Extra gitignore-style patterns to skip, one per line.
    ignore_patterns = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_indexed_at = models.DateTimeField(null=True, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    # The EMBEDDING_MODEL that produced the stored vectors, set when an index job succeeds.
    # Blank when never indexed, or indexed before the model was recorded.
    embedding_model = models.CharField(max_length=100, blank=True)
    # search.sparse.TERM_SCHEME of the stored keyword vectors, set with embedding_model;
    # 0 when indexed before schemes were recorded.
    term_scheme = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    @property
    def needs_reindex(self) -> bool:
        """Whether the stored vectors were made another way than searches now make theirs.

        Query vectors of one model are meaningless against document vectors of another, so
        dense ranking of such a repository is noise until it is re-indexed; keyword terms of
        an older scheme (search.sparse.TERM_SCHEME) miss the stemmed terms queries now send.
        A repository that never finished an index job has nothing stale to re-index.
        """
        return self.last_indexed_at is not None and self.vectors_are_stale

    @property
    def vectors_are_stale(self) -> bool:
        """Whether stored vectors (if any) came from another model or term scheme."""
        return self.model_is_stale or self.terms_are_stale

    @property
    def model_is_stale(self) -> bool:
        return self.embedding_model != settings.SEARCH["EMBEDDING_MODEL"]

    @property
    def terms_are_stale(self) -> bool:
        from search.sparse import TERM_SCHEME

        return self.term_scheme != TERM_SCHEME

    @property
    def remote_url_masked(self) -> str:
        from search.clients.git import mask_credentials

        return mask_credentials(self.remote_url)


class IndexJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        WARNINGS = "completed_with_warnings", "Completed with warnings"
        FAILED = "failed", "Failed"

    class Stage(models.TextChoices):
        SYNCING = "syncing", "Syncing from the git remote"
        INDEXING = "indexing", "Indexing"

    FINISHED = (Status.SUCCEEDED, Status.WARNINGS, Status.FAILED)

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A running job refreshes this; a redelivered message only takes over a stale job.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the job's message was last sent to the workers (first send or a recovery resend).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # What a running job is doing; empty until it starts.
    stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    # The git commit the job indexed (git repositories only).
    commit = models.CharField(max_length=64, blank=True)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    files_indexed = models.PositiveIntegerField(default=0)
    files_unchanged = models.PositiveIntegerField(default=0)
    files_skipped = models.PositiveIntegerField(default=0)
    files_failed = models.PositiveIntegerField(default=0)
    files_deleted = models.PositiveIntegerField(default=0)
    files_decode_fallback = models.PositiveIntegerField(default=0)
    chunks_indexed = models.PositiveIntegerField(default=0)
    embed_seconds = models.FloatField(default=0.0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        if self.status in (self.Status.SUCCEEDED, self.Status.WARNINGS):
            return 100
        if not self.files_total:
            return 0
        return min(100, int(100 * self.files_done / self.files_total))

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class FileOutcome(models.Model):
    """Why a file was not (fully) indexed by a job: nothing is dropped silently."""

    class Kind(models.TextChoices):
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        DECODE_FALLBACK = "decode_fallback", "Indexed with a fallback encoding"
        DELETED = "deleted", "Removed from the index"

    job = models.ForeignKey(IndexJob, on_delete=models.CASCADE, related_name="outcomes")
    path = models.CharField(max_length=1024)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=40)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} ({self.reason})"


class IndexedFile(models.Model):
    """The indexed state of one file, for incremental re-index by content hash."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    content_hash = models.CharField(max_length=64)
    language = models.CharField(max_length=20)
    size_bytes = models.PositiveIntegerField()
    chunk_count = models.PositiveIntegerField()
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "path"], name="unique_file_per_repo")
        ]

    def __str__(self) -> str:
        return self.path


class SearchQuery(models.Model):
    """A search that ran (for popular-query warming and usage); the text stays in-tenant."""

    query = models.CharField(max_length=500)
    result_count = models.PositiveIntegerField()
    took_ms = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"search at {self.created_at:%Y-%m-%d %H:%M}"
