"""evaluate_search scores gold queries and stores each run for the dashboards."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from capacity.models import EvaluationRun

pytestmark = pytest.mark.django_db


def _tiny_relevance_set(root: Path, *, gold_end: int = 2) -> tuple[Path, Path]:
    corpus = root / "bench" / "corpus"
    (corpus / "pkg").mkdir(parents=True)
    (corpus / "pkg" / "money.py").write_text(
        "def convert_currency(amount, rate):\n    return amount * rate\n\n\n"
        "def format_price(value):\n    return f'{value:.2f} EUR'\n"
    )
    (corpus / "pkg" / "text.py").write_text(
        "def shout(message):\n    raise ValueError('message must not be empty')\n"
    )
    queries = root / "queries.jsonl"
    rows = [
        {
            "id": "s1",
            "query": "convert_currency",
            "type": "symbol",
            "lang": "python",
            "gold": [{"path": "pkg/money.py", "start_line": 1, "end_line": gold_end}],
        },
        {
            "id": "e1",
            "query": "message must not be empty",
            "type": "error",
            "lang": "python",
            "gold": [{"path": "pkg/text.py", "start_line": 1, "end_line": 2}],
        },
        {"id": "x1", "query": "no gold here, ranked only"},
    ]
    queries.write_text("\n".join(json.dumps(row) for row in rows))
    return corpus, queries


def test_evaluate_search_records_a_scored_run(tmp_path):
    corpus, queries = _tiny_relevance_set(tmp_path)
    out = StringIO()

    call_command(
        "evaluate_search",
        corpus=corpus,
        queries=queries,
        out=tmp_path / "results.jsonl",
        mode="sparse",
        index_dir=tmp_path / "index",
        stdout=out,
    )

    run = EvaluationRun.objects.get()
    assert run.corpus == "bench/corpus"
    assert run.mode == "sparse"
    assert run.query_count == 2  # the query without gold is ranked but not scored
    assert run.k == 10
    assert run.chunks and run.chunks >= 3
    assert set(run.metrics) == {"n", "mrr", "recall_at_1", "recall_at_k", "ndcg"}
    assert run.metrics["mrr"] == 1.0  # both gold functions rank first on this corpus
    assert set(run.metrics_by_type) == {"symbol", "error"}
    assert run.metrics_by_language["python"]["n"] == 2
    assert "evaluate_search" in run.command and "--mode sparse" in run.command
    assert "recorded evaluation run" in out.getvalue()
    assert "sparse overall" in out.getvalue()


def test_each_mode_of_all_is_recorded_under_the_given_corpus_name(tmp_path):
    corpus, queries = _tiny_relevance_set(tmp_path)
    call_command(
        "evaluate_search",
        corpus=corpus,
        queries=queries,
        out=tmp_path / "results.jsonl",
        mode="all",
        index_dir=tmp_path / "index",
        corpus_name="tiny",
        stdout=StringIO(),
    )
    assert sorted(EvaluationRun.objects.values_list("corpus", "mode")) == [
        ("tiny", "dense"),
        ("tiny", "hybrid"),
        ("tiny", "sparse"),
    ]


def test_no_record_scores_without_storing(tmp_path):
    corpus, queries = _tiny_relevance_set(tmp_path)
    out = StringIO()
    call_command(
        "evaluate_search",
        corpus=corpus,
        queries=queries,
        out=tmp_path / "results.jsonl",
        mode="sparse",
        index_dir=tmp_path / "index",
        record=False,
        stdout=out,
    )
    assert not EvaluationRun.objects.exists()
    assert "sparse overall" in out.getvalue()


def test_malformed_gold_stops_the_command_before_indexing(tmp_path):
    corpus, queries = _tiny_relevance_set(tmp_path, gold_end=0)
    with pytest.raises(CommandError, match="end_line"):
        call_command(
            "evaluate_search",
            corpus=corpus,
            queries=queries,
            out=tmp_path / "results.jsonl",
            mode="sparse",
            index_dir=tmp_path / "index",
            stdout=StringIO(),
        )
    assert not EvaluationRun.objects.exists()
    assert not (tmp_path / "index").exists()
