"""Measure ranking quality on a relevance set (see docs/benchmarks.md for figures).

When the queries carry gold locations, each mode's results are scored (MRR@k, Recall@1,
Recall@k, nDCG@k, as the shared scorer defines them) and, unless ``--no-record`` is given,
stored as an evaluation run that tenant dashboards show under "Offline relevance".
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from capacity.evaluation_runs import record_evaluation_run
from capacity.exceptions import InvalidRelevanceSet
from capacity.relevance_scoring import GoldQuery, RunScores, gold_queries, score_run
from search.clients.vectorstore import EdgeVectorStore
from search.embeddings import get_cached_embedder
from search.evaluation import (
    EVAL_TARGET,
    build_index,
    corpus_chunks,
    rank_queries,
    read_index_model,
    read_queries,
    write_index_model,
)
from search.sparse import TERM_SCHEME

MODES = ("hybrid", "dense", "sparse")


class Command(BaseCommand):
    help = (
        "Index a corpus into a throwaway vector store and write ranked results per query in "
        "the relevance set's format. Example: manage.py evaluate_search --corpus "
        "../shared/eval/dev/corpus --queries ../shared/eval/dev/queries.jsonl --out /tmp/r.jsonl. "
        "Queries with gold locations are scored, and each mode's run is recorded for the "
        "dashboards unless --no-record is given."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--corpus", required=True, type=Path)
        parser.add_argument("--queries", required=True, type=Path)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--mode",
            choices=[*MODES, "all"],
            default="hybrid",
            help="'all' writes OUT with .hybrid/.dense/.sparse before the suffix.",
        )
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument(
            "--index-dir",
            type=Path,
            help="Keep the throwaway index here and reuse it on the next run with the same "
            "EMBEDDING_MODEL (a run with another model refuses it).",
        )
        parser.add_argument(
            "--no-record",
            dest="record",
            action="store_false",
            help="Score the run but do not store it (by default a scored run is stored).",
        )
        parser.add_argument(
            "--corpus-name",
            help="Label of the corpus on dashboards (default: its last two folder names).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        corpus: Path = options["corpus"].resolve()
        if not corpus.is_dir():
            raise CommandError(f"--corpus {corpus} is not a directory.")
        if not options["queries"].is_file():
            raise CommandError(f"--queries {options['queries']} is not a file.")
        if options["k"] < 1:
            raise CommandError(f"--k must be at least 1, got {options['k']}.")
        # Read and check the gold locations first, so a bad file fails before indexing.
        queries = list(read_queries(options["queries"]))
        gold = self._gold(queries)
        embedder = get_cached_embedder(
            settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
        )
        with tempfile.TemporaryDirectory(prefix="evaluate-") as scratch:
            index_dir = options["index_dir"] or Path(scratch)
            index_dir.mkdir(parents=True, exist_ok=True)
            store = EdgeVectorStore(index_dir)
            try:
                self._ensure_index(store, embedder, corpus, index_dir)
                modes = MODES if options["mode"] == "all" else (options["mode"],)
                for mode in modes:
                    out = self._out_path(options["out"], mode, options["mode"] == "all")
                    ranked: dict[str, list[dict[str, Any]]] = {}
                    with out.open("w", encoding="utf-8") as handle:
                        for line in rank_queries(
                            tqdm(queries, desc=mode, file=self.stderr),
                            store=store,
                            embedder=embedder,
                            mode=mode,
                            k=options["k"],
                        ):
                            handle.write(json.dumps(line) + "\n")
                            ranked[line["id"]] = line["results"]
                    self.stdout.write(f"{mode}: {len(queries)} queries -> {out}")
                    if gold:
                        scores = score_run(gold, ranked, k=options["k"])
                        self._report(mode, scores)
                        if options["record"]:
                            self._record(options, corpus, mode, scores, store.count(EVAL_TARGET))
            finally:
                store.close()

    def _ensure_index(
        self, store: EdgeVectorStore, embedder: Any, corpus: Path, index_dir: Path
    ) -> None:
        # Names the model and the keyword-term scheme: either change makes a kept index stale.
        model = f"{settings.SEARCH['EMBEDDING_MODEL']}, terms v{TERM_SCHEME}"
        if store.count(EVAL_TARGET) > 0:
            self._check_reusable(index_dir, model)
            self.stdout.write(f"Reusing the index ({store.count(EVAL_TARGET)} chunks, {model}).")
            return
        chunks = corpus_chunks(corpus)
        bar = tqdm(total=len(chunks), unit="chunk", desc="index", file=self.stderr)
        summary = build_index(chunks, store=store, embedder=embedder, on_batch=bar.update)
        bar.close()
        write_index_model(index_dir, model)
        self.stdout.write(
            f"Indexed {summary.files} files, {summary.chunks} chunks "
            f"({summary.chunks / max(summary.embed_seconds, 1e-9):.1f} chunks/s embedding)."
        )

    @staticmethod
    def _check_reusable(index_dir: Path, model: str) -> None:
        """Refuse an index built by another model or term scheme, or one whose origin is not
        known (built before the marker existed, or a build that stopped half-way)."""
        built_with = read_index_model(index_dir)
        if built_with == model:
            return
        described = built_with or "an unknown embedding model (no marker file)"
        raise CommandError(
            f"--index-dir {index_dir} holds an index built with {described}, but "
            f"this run uses {model}; delete {index_dir} or pass another --index-dir."
        )

    @staticmethod
    def _gold(queries: list[dict[str, Any]]) -> list[GoldQuery]:
        try:
            return gold_queries(queries)
        except InvalidRelevanceSet as exc:
            raise CommandError(f"--queries: {exc.message}") from exc

    def _report(self, mode: str, scores: RunScores) -> None:
        k = scores.k
        self.stdout.write(
            f"{'group':<18}{'n':>6}{f'MRR@{k}':>10}{'R@1':>10}{f'R@{k}':>10}{f'nDCG@{k}':>10}"
        )
        groups = {
            f"{mode} overall": scores.overall,
            **{f"type={name}": m for name, m in scores.by_type.items()},
            **{f"lang={name}": m for name, m in scores.by_language.items()},
        }
        for name, m in groups.items():
            self.stdout.write(
                f"{name:<18}{m['n']:>6}{m['mrr']:>10.4f}{m['recall_at_1']:>10.4f}"
                f"{m['recall_at_k']:>10.4f}{m['ndcg']:>10.4f}"
            )

    def _record(
        self, options: dict[str, Any], corpus: Path, mode: str, scores: RunScores, chunks: int
    ) -> None:
        run = record_evaluation_run(
            corpus=options["corpus_name"] or "/".join(corpus.parts[-2:]),
            mode=mode,
            embedding_model=str(settings.SEARCH["EMBEDDING_MODEL"]),
            scores=scores,
            command=(
                f"manage.py evaluate_search --corpus {corpus} --queries "
                f"{options['queries'].resolve()} --mode {mode} --k {scores.k}"
            ),
            chunks=chunks,
        )
        self.stdout.write(f"{mode}: recorded evaluation run {run.pk} ({run.corpus}).")

    @staticmethod
    def _out_path(out: Path, mode: str, all_modes: bool) -> Path:
        if not all_modes:
            return out
        return out.with_name(f"{out.stem}.{mode}{out.suffix or '.jsonl'}")
