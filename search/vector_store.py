"""Django glue for the vector store: which engine this process talks to, and where a tenant's
points live. Everything else about the engines stays in ``search.clients.vectorstore``."""

from __future__ import annotations

import functools
import hashlib
import hmac

from django.conf import settings

from search.clients.vectorstore import RemoteVectorStore, build_vector_store
from search.clients.vectorstore.base import StorageSettings, StorageTarget, VectorStore
from tenants.tiers import get_tier


def owner_authkey() -> bytes:
    """The key that processes of one deployment share to talk to the vector-store owner."""
    return hmac.new(settings.SECRET_KEY.encode(), b"vector-store-owner", hashlib.sha256).digest()


@functools.cache
def get_vector_store() -> VectorStore:
    """Return this process's vector store (opened once, never per request).

    Processes started by ``script/server`` always go through the owner process: falling back
    to opening the embedded engine would take its lock and keep the owner from restarting.
    """
    if settings.VECTOR_STORE_REMOTE_ONLY and not settings.QDRANT_URL:
        return RemoteVectorStore(settings.VECTOR_STORE_SOCKET, owner_authkey())
    return build_vector_store(
        qdrant_url=settings.QDRANT_URL,
        qdrant_api_key=settings.QDRANT_API_KEY,
        embedded_path=settings.VECTOR_STORE_PATH,
        owner_socket=settings.VECTOR_STORE_SOCKET,
        authkey=owner_authkey(),
    )


def reset_vector_store() -> None:
    """Close and forget this process's store (tests, and the owner on shutdown)."""
    if get_vector_store.cache_info().currsize:
        get_vector_store().close()
    get_vector_store.cache_clear()


def storage_target(tenant: object) -> StorageTarget:
    return StorageTarget(
        tenant_key=tenant.schema_name,  # type: ignore[attr-defined]
        dedicated=tenant.is_dedicated_storage,  # type: ignore[attr-defined]
    )


def storage_settings(tenant: object) -> StorageSettings:
    tier = get_tier(tenant.tier)  # type: ignore[attr-defined]
    return StorageSettings(
        hnsw_m=tier.hnsw_m,
        hnsw_ef_construct=tier.hnsw_ef_construct,
        int8_quantization=tier.is_int8_quantized,
        on_disk_vectors=tier.is_on_disk,
    )
