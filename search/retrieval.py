"""Retrieval core: candidates from the vector store, fused and boosted into one ranking.

It knows nothing of Django or tenants beyond the storage target, so the web search and the
offline evaluation (``manage.py evaluate_search``) rank with exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

from search.clients.vectorstore.base import (
    SearchFilter,
    SearchHit,
    StorageTarget,
    VectorQuery,
    VectorStore,
)
from search.embeddings import Embedder
from search.query_language import ParsedQuery
from search.ranking import Candidate, apply_boosts, fuse, path_allowed
from search.sparse import query_sparse_vector
from search.warming import embed_query_cached

RetrievalMode = Literal["hybrid", "dense", "sparse"]
CANDIDATES = 100
CANDIDATES_WITH_PATH_FILTER = 400
DEFINITION_CANDIDATES = 20


def retrieve(
    *,
    store: VectorStore,
    target: StorageTarget,
    embedder: Embedder,
    parsed: ParsedQuery,
    search_filter: SearchFilter,
    limit: int,
    mode: RetrievalMode = "hybrid",
) -> list[Candidate]:
    """Return up to ``limit`` ranked candidates for a parsed query.

    ``dense`` and ``sparse`` modes use one signal alone (for measurement); ``hybrid`` fuses
    both with the head vectors' ranking and adds definition and exact-phrase boosts.
    """
    wide = parsed.paths or parsed.exclude_paths or parsed.phrases
    pool = CANDIDATES_WITH_PATH_FILTER if wide else CANDIDATES
    text = parsed.text or " ".join(parsed.phrases)
    dense = [float(x) for x in embed_query_cached(embedder, text)] if mode != "sparse" else None
    sparse = query_sparse_vector(text) if mode != "dense" else None

    # One batch: a single round trip to the store owner and one planned pass over the shard.
    queries = {}
    if dense is not None:
        queries["dense"] = VectorQuery(dense=dense, search_filter=search_filter, limit=pool)
        if mode == "hybrid":
            queries["head"] = VectorQuery(head=dense, search_filter=search_filter, limit=pool)
            names = _typed_names(parsed)
            if names:
                queries["definitions"] = VectorQuery(
                    dense=dense,
                    search_filter=replace(search_filter, names=tuple(names)),
                    limit=DEFINITION_CANDIDATES,
                )
    if sparse is not None and sparse.indices:
        queries["sparse"] = VectorQuery(sparse=sparse, search_filter=search_filter, limit=pool)
    answers = dict(zip(queries, store.query_many(target, list(queries.values())), strict=True))
    dense_hits = answers.get("dense", [])
    sparse_hits = answers.get("sparse", [])
    if mode == "dense":
        candidates = fuse(dense_hits, [], dense_weight=1.0, sparse_weight=0.0)
    elif mode == "sparse":
        candidates = fuse([], sparse_hits, dense_weight=0.0, sparse_weight=1.0)
    else:
        candidates = fuse(dense_hits, sparse_hits, answers.get("head", []))
        candidates = _add_definitions(candidates, answers.get("definitions", []))
        candidates = apply_boosts(candidates, parsed)
    if parsed.symbols:
        candidates = [c for c in candidates if defines(c.hit.payload, parsed.symbols)]
    return list(_take(candidates, parsed, limit))


def _typed_names(parsed: ParsedQuery) -> list[str]:
    """The identifiers the user typed (``sym:`` values, or the query itself when it is one)."""
    names = [*parsed.symbols]
    if parsed.is_identifier:
        names.append(parsed.text.split(".")[-1])
    return names


def _add_definitions(candidates: list[Candidate], hits: list[SearchHit]) -> list[Candidate]:
    """Make sure chunks defining the typed identifier are candidates, however they scored."""
    known = {c.hit.id for c in candidates}
    return candidates + [Candidate(hit=h) for h in hits if h.id not in known]


def _take(candidates: list[Candidate], parsed: ParsedQuery, limit: int) -> Iterator[Candidate]:
    taken = 0
    for candidate in candidates:
        if not path_allowed(str(candidate.hit.payload.get("path", "")), parsed):
            continue
        yield candidate
        taken += 1
        if taken >= limit:
            return


def defines(payload: dict[str, Any], symbols: list[str]) -> bool:
    """True when the chunk is the definition of one of the symbols."""
    symbol = str(payload.get("symbol") or "")
    name = str(payload.get("name") or "")
    return any(s in (symbol, name) or symbol.endswith(f".{s}") for s in symbols)
