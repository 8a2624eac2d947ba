"""Offline relevance evaluation: index a corpus into a throwaway store and rank queries.

Results are written in the format of the shared relevance set's scorer: one JSON object per
query, ``{"id": ..., "results": [{"path", "start_line", "end_line"}, ...]}`` with paths relative
to the corpus. Ranking goes through :func:`search.retrieval.retrieve`, the same code as live
search.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.chunk_heads import embed_chunks
from search.clients.vectorstore.base import (
    ChunkPoint,
    SearchFilter,
    StorageSettings,
    StorageTarget,
    VectorStore,
)
from search.embeddings import Embedder
from search.exceptions import QueryInvalid
from search.ingest.chunking import Chunk, chunk_source
from search.ingest.decoding import load_source
from search.ingest.walker import FileEntry, FileLimits, SkippedFile, walk_repository
from search.query_language import parse_query
from search.retrieval import RetrievalMode, retrieve
from search.sparse import chunk_sparse_vector

logger = logging.getLogger(__name__)

EVAL_TARGET = StorageTarget(tenant_key="evaluation")
EVAL_REPOSITORY_ID = 1
EMBED_BATCH = 64
# Names the embedding model a kept index was built with, so that a later run with another
# model refuses to rank against it instead of reporting meaningless figures.
INDEX_MODEL_MARKER = "embedding_model.txt"


@dataclass(frozen=True)
class IndexSummary:
    files: int
    chunks: int
    embed_seconds: float


def corpus_chunks(corpus: Path) -> list[Chunk]:
    """Chunk every indexable file of the corpus exactly as an index job would."""
    chunks: list[Chunk] = []
    for entry in walk_repository(corpus, limits=FileLimits()):
        if not isinstance(entry, FileEntry):
            continue
        source = load_source(corpus, entry)
        if isinstance(source, SkippedFile):
            continue
        chunks.extend(chunk_source(source))
    return chunks


def build_index(
    chunks: list[Chunk],
    *,
    store: VectorStore,
    embedder: Embedder,
    on_batch: Callable[[int], None] | None = None,
) -> IndexSummary:
    """Embed and store the chunks under :data:`EVAL_TARGET`."""
    import time

    store.ensure_tenant_storage(EVAL_TARGET, StorageSettings(dense_size=embedder.dimension))
    embed_seconds = 0.0
    for start in range(0, len(chunks), EMBED_BATCH):
        batch = chunks[start : start + EMBED_BATCH]
        began = time.perf_counter()
        vectors, heads = embed_chunks(embedder, batch)
        embed_seconds += time.perf_counter() - began
        store.upsert(
            EVAL_TARGET,
            [
                ChunkPoint(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{c.path}#{c.chunk_index}")),
                    dense=[float(x) for x in vector],
                    sparse=chunk_sparse_vector(c),
                    head=[float(x) for x in head],
                    payload={
                        "repository_id": EVAL_REPOSITORY_ID,
                        "path": c.path,
                        "language": c.language,
                        "kind": c.kind,
                        "symbol": c.symbol,
                        "name": c.name,
                        "start_line": c.start_line,
                        "end_line": c.end_line,
                        "text": c.text,
                    },
                )
                for c, vector, head in zip(batch, vectors, heads, strict=True)
            ],
        )
        if on_batch is not None:
            on_batch(len(batch))
    store.optimize(EVAL_TARGET)
    files = len({c.path for c in chunks})
    return IndexSummary(files=files, chunks=len(chunks), embed_seconds=embed_seconds)


def write_index_model(index_dir: Path, model: str) -> None:
    """Record that the index in ``index_dir`` was built with ``model``.

    Call only once the index is complete: an index without a marker is never reused.
    """
    (index_dir / INDEX_MODEL_MARKER).write_text(model + "\n", encoding="utf-8")


def read_index_model(index_dir: Path) -> str | None:
    """Return the model the index in ``index_dir`` was built with; None without a marker."""
    try:
        return (index_dir / INDEX_MODEL_MARKER).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def read_queries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def rank_queries(
    queries: Iterable[dict[str, Any]],
    *,
    store: VectorStore,
    embedder: Embedder,
    mode: RetrievalMode,
    k: int = 10,
) -> Iterator[dict[str, Any]]:
    """Yield one scorer line per query (an invalid query ranks nothing)."""
    for query in queries:
        try:
            parsed = parse_query(query["query"])
        except QueryInvalid:
            yield {"id": query["id"], "results": []}
            continue
        candidates = retrieve(
            store=store,
            target=EVAL_TARGET,
            embedder=embedder,
            parsed=parsed,
            search_filter=SearchFilter(),
            limit=k,
            mode=mode,
        )
        yield {
            "id": query["id"],
            "results": [
                {
                    "path": c.hit.payload["path"],
                    "start_line": c.hit.payload["start_line"],
                    "end_line": c.hit.payload["end_line"],
                }
                for c in candidates
            ],
        }
