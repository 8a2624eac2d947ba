"""Gunicorn settings and hooks: the access log line, and loading the embedding model when a
worker starts rather than on its first search."""

from __future__ import annotations

from typing import Any

# Gunicorn's default line with the Host header added after the time: the host names the
# tenant (or the public site), which the client address and path alone do not.
access_log_format = '%(h)s %(l)s %(u)s %(t)s host="%({host}i)s" "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def post_worker_init(worker: Any) -> None:
    from django.conf import settings

    from search.embeddings import get_cached_embedder

    embedder = get_cached_embedder(
        settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
    )
    # Queries run on a session of their own, created on the first query: create it now.
    embedder.embed_query("warm up")
