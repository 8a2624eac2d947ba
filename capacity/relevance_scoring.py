"""Offline relevance metrics: how well ranked results point at the gold code locations.

The definitions are those of the shared relevance set (``shared/eval/README.md``, "Scoring"),
so figures recorded by ``evaluate_search`` can be compared with the published baselines:

- a result is a hit on a gold entry when the paths are equal, the inclusive line spans
  overlap, and the result spans at most ``max(2 * gold lines, gold lines + 30)`` lines (a
  whole file does not count as pointing at a function);
- each gold entry is credited at most once, to the best-ranked result that hits it, and a
  result credits at most one gold entry;
- only the first ``k`` results count (10 by default); a query without results is a miss;
- MRR@k is the reciprocal rank of the first hit; Recall@n is the share of gold entries hit
  in the top n; nDCG@k uses binary gains with the ideal ranking putting every gold entry
  first. Each is averaged over queries, overall and per query type and language.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capacity.exceptions import InvalidRelevanceSet

DEFAULT_CUTOFF = 10
# Figures are stored and shown at the precision the shared scorer prints.
DIGITS = 4


@dataclass(frozen=True)
class Span:
    """A file path with a 1-based, inclusive line range."""

    path: str
    start_line: int
    end_line: int

    @property
    def line_count(self) -> int:
        return self.end_line - self.start_line + 1

    def overlaps(self, other: Span) -> bool:
        return self.start_line <= other.end_line and other.start_line <= self.end_line


def span_from(raw: Any, *, where: str) -> Span:
    """Build a span from ``{"path", "start_line", "end_line"}``.

    Raise :class:`InvalidRelevanceSet` naming ``where`` when a field is missing, a line is
    not a positive integer, or the span ends before it starts.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRelevanceSet(f"{where}: expected an object with path, start_line, end_line.")
    path = raw.get("path")
    if not isinstance(path, str) or not path:
        raise InvalidRelevanceSet(f"{where}: 'path' must be a non-empty string.")
    lines = []
    for key in ("start_line", "end_line"):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRelevanceSet(
                f"{where}: '{key}' must be a positive integer, got {value!r}."
            )
        lines.append(value)
    if lines[1] < lines[0]:
        raise InvalidRelevanceSet(
            f"{where}: end_line {lines[1]} comes before start_line {lines[0]}."
        )
    return Span(path=path, start_line=lines[0], end_line=lines[1])


def is_hit(result: Span, gold: Span) -> bool:
    """Whether ``result`` points at ``gold``: same file, overlapping, not much longer."""
    longest = max(2 * gold.line_count, gold.line_count + 30)
    return result.path == gold.path and result.overlaps(gold) and result.line_count <= longest


def hit_ranks(
    results: Sequence[Span], gold: Sequence[Span], *, k: int = DEFAULT_CUTOFF
) -> list[int]:
    """Return the 1-based ranks (within the first ``k``) of results that credit a gold entry."""
    uncredited = list(range(len(gold)))
    ranks = []
    for rank, result in enumerate(results[:k], start=1):
        for position, gold_index in enumerate(uncredited):
            if is_hit(result, gold[gold_index]):
                del uncredited[position]
                ranks.append(rank)
                break
    return ranks


@dataclass(frozen=True)
class QueryScore:
    reciprocal_rank: float
    recall_at_1: float
    recall_at_k: float
    ndcg_at_k: float


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def score_query(
    results: Sequence[Span], gold: Sequence[Span], *, k: int = DEFAULT_CUTOFF
) -> QueryScore:
    """Score one query's ranked results; ``gold`` must not be empty."""
    if not gold:
        raise InvalidRelevanceSet("A query needs at least one gold entry to be scored.")
    if k < 1:
        raise InvalidRelevanceSet(f"The cut-off k must be at least 1, got {k}.")
    ranks = hit_ranks(results, gold, k=k)
    ideal = sum(_discount(rank) for rank in range(1, min(len(gold), k) + 1))
    return QueryScore(
        reciprocal_rank=1.0 / ranks[0] if ranks else 0.0,
        recall_at_1=sum(1 for rank in ranks if rank == 1) / len(gold),
        recall_at_k=len(ranks) / len(gold),
        ndcg_at_k=sum(_discount(rank) for rank in ranks) / ideal,
    )


def summarize(scores: Sequence[QueryScore]) -> dict[str, float | int]:
    """Average query scores into ``{"n", "mrr", "recall_at_1", "recall_at_k", "ndcg"}``."""
    count = len(scores)
    if count == 0:
        return {"n": 0, "mrr": 0.0, "recall_at_1": 0.0, "recall_at_k": 0.0, "ndcg": 0.0}

    def mean(values: Iterable[float]) -> float:
        return round(sum(values) / count, DIGITS)

    return {
        "n": count,
        "mrr": mean(s.reciprocal_rank for s in scores),
        "recall_at_1": mean(s.recall_at_1 for s in scores),
        "recall_at_k": mean(s.recall_at_k for s in scores),
        "ndcg": mean(s.ndcg_at_k for s in scores),
    }


@dataclass(frozen=True)
class GoldQuery:
    """A query of the relevance set that has gold locations."""

    id: str
    type: str
    language: str
    gold: tuple[Span, ...]


def gold_queries(queries: Iterable[Mapping[str, Any]]) -> list[GoldQuery]:
    """Return the queries that carry a ``gold`` list (others are ranked but cannot be scored).

    Raise :class:`InvalidRelevanceSet` for a malformed gold entry or a repeated id.
    """
    found: list[GoldQuery] = []
    seen: set[str] = set()
    for number, query in enumerate(queries, start=1):
        gold = query.get("gold")
        if not gold:
            continue
        query_id = query.get("id")
        where = f"query {number} ({query_id!r})"
        if not isinstance(query_id, str) or not query_id:
            raise InvalidRelevanceSet(f"query {number}: 'id' must be a non-empty string.")
        if query_id in seen:
            raise InvalidRelevanceSet(f"{where}: the id is used twice; ids must be unique.")
        if not isinstance(gold, list):
            raise InvalidRelevanceSet(f"{where}: 'gold' must be a list of locations.")
        seen.add(query_id)
        found.append(
            GoldQuery(
                id=query_id,
                type=str(query.get("type") or "unknown"),
                language=str(query.get("lang") or "unknown"),
                gold=tuple(span_from(g, where=f"{where} gold[{i}]") for i, g in enumerate(gold)),
            )
        )
    return found


@dataclass
class RunScores:
    """The metrics of one ranked run, overall and by query type and language."""

    k: int
    overall: dict[str, float | int]
    by_type: dict[str, dict[str, float | int]] = field(default_factory=dict)
    by_language: dict[str, dict[str, float | int]] = field(default_factory=dict)


def score_run(
    queries: Sequence[GoldQuery],
    ranked: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    k: int = DEFAULT_CUTOFF,
) -> RunScores:
    """Score ranked results (query id -> results best first) against the gold queries.

    Results of ids that are not gold queries are ignored; a gold query with no results
    scores zero.
    """
    overall: list[QueryScore] = []
    by_type: dict[str, list[QueryScore]] = defaultdict(list)
    by_language: dict[str, list[QueryScore]] = defaultdict(list)
    for query in queries:
        results = [
            span_from(r, where=f"results of {query.id!r}[{i}]")
            for i, r in enumerate(ranked.get(query.id, [])[:k])
        ]
        score = score_query(results, query.gold, k=k)
        overall.append(score)
        by_type[query.type].append(score)
        by_language[query.language].append(score)
    return RunScores(
        k=k,
        overall=summarize(overall),
        by_type={name: summarize(scores) for name, scores in sorted(by_type.items())},
        by_language={name: summarize(scores) for name, scores in sorted(by_language.items())},
    )
