"""Rollups of measured (and clearly labelled generated) usage, in the public schema.

Tenant rows carry a foreign key to the tenant, so operators can read across tenants while the
selectors in :mod:`capacity.selectors` filter a tenant admin's reads by the current tenant.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Source(models.TextChoices):
    MEASURED = "measured", "Measured"
    # Written by ``seed_demo_metrics`` for demos; never summed with measured rows.
    GENERATED = "generated", "Generated (demo)"


class Resolution(models.TextChoices):
    MINUTE = "minute", "Minute"
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class UsageRollup(models.Model):
    """One tenant's search and indexing activity in one time bucket."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="usage_rollups"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MEASURED)
    resolution = models.CharField(max_length=10, choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    search_requests = models.PositiveBigIntegerField(default=0)
    search_errors = models.PositiveBigIntegerField(default=0)
    cache_l1_hits = models.PositiveBigIntegerField(default=0)
    cache_l2_hits = models.PositiveBigIntegerField(default=0)
    cache_misses = models.PositiveBigIntegerField(default=0)
    results_returned = models.PositiveBigIntegerField(default=0)
    response_bytes = models.PositiveBigIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0.0)
    # Counts per bucket of capacity.histogram.LATENCY_BOUNDS_MS (last one is the overflow).
    latency_histogram = models.JSONField(default=list)
    index_jobs = models.PositiveIntegerField(default=0)
    index_jobs_failed = models.PositiveIntegerField(default=0)
    files_indexed = models.PositiveBigIntegerField(default=0)
    chunks_indexed = models.PositiveBigIntegerField(default=0)
    embed_seconds = models.FloatField(default=0.0)
    index_seconds = models.FloatField(default=0.0)
    # Online relevance (capacity.search_feedback): successful searches that found nothing,
    # web searches that showed results, how many of those got a click, and the sum of
    # 1/rank of each first click.
    zero_result_searches = models.PositiveBigIntegerField(default=0)
    searches_shown = models.PositiveBigIntegerField(default=0)
    searches_clicked = models.PositiveBigIntegerField(default=0)
    first_click_rr_sum = models.FloatField(default=0.0)
    # Gauges: the last value observed in the bucket; null when none was observed.
    vectors = models.PositiveBigIntegerField(null=True, blank=True)
    stored_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "resolution", "bucket_start"],
                name="unique_usage_bucket",
            )
        ]
        indexes = [models.Index(fields=["resolution", "bucket_start"], name="usage_res_start")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.resolution} {self.bucket_start:%Y-%m-%d %H:%M}"


class ProcessRollup(models.Model):
    """CPU and memory of one web or worker process in one time bucket (platform-wide)."""

    class Role(models.TextChoices):
        WEB = "web", "Web"
        WORKER = "worker", "Worker"

    role = models.CharField(max_length=10, choices=Role.choices)
    # host:pid of the process, so replicas are summed for CPU and kept apart for memory.
    instance = models.CharField(max_length=100)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MEASURED)
    resolution = models.CharField(max_length=10, choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    cpu_seconds = models.FloatField(default=0.0)
    memory_bytes_avg = models.PositiveBigIntegerField(default=0)
    memory_bytes_peak = models.PositiveBigIntegerField(default=0)
    samples = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["role", "instance", "source", "resolution", "bucket_start"],
                name="unique_process_bucket",
            )
        ]
        indexes = [models.Index(fields=["resolution", "bucket_start"], name="process_res_start")]

    def __str__(self) -> str:
        return f"{self.role}:{self.instance} {self.resolution} {self.bucket_start:%Y-%m-%d %H:%M}"


class EvaluationRun(models.Model):
    """One offline relevance run of this deployment's search stack (``evaluate_search``).

    Platform-wide: it measures the ranking code and embedding model on a fixed benchmark
    corpus, not any tenant's repositories, and dashboards must say so next to the figures.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # A label of the benchmark corpus (e.g. "eval/dev"), never a tenant repository.
    corpus = models.CharField(max_length=200)
    mode = models.CharField(max_length=20)
    embedding_model = models.CharField(max_length=100)
    k = models.PositiveSmallIntegerField(default=10)
    query_count = models.PositiveIntegerField()
    chunks = models.PositiveIntegerField(null=True, blank=True)
    # {"n", "mrr", "recall_at_1", "recall_at_k", "ndcg"} (capacity.relevance_scoring).
    metrics = models.JSONField(default=dict)
    # Query type or language -> the same shape as ``metrics``.
    metrics_by_type = models.JSONField(default=dict)
    metrics_by_language = models.JSONField(default=dict)
    command = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["corpus", "mode", "created_at"], name="eval_corpus_mode")]

    def __str__(self) -> str:
        return f"{self.corpus} {self.mode} {self.created_at:%Y-%m-%d %H:%M}"
