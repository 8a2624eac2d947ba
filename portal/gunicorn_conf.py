"""Gunicorn hooks: load the embedding model when a worker starts, not on its first search."""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    from django.conf import settings

    from search.embeddings import get_cached_embedder

    get_cached_embedder(
        settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
    )
