from __future__ import annotations

import numpy as np
import pytest
from django_tenants.utils import tenant_context

pytestmark = pytest.mark.django_db


def test_popular_queries_are_served_from_cache_after_a_reindex(acme_indexed):
    from search import search_cache
    from search.tasks import warm_all_search_caches
    from search.warming import popular_queries

    api = acme_indexed.api()
    # Queries no other test uses, so the ranking below is this test's alone.
    for query in ["wrap text warmly", "wrap text warmly", "join_options_warmly"]:
        assert api.get("/api/v1/search/", {"q": query}).status_code == 200
    ranking = popular_queries(acme_indexed.tenant.schema_name, limit=100)
    assert ranking.index("wrap text warmly") < ranking.index("join_options_warmly")

    search_cache.bump_index_version(acme_indexed.tenant.schema_name)  # what a re-index does
    assert warm_all_search_caches.apply().get() >= 1
    warmed = api.get("/api/v1/search/", {"q": "wrap text warmly", "limit": 10}).json()
    assert warmed["cache"] in ("l1", "l2")

    from search.warming import warm_tenant_cache

    with tenant_context(acme_indexed.tenant):
        assert warm_tenant_cache(acme_indexed.tenant.schema_name) == 0  # nothing changed since


def test_query_embedding_is_computed_once_per_text():
    from search.warming import embed_query_cached

    class CountingEmbedder:
        name = "counting-test-model"
        dimension = 2

        def __init__(self) -> None:
            self.calls = 0

        def embed_query(self, text: str) -> np.ndarray:
            self.calls += 1
            return np.array([len(text), 1.0], dtype=np.float32)

    embedder = CountingEmbedder()
    first = embed_query_cached(embedder, "parse the header")
    again = embed_query_cached(embedder, "parse the header")
    other = embed_query_cached(embedder, "something else")
    assert embedder.calls == 2
    assert np.array_equal(first, again) and not np.array_equal(first, other)
