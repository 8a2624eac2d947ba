"""Prometheus exposition of the cumulative counters kept in Redis.

Every web and worker process adds to the same Redis totals, so any replica answers a scrape
with the whole deployment's numbers; in-process prometheus-client counters would show only
the process that happened to be scraped.

Tenant labels are bounded: the ``PROMETHEUS_TOP_TENANTS`` busiest tenants by request count
keep their slug and the rest are summed under ``tenant="other"``, so a thousand tenants add
at most N+1 series per metric. A tenant moving into or out of the top N makes its own and the
"other" series look like a counter reset, which ``rate()`` tolerates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from capacity import counters, histogram
from capacity.conf import capacity_setting

OTHER = "other"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def bounded_labels(
    totals: dict[int, dict[str, float]], slugs: dict[int, str], *, top: int
) -> dict[str, dict[str, float]]:
    """Group per-tenant totals by label: the ``top`` busiest tenants by their slug, the
    rest (and tenants no longer known) summed under ``other``."""
    ranked = sorted(totals, key=lambda tid: (-totals[tid].get("req", 0.0), tid))
    kept = {tid for tid in ranked[:top] if tid in slugs}
    grouped: dict[str, dict[str, float]] = {}
    for tenant_id, values in totals.items():
        label = OTHER
        if tenant_id in kept:
            # A tenant whose slug is "other" must not merge into the catch-all series.
            label = slugs[tenant_id] if slugs[tenant_id] != OTHER else f"{OTHER}-{tenant_id}"
        bucket = grouped.setdefault(label, {})
        for name, value in values.items():
            bucket[name] = bucket.get(name, 0.0) + value
    return grouped


class PortalCollector(Collector):
    """Collect the search and indexing counters of all tenants at scrape time."""

    def __init__(self, grouped: dict[str, dict[str, float]]) -> None:
        self.grouped = grouped

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "portal_search_requests", "Search requests answered or failed.", labels=["tenant"]
        )
        errors = CounterMetricFamily(
            "portal_search_errors",
            "Search requests that failed in the service (5xx class: store or Redis "
            "unavailable, unexpected errors).",
            labels=["tenant"],
        )
        rejected = CounterMetricFamily(
            "portal_search_rejected",
            "Searches refused for their input (bad query syntax, unknown filter value); "
            "not counted in requests or errors.",
            labels=["tenant"],
        )
        cache_hits = CounterMetricFamily(
            "portal_search_cache", "Search answers by cache level.", labels=["tenant", "level"]
        )
        latency = HistogramMetricFamily(
            "portal_search_latency_seconds", "Search latency.", labels=["tenant"]
        )
        chunks = CounterMetricFamily(
            "portal_index_chunks", "Chunks embedded and stored by index jobs.", labels=["tenant"]
        )
        jobs = CounterMetricFamily("portal_index_jobs", "Index jobs finished.", labels=["tenant"])
        embed = CounterMetricFamily(
            "portal_index_embed_seconds", "Seconds spent embedding chunks.", labels=["tenant"]
        )
        for label, values in sorted(self.grouped.items()):
            requests.add_metric([label], values.get("req", 0.0))
            errors.add_metric([label], values.get("err", 0.0))
            rejected.add_metric([label], values.get("rejected", 0.0))
            for level in ("l1", "l2", "miss"):
                cache_hits.add_metric([label, level], values.get(level, 0.0))
            chunks.add_metric([label], values.get("chunks", 0.0))
            jobs.add_metric([label], values.get("jobs", 0.0))
            embed.add_metric([label], values.get("embed_s", 0.0))
            latency.add_metric([label], *_latency_buckets(values))
        yield from (requests, errors, rejected, cache_hits, latency, chunks, jobs, embed)
        tenants = GaugeMetricFamily(
            "portal_metrics_tenant_labels", "Distinct tenant label values exported."
        )
        tenants.add_metric([], len(self.grouped))
        yield tenants


def _latency_buckets(values: dict[str, float]) -> tuple[list[tuple[str, float]], float]:
    cumulative = 0.0
    buckets: list[tuple[str, float]] = []
    for index, bound_ms in enumerate(histogram.LATENCY_BOUNDS_MS):
        cumulative += values.get(f"h{index}", 0.0)
        buckets.append((repr(bound_ms / 1000), cumulative))
    cumulative += values.get(f"h{len(histogram.LATENCY_BOUNDS_MS)}", 0.0)
    buckets.append(("+Inf", cumulative))
    return buckets, values.get("lat_ms", 0.0) / 1000


def render_metrics() -> bytes:
    """Return the exposition text for all tenants. Raise RedisError when Redis is down."""
    from tenants.models import Tenant

    totals = counters.read_totals()
    slugs = dict(Tenant.objects.filter(pk__in=list(totals)).values_list("pk", "slug"))
    grouped = bounded_labels(totals, slugs, top=int(capacity_setting("PROMETHEUS_TOP_TENANTS")))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector(grouped))
    return generate_latest(registry)
