"""Keep popular searches fast after a re-index, and never embed the same query twice.

Popularity is counted in Redis per tenant (a sorted set with a week's expiry), cached answers
included, so counting costs one pipelined round trip and no database write.

A finished index job bumps the tenant's index version, which orphans every cached response. The
periodic warming task notices the new version and re-runs the tenant's most popular recent
queries, so the first user after a re-index gets a cached answer. Query embeddings are cached
in-process by a stable digest of the model name and the text.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.core.cache import cache
from redis.exceptions import RedisError

from search import search_cache
from search.embeddings import Embedder

logger = logging.getLogger(__name__)

POPULAR_QUERIES = 20
WARM_LIMIT = 10
QUERY_EMBEDDING_CACHE_ENTRIES = 2048

_query_vectors = search_cache.LRUCache(QUERY_EMBEDDING_CACHE_ENTRIES)


def embed_query_cached(embedder: Embedder, text: str) -> np.ndarray:
    """Return the query's embedding, computing it once per process per (model, text)."""
    key = hashlib.sha256(f"{embedder.name}\x00{text}".encode()).hexdigest()
    vector = _query_vectors.get(key)
    if vector is None:
        vector = embedder.embed_query(text)
        _query_vectors.set(key, vector)
    return vector


def clear_query_vectors() -> None:
    """Forget this process's cached query embeddings (benchmarks measure the cold path)."""
    _query_vectors.clear()


def popular_queries(tenant_key: str, limit: int = POPULAR_QUERIES) -> list[str]:
    """The tenant's most used queries of the last week, most used first."""
    return search_cache.top_queries(tenant_key, limit)


def _warmed_key(tenant_key: str) -> str:
    return f"search:warmed-version:{tenant_key}"


def warm_tenant_cache(tenant_key: str) -> int:
    """Re-run popular queries if the index changed since the last warming; return how many.

    Runs inside the tenant's schema. Queries that no longer parse are skipped.
    """
    from portal.exceptions import PortalError
    from search.services.querying import search_code

    version = search_cache.index_version(tenant_key, fresh=True)
    try:
        if cache.get(_warmed_key(tenant_key)) == version:
            return 0
    except (RedisError, OSError):
        return 0
    warmed = 0
    for query in popular_queries(tenant_key):
        try:
            search_code(query=query, limit=WARM_LIMIT, record=False)
        except PortalError:
            continue
        warmed += 1
    try:
        cache.set(_warmed_key(tenant_key), version, timeout=None)
    except (RedisError, OSError):
        logger.warning("search.warming.version_not_saved")
    logger.info("search.warming.done", extra={"queries": warmed, "index_version": version})
    return warmed
