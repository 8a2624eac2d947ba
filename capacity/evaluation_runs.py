"""Stored offline relevance runs: recording one, and what the dashboards show of them.

A run measures the deployment's ranking code and embedding model on a benchmark corpus
(``manage.py evaluate_search``). It is platform-wide and says nothing about any tenant's own
repositories, so every reader here returns the corpus and date with the figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from capacity.models import EvaluationRun
from capacity.relevance_scoring import RunScores

logger = logging.getLogger(__name__)

# How many runs per mode the trend chart shows.
TREND_RUNS = 12


def record_evaluation_run(
    *,
    corpus: str,
    mode: str,
    embedding_model: str,
    scores: RunScores,
    command: str,
    chunks: int | None = None,
) -> EvaluationRun:
    """Store one scored run. Side effect: one row in the public schema."""
    run = EvaluationRun.objects.create(
        corpus=corpus[:200],
        mode=mode,
        embedding_model=embedding_model[:100],
        k=scores.k,
        query_count=int(scores.overall["n"]),
        chunks=chunks,
        metrics=scores.overall,
        metrics_by_type=scores.by_type,
        metrics_by_language=scores.by_language,
        command=command,
    )
    logger.info(
        "capacity.evaluation_run.recorded",
        extra={
            "run_id": run.pk,
            "mode": mode,
            "queries": run.query_count,
            "mrr": scores.overall["mrr"],
        },
    )
    return run


def _as_dict(run: EvaluationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "created_at": run.created_at.isoformat(),
        "corpus": run.corpus,
        "mode": run.mode,
        "embedding_model": run.embedding_model,
        "k": run.k,
        "query_count": run.query_count,
        "chunks": run.chunks,
        "metrics": run.metrics,
        # Sorted by type name: JSONB does not keep the order the keys were written in.
        "metrics_by_type": dict(sorted(run.metrics_by_type.items())),
    }


def latest_runs() -> dict[str, Any]:
    """Return the latest run per mode on the corpus evaluated most recently, and the trend.

    Runs on other corpora are not comparable with these and are left out; ``corpus`` is
    None when nothing was recorded yet.
    """
    newest = EvaluationRun.objects.order_by("-created_at", "-pk").first()
    if newest is None:
        return {"corpus": None, "latest": [], "trend": {}}
    runs = EvaluationRun.objects.filter(corpus=newest.corpus).order_by("-created_at", "-pk")
    latest: dict[str, EvaluationRun] = {}
    trend: dict[str, list[EvaluationRun]] = {}
    for run in _each(runs):
        latest.setdefault(run.mode, run)
        per_mode = trend.setdefault(run.mode, [])
        if len(per_mode) < TREND_RUNS:
            per_mode.append(run)
    return {
        "corpus": newest.corpus,
        "latest": [_as_dict(run) for run in sorted(latest.values(), key=lambda r: r.mode)],
        "trend": {
            mode: {
                "t": [r.created_at.isoformat() for r in reversed(items)],
                "mrr": [r.metrics.get("mrr") for r in reversed(items)],
                "ndcg": [r.metrics.get("ndcg") for r in reversed(items)],
            }
            for mode, items in sorted(trend.items())
        },
    }


def _each(runs: QuerySet[EvaluationRun]) -> Iterable[EvaluationRun]:
    # The newest runs only, and only the fields the dashboard reads.
    return runs.only(
        "created_at",
        "corpus",
        "mode",
        "embedding_model",
        "k",
        "query_count",
        "chunks",
        "metrics",
        "metrics_by_type",
    )[:500]
