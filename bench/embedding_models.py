"""Compare the registered embedding models for speed and relevance, and print one table.

Usage (from the repository root, with the eval set in ../shared/eval)::

    .venv/bin/python -m bench.embedding_models
    .venv/bin/python -m bench.embedding_models --models minilm-l6-int8 e5-small-q4 --skip-speed

For every model named in ``search.embeddings.KNOWN_MODELS`` (or ``--models``):

- speed: embeds an evenly spaced sample of the eval corpus's chunks, cut by the product's own
  chunker and laid out by ``document_text``, with ``--threads`` threads, and prints chunks per
  second of wall time and per CPU-second of this process. On a shared machine the CPU figure
  is the steadier one; the wall figure is what an index job sees. It also times single
  query embeddings (the eval's first ``--speed-queries`` queries), which every search pays.
- relevance: runs the product's ``manage.py evaluate_search --mode all`` with
  ``EMBEDDING_MODEL`` set to the model, so chunking, embedding, the vector store and ranking
  are exactly the live pipeline's, then scores every mode with the eval's ``score.py``. The
  index is kept in ``--work-dir`` and reused by later runs; delete it after changing the
  chunker or the model.

The embedded PostgreSQL and Redis that the management command starts under ``--var-dir`` are
stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
MODES = ("dense", "hybrid", "sparse")


def _emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class ModelFigures:
    """What the bench measured for one model; absent figures stay None."""

    name: str
    dimension: int = 0
    max_tokens: int = 0
    mean_tokens: float = 0.0
    wall_rate: float | None = None
    cpu_rate: float | None = None
    query_ms: float | None = None
    modes: dict[str, dict[str, float]] = field(default_factory=dict)


def sample_texts(corpus: Path, *, limit: int) -> list[str]:
    """Return up to ``limit`` chunk texts, evenly spaced over the product's chunks."""
    from search.embeddings import document_text
    from search.evaluation import corpus_chunks

    chunks = corpus_chunks(corpus)
    step = max(1, len(chunks) // limit)
    return [
        document_text(path=c.path, context=c.context, symbol=c.symbol, text=c.text)
        for c in chunks[::step][:limit]
    ]


def measure_speed(
    figures: ModelFigures, texts: Sequence[str], queries: Sequence[str], *, threads: int
) -> None:
    """Fill in chunks/s (wall and per CPU-second) and ms per query after a warm-up."""
    from search.embeddings import load_embedder

    with tempfile.TemporaryDirectory(prefix="embedding-models-") as cache:
        embedder = load_embedder(figures.name, cache_dir=Path(cache), threads=threads)
        figures.dimension = embedder.dimension
        figures.max_tokens = int(getattr(embedder, "max_tokens", 0))
        counts = getattr(embedder, "token_counts", None)
        if counts is not None:
            figures.mean_tokens = sum(counts(texts)) / max(len(texts), 1)
        embedder.embed_documents(list(texts[:8]))
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed_documents(texts)
        figures.wall_rate = len(texts) / (time.perf_counter() - wall)
        figures.cpu_rate = len(texts) / max(time.process_time() - cpu, 1e-9)
        wall = time.perf_counter()
        for query in queries:
            embedder.embed_query(query)
        figures.query_ms = 1000 * (time.perf_counter() - wall) / max(len(queries), 1)


def measure_relevance(figures: ModelFigures, args: argparse.Namespace) -> None:
    """Run the product's evaluate_search for one model and score each mode's results."""
    out = args.work_dir / f"{figures.name}.jsonl"
    command = [
        sys.executable,
        "manage.py",
        "evaluate_search",
        "--corpus",
        str(args.eval_dir / "dev" / "corpus"),
        "--queries",
        str(args.eval_dir / "dev" / "queries.jsonl"),
        "--out",
        str(out),
        "--mode",
        "all",
        "--index-dir",
        str(args.work_dir / f"{figures.name}-index"),
    ]
    if _supports_no_record():
        command.append("--no-record")
    env = {
        **os.environ,
        "EMBEDDING_MODEL": figures.name,
        "PORTAL_VAR_DIR": str(args.var_dir),
    }
    _emit(f"$ EMBEDDING_MODEL={figures.name} PORTAL_VAR_DIR={args.var_dir} " + " ".join(command))
    with (args.work_dir / f"{figures.name}.log").open("w") as log:
        subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, check=True)
    for mode in MODES:
        results = out.with_name(f"{out.stem}.{mode}{out.suffix}")
        figures.modes[mode] = score(args.eval_dir, results)["overall"]


def score(eval_dir: Path, results: Path) -> dict[str, dict[str, float]]:
    """Return the eval scorer's metrics per group for one results file."""
    completed = subprocess.run(
        [
            sys.executable,
            str(eval_dir / "score.py"),
            str(eval_dir / "dev" / "queries.jsonl"),
            str(results),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)["metrics"]


def _supports_no_record() -> bool:
    completed = subprocess.run(
        [sys.executable, "manage.py", "evaluate_search", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return "--no-record" in completed.stdout


def print_table(rows: Sequence[ModelFigures]) -> None:
    """Print the figures as a markdown table, one row per model."""
    _emit()
    _emit(
        "| model | dims | max tokens | mean tokens | chunks/s | chunks/CPU-s | ms/query "
        "| dense MRR@10 | R@1 | R@10 | nDCG@10 | hybrid MRR@10 | hybrid R@10 |"
    )
    _emit("|" + " --- |" * 13)
    for row in rows:
        dense, hybrid = row.modes.get("dense", {}), row.modes.get("hybrid", {})
        _emit(
            f"| {row.name} | {row.dimension or '-'} | {row.max_tokens or '-'} "
            f"| {_number(row.mean_tokens or None, 0)} | {_number(row.wall_rate, 1)} "
            f"| {_number(row.cpu_rate, 1)} | {_number(row.query_ms, 1)} "
            f"| {_number(dense.get('MRR@10'))} "
            f"| {_number(dense.get('Recall@1'))} | {_number(dense.get('Recall@10'))} "
            f"| {_number(dense.get('nDCG@10'))} | {_number(hybrid.get('MRR@10'))} "
            f"| {_number(hybrid.get('Recall@10'))} |"
        )


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def stop_embedded_servers(var_dir: Path) -> None:
    """Stop the PostgreSQL and Redis that evaluate_search started under ``var_dir``."""
    from portal.embedded import stop_postgres, stop_redis

    stop_redis(var_dir)
    stop_postgres(var_dir)


def main(argv: Sequence[str] | None = None) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from search.embeddings import KNOWN_MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(KNOWN_MODELS))
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "var" / "embedding-models")
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=REPO_ROOT / "var" / "bench-embed",
        help="PORTAL_VAR_DIR of the evaluate_search runs (their own PostgreSQL and Redis).",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-chunks", type=int, default=256)
    parser.add_argument("--speed-queries", type=int, default=100)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-relevance", action="store_true")
    args = parser.parse_args(argv)
    args.eval_dir, args.work_dir = args.eval_dir.resolve(), args.work_dir.resolve()
    args.var_dir = args.var_dir.resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)

    names = args.models or list(KNOWN_MODELS)
    rows = [ModelFigures(name=name) for name in names]
    if not args.skip_speed:
        texts = sample_texts(args.eval_dir / "dev" / "corpus", limit=args.speed_chunks)
        lines = (args.eval_dir / "dev" / "queries.jsonl").read_text().splitlines()
        queries = [json.loads(line)["query"] for line in lines[: args.speed_queries]]
        _emit(f"speed: {len(texts)} product chunks of the eval corpus, {args.threads} threads")
        # One model at a time: each gets the whole CPU share, and no two load at once.
        for row in rows:
            measure_speed(row, texts, queries, threads=args.threads)
            _emit(
                f"  {row.name}: {row.wall_rate:.1f} chunks/s, {row.cpu_rate:.1f} /CPU-s, "
                f"{row.query_ms:.1f} ms/query"
            )
    if not args.skip_relevance:
        try:
            for row in rows:
                measure_relevance(row, args)
                dense = row.modes["dense"]
                _emit(f"  {row.name}: dense MRR@10 {dense['MRR@10']:.4f}")
        finally:
            stop_embedded_servers(args.var_dir)
    print_table(rows)


if __name__ == "__main__":
    main()
