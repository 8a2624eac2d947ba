"""Vector store adapters and the factory that picks one for this process.

No Django here: settings are read by the caller and passed to :func:`build_vector_store`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from search.clients.vectorstore.base import (
    CHUNK_ID_FIELD,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    TENANT_KEY_FIELD,
    ChunkPoint,
    QueryMode,
    ScrollPage,
    SearchFilter,
    SearchHit,
    SparseVector,
    StorageSettings,
    StorageTarget,
    VectorQuery,
    VectorStore,
    VectorStoreError,
    VectorStoreUnavailable,
)
from search.clients.vectorstore.edge import EdgeVectorStore
from search.clients.vectorstore.filters import (
    TENANT_KEY_PATTERN,
    InvalidChunkPoint,
    InvalidTenantKey,
)
from search.clients.vectorstore.owner import (
    RemoteVectorStore,
    VectorStoreOwnerNotRunning,
    VectorStoreOwnerServer,
)
from search.clients.vectorstore.server import QdrantServerStore, connect_qdrant_server

logger = logging.getLogger(__name__)

# Seconds a Qdrant server request may take before the client gives up.
QDRANT_SERVER_TIMEOUT_SECONDS = 10.0

__all__ = [
    "CHUNK_ID_FIELD",
    "INTEGER_FIELDS",
    "KEYWORD_FIELDS",
    "TENANT_KEY_FIELD",
    "TENANT_KEY_PATTERN",
    "ChunkPoint",
    "EdgeVectorStore",
    "InvalidChunkPoint",
    "InvalidTenantKey",
    "QdrantServerStore",
    "QueryMode",
    "RemoteVectorStore",
    "ScrollPage",
    "SearchFilter",
    "SearchHit",
    "SparseVector",
    "StorageSettings",
    "StorageTarget",
    "VectorQuery",
    "VectorStore",
    "VectorStoreError",
    "VectorStoreOwnerNotRunning",
    "VectorStoreOwnerServer",
    "VectorStoreUnavailable",
    "build_vector_store",
    "connect_qdrant_server",
]


def build_vector_store(
    *,
    qdrant_url: str | None,
    qdrant_api_key: str | None,
    embedded_path: Path,
    owner_socket: Path | None,
    authkey: bytes,
) -> VectorStore:
    """Return the store this process should use; the caller closes it.

    A Qdrant server when ``qdrant_url`` is set (not contacted yet); else the owner process when
    ``owner_socket`` answers; else the embedded store opened in this process, which then owns
    ``embedded_path``. Raise :class:`VectorStoreUnavailable` when the owner rejects the authkey
    or the embedded folder is locked by another process.
    """
    if qdrant_url:
        logger.info("vectorstore.factory.selected", extra={"vector_store_kind": "server"})
        return connect_qdrant_server(qdrant_url, qdrant_api_key, QDRANT_SERVER_TIMEOUT_SECONDS)

    if owner_socket is not None and owner_socket.exists():
        remote = RemoteVectorStore(owner_socket, authkey)
        try:
            remote.health()
        except VectorStoreOwnerNotRunning:
            # A socket file left by an owner that died; this process becomes the owner.
            remote.close()
        except BaseException:
            remote.close()
            raise
        else:
            logger.info("vectorstore.factory.selected", extra={"vector_store_kind": "remote"})
            return remote

    logger.info("vectorstore.factory.selected", extra={"vector_store_kind": "embedded"})
    return EdgeVectorStore(embedded_path)
