"""Measure ranking quality on a relevance set (see docs/benchmarks.md for figures)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from search.clients.vectorstore import EdgeVectorStore
from search.embeddings import get_cached_embedder
from search.evaluation import EVAL_TARGET, build_index, corpus_chunks, rank_queries, read_queries

MODES = ("hybrid", "dense", "sparse")


class Command(BaseCommand):
    help = (
        "Index a corpus into a throwaway vector store and write ranked results per query in "
        "the relevance set's format. Example: manage.py evaluate_search --corpus "
        "../shared/eval/dev/corpus --queries ../shared/eval/dev/queries.jsonl --out /tmp/r.jsonl"
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
            help="Keep the throwaway index here and reuse it on the next run.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        corpus: Path = options["corpus"].resolve()
        if not corpus.is_dir():
            raise CommandError(f"--corpus {corpus} is not a directory.")
        if not options["queries"].is_file():
            raise CommandError(f"--queries {options['queries']} is not a file.")
        embedder = get_cached_embedder(
            settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
        )
        with tempfile.TemporaryDirectory(prefix="evaluate-") as scratch:
            index_dir = options["index_dir"] or Path(scratch)
            index_dir.mkdir(parents=True, exist_ok=True)
            store = EdgeVectorStore(index_dir)
            try:
                self._ensure_index(store, embedder, corpus)
                queries = list(read_queries(options["queries"]))
                modes = MODES if options["mode"] == "all" else (options["mode"],)
                for mode in modes:
                    out = self._out_path(options["out"], mode, options["mode"] == "all")
                    with out.open("w", encoding="utf-8") as handle:
                        for line in rank_queries(
                            tqdm(queries, desc=mode, file=self.stderr),
                            store=store,
                            embedder=embedder,
                            mode=mode,
                            k=options["k"],
                        ):
                            handle.write(json.dumps(line) + "\n")
                    self.stdout.write(f"{mode}: {len(queries)} queries -> {out}")
            finally:
                store.close()

    def _ensure_index(self, store: EdgeVectorStore, embedder: Any, corpus: Path) -> None:
        if store.count(EVAL_TARGET) > 0:
            self.stdout.write(f"Reusing the index ({store.count(EVAL_TARGET)} chunks).")
            return
        chunks = corpus_chunks(corpus)
        bar = tqdm(total=len(chunks), unit="chunk", desc="index", file=self.stderr)
        summary = build_index(chunks, store=store, embedder=embedder, on_batch=bar.update)
        bar.close()
        self.stdout.write(
            f"Indexed {summary.files} files, {summary.chunks} chunks "
            f"({summary.chunks / max(summary.embed_seconds, 1e-9):.1f} chunks/s embedding)."
        )

    @staticmethod
    def _out_path(out: Path, mode: str, all_modes: bool) -> Path:
        if not all_modes:
            return out
        return out.with_name(f"{out.stem}.{mode}{out.suffix or '.jsonl'}")
