"""Measure chunking throughput and how well chunk boundaries match the eval's gold spans.

Usage: .venv/bin/python bench/chunking.py [CORPUS_DIR] [QUERIES_JSONL]

A gold span is "exactly matched" when one chunk has its start and end lines, and "nearly
matched" (the scorer's hit rule) when a chunk overlaps it and is at most
max(2 x gold lines, gold lines + 30) long.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.ingest.chunking import Chunk, chunk_source
from search.ingest.decoding import SourceFile, load_source
from search.ingest.walker import FileEntry, FileLimits, walk_repository

DEFAULT_CORPUS = Path("/work/shared/eval/dev/corpus")
DEFAULT_QUERIES = Path("/work/shared/eval/dev/queries.jsonl")


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    queries = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_QUERIES

    started = time.perf_counter()
    sources: list[SourceFile] = []
    for item in walk_repository(corpus, limits=FileLimits()):
        if isinstance(item, FileEntry):
            loaded = load_source(corpus, item)
            if isinstance(loaded, SourceFile):
                sources.append(loaded)
    loaded_at = time.perf_counter()
    chunks_by_path: dict[str, list[Chunk]] = {}
    for source in sources:
        chunks_by_path[source.path] = chunk_source(source)
    done_at = time.perf_counter()

    all_chunks = [c for chunks in chunks_by_path.values() for c in chunks]
    lines = sum(s.line_count for s in sources)
    chunk_seconds = done_at - loaded_at
    out = sys.stdout.write
    out(f"files: {len(sources)}  lines: {lines}  chunks: {len(all_chunks)}\n")
    out(f"walk+decode: {loaded_at - started:.2f} s\n")
    out(f"chunking: {chunk_seconds:.2f} s = {len(sources) / chunk_seconds:.0f} files/s, ")
    out(f"{lines / chunk_seconds:.0f} lines/s\n")
    kinds = Counter(c.kind for c in all_chunks)
    out("chunks by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())) + "\n")
    one_line = sum(1 for c in all_chunks if c.line_count == 1)
    out(f"one-line chunks: {one_line}\n")

    exact = near = total = 0
    by_lang: Counter[str] = Counter()
    by_lang_near: Counter[str] = Counter()
    for line in queries.read_text(encoding="utf-8").splitlines():
        query = json.loads(line)
        for gold in query["gold"]:
            total += 1
            by_lang[query["lang"]] += 1
            g_start, g_end = gold["start_line"], gold["end_line"]
            g_lines = g_end - g_start + 1
            bound = max(2 * g_lines, g_lines + 30)
            chunks = chunks_by_path.get(gold["path"], [])
            if any(c.start_line == g_start and c.end_line == g_end for c in chunks):
                exact += 1
            if any(
                c.start_line <= g_end and c.end_line >= g_start and c.line_count <= bound
                for c in chunks
            ):
                near += 1
                by_lang_near[query["lang"]] += 1
    out(f"gold spans: {total}  exact: {exact} ({exact / total:.1%})  ")
    out(f"near (scorer hit rule): {near} ({near / total:.1%})\n")
    for lang, count in sorted(by_lang.items()):
        out(f"  {lang}: near {by_lang_near[lang]}/{count}\n")


if __name__ == "__main__":
    main()
