"""Measure dense embedding throughput and dense/sparse relevance on the shared eval set.

Usage (from the repository root, with the eval set in ../shared/eval)::

    .venv/bin/python -m bench.embedding_throughput throughput
    .venv/bin/python -m bench.embedding_throughput relevance

``throughput`` embeds 40-line windows of the eval corpus with the packaged model as shipped
and with the verified ORT-optimised copy, for every batch size and token limit given, and
prints embeddings per second. ``relevance`` embeds the eval corpus's chunks (the eval's own
chunker: one per function or method, one per top-level JavaScript definition, 40-line windows
elsewhere) in several ``document_text`` layouts and scores each with the eval's score.py. It
also scores the identifier-aware BM25 sparse vectors, with IDF computed the way Qdrant's
``idf`` modifier does, and a min-max fusion of the two.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from search.embeddings import OnnxMiniLMEmbedder, document_text
from search.sparse import document_sparse_vector, query_sparse_vector, tokenize_code

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
WINDOW_LINES = 40
TOP_K = 10


def _emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def corpus_windows(corpus: Path, *, limit: int) -> list[str]:
    """Return up to ``limit`` non-blank 40-line windows, spread evenly over the corpus files."""
    windows: list[str] = []
    for path in sorted(corpus.rglob("*")):
        if path.suffix not in {".py", ".js"} or not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for start in range(0, len(lines), WINDOW_LINES):
            window = "\n".join(lines[start : start + WINDOW_LINES])
            if window.strip():
                windows.append(window)
    step = max(1, len(windows) // limit)
    return windows[::step][:limit]


def measure_throughput(embedder: OnnxMiniLMEmbedder, texts: Sequence[str]) -> float:
    """Return embeddings per second over ``texts`` after one warm-up batch."""
    embedder.embed_documents(list(texts[: embedder.batch_size]))
    started = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - started)


def run_throughput(args: argparse.Namespace) -> None:
    texts = corpus_windows(args.eval_dir / "dev" / "corpus", limit=args.texts)
    _emit(f"{len(texts)} windows of {WINDOW_LINES} lines, {args.threads} threads")
    _emit(f"best and median of {args.repeats} interleaved runs (other load on the machine)")
    _emit(f"{'model':<10}{'max_tokens':>11}{'mean_tokens':>12}{'batch':>7}{'best':>8}{'median':>8}")
    with tempfile.TemporaryDirectory() as cache:
        for max_tokens in args.max_tokens:
            embedders = {
                variant: OnnxMiniLMEmbedder(
                    cache_dir=Path(cache) if variant == "optimised" else None,
                    max_tokens=max_tokens,
                    threads=args.threads,
                )
                for variant in ("original", "optimised")
            }
            if not embedders["optimised"].optimised:
                _emit("optimised copy was rejected; see the warning log")
            mean_tokens = float(np.mean(embedders["original"].token_counts(texts)))
            rates: dict[tuple[str, int], list[float]] = {}
            # Interleaving spreads a burst of outside load over every configuration.
            for _ in range(args.repeats):
                for batch_size in args.batch_sizes:
                    for variant, embedder in embedders.items():
                        embedder.batch_size = batch_size
                        rate = measure_throughput(embedder, texts)
                        rates.setdefault((variant, batch_size), []).append(rate)
            for (variant, batch_size), values in rates.items():
                _emit(
                    f"{variant:<10}{max_tokens:>11}{mean_tokens:>12.0f}{batch_size:>7}"
                    f"{max(values):>8.1f}{float(np.median(values)):>8.1f}"
                )


# Layouts of the embedded chunk text compared by ``relevance``; "default" is document_text.
LAYOUTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "default": lambda c: document_text(
        path=c["path"],
        context=_split_name(c["name"])[0],
        symbol=_split_name(c["name"])[1],
        text=c["text"],
    ),
    "code_only": lambda c: c["text"],
    "name_only": lambda c: f"{c['name']}\n{c['text']}" if c["name"] else c["text"],
    "words": lambda c: (
        f"{c['path']} :: {c['name']} ({' '.join(tokenize_code(c['name']))})\n{c['text']}"
    ),
}


def _split_name(name: str) -> tuple[str, str]:
    context, _, symbol = name.rpartition(".")
    return context, symbol


def run_relevance(args: argparse.Namespace) -> None:
    chunking = _load_module(args.eval_dir / "chunking.py")
    chunks = chunking.corpus_chunks(str(args.eval_dir / "dev" / "corpus"))
    queries_path = args.eval_dir / "dev" / "queries.jsonl"
    queries = [json.loads(line) for line in queries_path.read_text().splitlines() if line]
    _emit(f"{len(chunks)} chunks, {len(queries)} queries")

    sparse_scores = sparse_score_matrix(chunks, [q["query"] for q in queries])
    _report("sparse BM25", chunks, queries, sparse_scores, args)

    with tempfile.TemporaryDirectory() as cache:
        embedder = OnnxMiniLMEmbedder(cache_dir=Path(cache), max_tokens=args.max_tokens)
    query_vectors = embedder.embed_documents([q["query"] for q in queries])
    for layout in args.layouts:
        vectors = _chunk_vectors(embedder, [LAYOUTS[layout](c) for c in chunks], layout, args)
        dense_scores = query_vectors @ vectors.T
        _report(f"dense {layout}", chunks, queries, dense_scores, args)
        fused = 0.7 * _min_max(dense_scores) + 0.3 * _min_max(sparse_scores)
        _report(f"fused 0.7 dense {layout} + 0.3 sparse", chunks, queries, fused, args)


def _chunk_vectors(
    embedder: OnnxMiniLMEmbedder, texts: list[str], layout: str, args: argparse.Namespace
) -> np.ndarray:
    """Embed the chunk texts, or reuse vectors saved by an earlier run with the same texts."""
    saved = None
    if args.vectors_dir is not None:
        digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
        saved = args.vectors_dir / f"{layout}-{args.max_tokens}-{digest}.npy"
        if saved.exists():
            return np.load(saved)
    started = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    _emit(f"embedded {len(texts)} chunks at {len(texts) / (time.perf_counter() - started):.1f}/s")
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.save(saved, vectors)
    return vectors


def sparse_score_matrix(chunks: Sequence[dict[str, Any]], queries: Sequence[str]) -> np.ndarray:
    """Score every chunk for every query as Qdrant does with the ``idf`` modifier."""
    documents = [document_sparse_vector(f"{c['path']} :: {c['name']}\n{c['text']}") for c in chunks]
    frequencies = Counter(i for d in documents for i in d.indices)
    total = len(documents)
    postings: dict[int, list[tuple[int, float]]] = {}
    for row, doc in enumerate(documents):
        for index, value in zip(doc.indices, doc.values, strict=True):
            postings.setdefault(index, []).append((row, value))
    scores = np.zeros((len(queries), total), dtype=np.float32)
    for q_row, query in enumerate(queries):
        vector = query_sparse_vector(query)
        for index, weight in zip(vector.indices, vector.values, strict=True):
            df = frequencies.get(index, 0)
            idf = math.log(1.0 + (total - df + 0.5) / (df + 0.5))
            for row, value in postings.get(index, []):
                scores[q_row, row] += idf * weight * value
    return scores


def _min_max(scores: np.ndarray) -> np.ndarray:
    low = scores.min(axis=1, keepdims=True)
    span = np.maximum(scores.max(axis=1, keepdims=True) - low, 1e-9)
    return (scores - low) / span


def _report(
    label: str,
    chunks: Sequence[dict[str, Any]],
    queries: Sequence[dict[str, Any]],
    scores: np.ndarray,
    args: argparse.Namespace,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results_path = Path(folder) / "results.jsonl"
        with results_path.open("w") as out:
            for row, query in enumerate(queries):
                best = np.argsort(-scores[row], kind="stable")[:TOP_K]
                ranked = [
                    {k: chunks[i][k] for k in ("path", "start_line", "end_line")} for i in best
                ]
                out.write(json.dumps({"id": query["id"], "results": ranked}) + "\n")
        completed = subprocess.run(
            [
                sys.executable,
                str(args.eval_dir / "score.py"),
                str(args.eval_dir / "dev" / "queries.jsonl"),
                str(results_path),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    metrics = json.loads(completed.stdout)["metrics"]
    _emit(label)
    for group in ("overall", "type=nl", "type=symbol", "type=error", "lang=javascript"):
        m = metrics[group]
        _emit(
            f"  {group:<16} MRR@10 {m['MRR@10']:.4f}  R@1 {m['Recall@1']:.4f}"
            f"  R@10 {m['Recall@10']:.4f}"
        )


def _load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    commands = parser.add_subparsers(dest="command", required=True)

    throughput = commands.add_parser("throughput", help="embeddings per second")
    throughput.add_argument("--texts", type=int, default=128)
    throughput.add_argument("--threads", type=int, default=2)
    throughput.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    throughput.add_argument("--max-tokens", type=int, nargs="+", default=[128, 256])
    throughput.add_argument("--repeats", type=int, default=3)

    relevance = commands.add_parser("relevance", help="MRR@10 of dense, sparse and fused")
    relevance.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=["default"])
    relevance.add_argument("--max-tokens", type=int, default=256)
    relevance.add_argument(
        "--vectors-dir", type=Path, default=None, help="keep chunk vectors here for reruns"
    )

    args = parser.parse_args(argv)
    if args.command == "throughput":
        run_throughput(args)
    else:
        run_relevance(args)


if __name__ == "__main__":
    main()
