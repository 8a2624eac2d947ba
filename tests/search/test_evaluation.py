"""The offline evaluation command writes the relevance set's format and ranks sensibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "files"


def test_evaluate_search_writes_ranked_results_for_each_mode(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "pkg").mkdir(parents=True)
    (corpus / "pkg" / "money.py").write_text(
        "def convert_currency(amount, rate):\n    return amount * rate\n\n\n"
        "def format_price(value):\n    return f'{value:.2f} EUR'\n"
    )
    (corpus / "pkg" / "text.py").write_text(
        "def shout(message):\n    raise ValueError('message must not be empty')\n"
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"id": "q1", "query": "convert_currency"},
                {"id": "q2", "query": "message must not be empty"},
                {"id": "q3", "query": '"unbalanced'},
            ]
        )
    )
    out = tmp_path / "results.jsonl"
    call_command(
        "evaluate_search",
        corpus=corpus,
        queries=queries,
        out=out,
        mode="all",
        index_dir=tmp_path / "index",
    )
    for mode in ("hybrid", "dense", "sparse"):
        lines = [
            json.loads(x) for x in (tmp_path / f"results.{mode}.jsonl").read_text().split("\n") if x
        ]
        by_id = {line["id"]: line["results"] for line in lines}
        assert set(by_id) == {"q1", "q2", "q3"}
        assert by_id["q3"] == []
        assert by_id["q1"][0] == {"path": "pkg/money.py", "start_line": 1, "end_line": 2}
    hybrid = {
        x["id"]: x["results"]
        for x in map(
            json.loads, (tmp_path / "results.hybrid.jsonl").read_text().split("\n")[:-1] or []
        )
    }
    assert hybrid["q2"][0]["path"] == "pkg/text.py"


@pytest.mark.django_db
def test_rare_identifier_beats_frequent_noise_tokens(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    """Case C08: IDF makes the rare `frobnicate_widget` outweigh ubiquitous `self`."""
    from django_tenants.utils import tenant_context

    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    source = CASES / "C08"
    if not source.exists():
        pytest.skip("shared case files are not available")
    root = copy_tree(source, "c08")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="c08", path=str(root))
        with django_capture_on_commit_callbacks(execute=True):
            start_index_job(repository=repository)
    hits = acme.api().get("/api/v1/search/", {"q": "repo:c08 frobnicate_widget self"}).json()
    assert hits["results"][0]["path"] == "a.py"
    assert "frobnicate_widget" in hits["results"][0]["snippet"]
