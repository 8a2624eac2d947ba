"""Retrieval core: candidates from the vector store, fused and boosted into one ranking.

It knows nothing of Django or tenants beyond the storage target, so the web search and the
offline evaluation (``manage.py evaluate_search``) rank with exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from search.clients.vectorstore.base import SearchFilter, StorageTarget, VectorStore
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
    both and adds definition and exact-phrase boosts.
    """
    wide = parsed.paths or parsed.exclude_paths or parsed.phrases
    pool = CANDIDATES_WITH_PATH_FILTER if wide else CANDIDATES
    text = parsed.text or " ".join(parsed.phrases)
    dense = [float(x) for x in embed_query_cached(embedder, text)] if mode != "sparse" else None
    sparse = query_sparse_vector(text) if mode != "dense" else None

    dense_hits = (
        store.query(target, dense=dense, search_filter=search_filter, limit=pool)
        if dense is not None
        else []
    )
    sparse_hits = (
        store.query(target, sparse=sparse, search_filter=search_filter, limit=pool)
        if sparse is not None and sparse.indices
        else []
    )
    if mode == "dense":
        candidates = fuse(dense_hits, [], dense_weight=1.0, sparse_weight=0.0)
    elif mode == "sparse":
        candidates = fuse([], sparse_hits, dense_weight=0.0, sparse_weight=1.0)
    else:
        candidates = fuse(dense_hits, sparse_hits)
        candidates = _add_definitions(candidates, store, target, dense, parsed, search_filter)
        candidates = apply_boosts(candidates, parsed)
    if parsed.symbols:
        candidates = [c for c in candidates if defines(c.hit.payload, parsed.symbols)]
    return list(_take(candidates, parsed, limit))


def _add_definitions(
    candidates: list[Candidate],
    store: VectorStore,
    target: StorageTarget,
    dense: list[float] | None,
    parsed: ParsedQuery,
    search_filter: SearchFilter,
) -> list[Candidate]:
    """Make sure chunks defining the typed identifier are candidates, however they scored."""
    names = [*parsed.symbols]
    if parsed.is_identifier:
        names.append(parsed.text.split(".")[-1])
    if not names or dense is None:
        return candidates
    hits = store.query(
        target,
        dense=dense,
        search_filter=SearchFilter(
            repository_ids=search_filter.repository_ids,
            languages=search_filter.languages,
            names=tuple(names),
        ),
        limit=DEFINITION_CANDIDATES,
    )
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
