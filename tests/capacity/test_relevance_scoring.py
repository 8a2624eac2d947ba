"""The product's relevance scorer follows the shared relevance set's metric definitions."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from capacity.exceptions import InvalidRelevanceSet
from capacity.relevance_scoring import (
    Span,
    gold_queries,
    hit_ranks,
    is_hit,
    score_query,
    score_run,
)

SHARED_SCORER = Path(__file__).resolve().parents[3] / "shared" / "eval" / "score.py"
GOLD = Span("pkg/a.py", 10, 20)  # 11 lines: a result may span max(22, 41) = 41 lines


def test_a_hit_needs_the_same_path():
    assert is_hit(Span("pkg/a.py", 12, 15), GOLD)
    assert not is_hit(Span("pkg/b.py", 12, 15), GOLD)
    assert not is_hit(Span("pkg/a.py.bak", 12, 15), GOLD)


def test_a_hit_needs_overlapping_inclusive_spans():
    assert is_hit(Span("pkg/a.py", 1, 10), GOLD)  # shares line 10
    assert is_hit(Span("pkg/a.py", 20, 30), GOLD)  # shares line 20
    assert not is_hit(Span("pkg/a.py", 1, 9), GOLD)
    assert not is_hit(Span("pkg/a.py", 21, 25), GOLD)


def test_a_hit_may_be_at_most_gold_plus_30_lines_for_short_gold():
    assert is_hit(Span("pkg/a.py", 10, 50), GOLD)  # 41 lines
    assert not is_hit(Span("pkg/a.py", 10, 51), GOLD)  # 42 lines
    assert not is_hit(Span("pkg/a.py", 1, 400), GOLD)  # the whole file


def test_a_hit_may_be_twice_the_gold_for_long_gold():
    long_gold = Span("pkg/a.py", 101, 140)  # 40 lines: bound max(80, 70) = 80
    assert is_hit(Span("pkg/a.py", 101, 180), long_gold)
    assert not is_hit(Span("pkg/a.py", 101, 181), long_gold)


def test_hand_computed_query_with_hit_at_rank_three():
    results = [
        Span("pkg/b.py", 10, 20),  # wrong file
        Span("pkg/a.py", 1, 100),  # right place, far too long
        Span("pkg/a.py", 9, 21),  # hit
    ]
    score = score_query(results, [GOLD])
    assert score.reciprocal_rank == pytest.approx(1 / 3)
    assert score.recall_at_1 == 0.0
    assert score.recall_at_k == 1.0
    assert score.ndcg_at_k == pytest.approx(1 / math.log2(4))  # 0.5


def test_each_gold_entry_is_credited_once():
    results = [Span("pkg/a.py", 10, 20), Span("pkg/a.py", 11, 19), Span("pkg/a.py", 12, 18)]
    assert hit_ranks(results, [GOLD]) == [1]
    score = score_query(results, [GOLD])
    assert (score.reciprocal_rank, score.recall_at_k, score.ndcg_at_k) == (1.0, 1.0, 1.0)


def test_two_gold_entries_credit_two_results():
    second = Span("pkg/c.py", 1, 5)
    results = [
        Span("pkg/x.py", 1, 5),
        Span("pkg/c.py", 2, 3),  # second gold at rank 2
        Span("pkg/c.py", 1, 5),  # second gold again: already credited
        Span("pkg/a.py", 15, 16),  # first gold at rank 4
    ]
    score = score_query(results, [GOLD, second])
    assert hit_ranks(results, [GOLD, second]) == [2, 4]
    assert score.reciprocal_rank == 0.5
    assert score.recall_at_1 == 0.0
    assert score.recall_at_k == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert score.ndcg_at_k == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)


def test_only_the_first_ten_results_count():
    misses = [Span("pkg/z.py", 1, 2)] * 10
    assert score_query([*misses, Span("pkg/a.py", 10, 20)], [GOLD]).recall_at_k == 0.0
    assert score_query([*misses[:9], Span("pkg/a.py", 10, 20)], [GOLD]).reciprocal_rank == 0.1


def test_run_scores_missing_results_as_misses_and_groups_by_type_and_language():
    queries = gold_queries(
        [
            {"id": "q1", "type": "nl", "lang": "python", "gold": [vars(GOLD)]},
            {"id": "q2", "type": "symbol", "lang": "python", "gold": [vars(GOLD)]},
            {"id": "q3", "query": "no gold, ranked but not scored"},
        ]
    )
    scores = score_run(queries, {"q1": [vars(GOLD)], "other": [vars(GOLD)]})
    assert [q.id for q in queries] == ["q1", "q2"]
    assert scores.overall == {
        "n": 2,
        "mrr": 0.5,
        "recall_at_1": 0.5,
        "recall_at_k": 0.5,
        "ndcg": 0.5,
    }
    assert scores.by_type["nl"]["mrr"] == 1.0 and scores.by_type["symbol"]["mrr"] == 0.0
    assert scores.by_language == {"python": scores.overall}


@pytest.mark.parametrize(
    ("gold", "message"),
    [
        ({"path": "", "start_line": 1, "end_line": 2}, "'path'"),
        ({"path": "a.py", "start_line": 0, "end_line": 2}, "'start_line'"),
        ({"path": "a.py", "start_line": 5, "end_line": 2}, "comes before"),
        ({"path": "a.py", "start_line": True, "end_line": 2}, "'start_line'"),
    ],
)
def test_malformed_gold_is_rejected_with_what_to_fix(gold, message):
    with pytest.raises(InvalidRelevanceSet, match=message):
        gold_queries([{"id": "q1", "gold": [gold]}])


def test_duplicate_query_ids_are_rejected():
    entry = {"id": "q1", "gold": [vars(GOLD)]}
    with pytest.raises(InvalidRelevanceSet, match="used twice"):
        gold_queries([entry, entry])


def _random_span(rng: random.Random, paths: list[str]) -> dict[str, object]:
    start = rng.randint(1, 120)
    return {"path": rng.choice(paths), "start_line": start, "end_line": start + rng.randint(0, 70)}


def test_scores_match_the_shared_scorer_on_random_runs(tmp_path):
    """Cross-check against shared/eval/score.py, to the 4 decimals both report."""
    if not SHARED_SCORER.exists():
        pytest.skip("shared/eval/score.py is not available")
    rng = random.Random(20261204)  # noqa: S311 -- seeded test data, not a secret
    paths = ["a.py", "b.py", "c.py"]
    queries, results = [], []
    for number in range(300):
        gold = [_random_span(rng, paths) for _ in range(rng.choice([1, 1, 2, 3]))]
        queries.append(
            {"id": f"q{number}", "type": rng.choice(["nl", "symbol"]), "lang": "py", "gold": gold}
        )
        if number % 7:  # every seventh query has no results line
            ranked = [_random_span(rng, paths) for _ in range(rng.randint(0, 14))]
            results.append({"id": f"q{number}", "results": ranked})
    queries_file, results_file = tmp_path / "q.jsonl", tmp_path / "r.jsonl"
    queries_file.write_text("\n".join(json.dumps(q) for q in queries))
    results_file.write_text("\n".join(json.dumps(r) for r in results))
    shared = json.loads(
        subprocess.run(
            [sys.executable, str(SHARED_SCORER), str(queries_file), str(results_file), "--json"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )["metrics"]

    ours = score_run(gold_queries(queries), {r["id"]: r["results"] for r in results})

    assert ours.overall["n"] == 300
    groups = {"overall": ours.overall, **{f"type={t}": m for t, m in ours.by_type.items()}}
    for group, metrics in groups.items():
        assert metrics["mrr"] == shared[group]["MRR@10"], group
        assert metrics["recall_at_1"] == shared[group]["Recall@1"], group
        assert metrics["recall_at_k"] == shared[group]["Recall@10"], group
        assert metrics["ndcg"] == shared[group]["nDCG@10"], group
    assert 0 < ours.overall["mrr"] < 1  # the random run has both hits and misses
