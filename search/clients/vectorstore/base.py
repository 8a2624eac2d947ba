"""The one interface search code uses to store and query chunk vectors.

Two engines implement it: the embedded Qdrant engine (``qdrant-edge``) and a Qdrant server
through ``qdrant-client``. A third implementation forwards calls to the single process that
owns the embedded engine, because the engine takes an exclusive lock on its folder. Callers
never learn which one they hold.

Every method takes a :class:`StorageTarget`. Implementations apply the tenant filter in exactly
one place, so no read or write can skip it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from portal.exceptions import PortalError, ServiceUnavailable

QueryMode = Literal["hybrid", "dense", "sparse"]

# Payload keys the search code filters on. Each gets a payload index when tenant storage is
# created, before the first upsert (an unindexed filter degrades to a full scan).
TENANT_KEY_FIELD = "tenant"
KEYWORD_FIELDS = ("path", "language", "symbol", "name", "kind")
INTEGER_FIELDS = ("repository_id",)
# Payload key under which the store keeps the caller's chunk id. The engine's point id is derived
# from tenant key and chunk id, so two tenants can never overwrite each other's points.
CHUNK_ID_FIELD = "chunk_id"


class VectorStoreError(PortalError):
    code = "vector_store_error"
    status_code = 500


class VectorStoreUnavailable(ServiceUnavailable):
    code = "vector_store_unavailable"


@dataclass(frozen=True)
class StorageTarget:
    """Where one tenant's points live: a partition of the shared storage or its own."""

    tenant_key: str
    dedicated: bool = False


@dataclass(frozen=True)
class StorageSettings:
    """Engine settings for a tenant's storage; the tier decides them."""

    dense_size: int = 384
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    int8_quantization: bool = False
    on_disk_vectors: bool = False


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class ChunkPoint:
    """One chunk as stored: a deterministic id, its vectors and its payload.

    ``head`` embeds only the chunk's name and signature (see :mod:`search.chunk_heads`); it is
    optional so points written before it existed can still be read and copied.
    """

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]
    head: list[float] | None = None


@dataclass(frozen=True)
class SearchFilter:
    """Restrictions a query applies on top of the tenant filter (all optional)."""

    repository_ids: tuple[int, ...] = ()
    languages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class VectorQuery:
    """One query of a batch (see :meth:`VectorStore.query_many`); same rules as ``query``."""

    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None
    head: Sequence[float] | None = None
    search_filter: SearchFilter | None = None
    limit: int = 10
    prefetch_limit: int = 100


@dataclass(frozen=True)
class ScrollPage:
    """One page of a tenant's points as exported by :meth:`VectorStore.scroll`.

    ``next_offset`` is an opaque cursor for the following page; ``None`` on the last page.
    """

    points: list[ChunkPoint]
    next_offset: str | None = None


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


class VectorStore(abc.ABC):
    """Store and query chunk points for many tenants."""

    @abc.abstractmethod
    def ensure_tenant_storage(self, target: StorageTarget, settings: StorageSettings) -> None:
        """Create the tenant's storage and payload indexes; safe to call again."""

    @abc.abstractmethod
    def drop_tenant_storage(self, target: StorageTarget) -> None:
        """Remove every point of the tenant (and its dedicated storage); safe to call again."""

    @abc.abstractmethod
    def upsert(self, target: StorageTarget, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points by id (a replayed batch overwrites, never duplicates)."""

    @abc.abstractmethod
    def delete_points(
        self, target: StorageTarget, *, repository_id: int, paths: Sequence[str] | None = None
    ) -> None:
        """Delete a repository's points, or only those of the given file paths."""

    @abc.abstractmethod
    def query(
        self,
        target: StorageTarget,
        *,
        dense: Sequence[float] | None = None,
        sparse: SparseVector | None = None,
        search_filter: SearchFilter | None = None,
        limit: int = 10,
        prefetch_limit: int = 100,
        head: Sequence[float] | None = None,
    ) -> list[SearchHit]:
        """Return the best points: dense or sparse alone, or both fused with RRF.

        ``head`` (a query embedding compared with the chunks' name-and-signature vectors) is
        queried alone.
        """

    def query_many(
        self, target: StorageTarget, queries: Sequence[VectorQuery]
    ) -> list[list[SearchHit]]:
        """Run several queries for one tenant; one result list per query, in order.

        Engines that can plan a batch (or save a round trip) override this.
        """
        return [
            self.query(
                target,
                dense=q.dense,
                sparse=q.sparse,
                head=q.head,
                search_filter=q.search_filter,
                limit=q.limit,
                prefetch_limit=q.prefetch_limit,
            )
            for q in queries
        ]

    @abc.abstractmethod
    def count(self, target: StorageTarget, *, repository_id: int | None = None) -> int:
        """Count the tenant's points (optionally of one repository)."""

    @abc.abstractmethod
    def scroll(
        self,
        target: StorageTarget,
        *,
        offset: str | None = None,
        limit: int = 256,
        chunk_ids: Sequence[str] | None = None,
    ) -> ScrollPage:
        """Return one page of the tenant's points with vectors and payload, in stable order.

        The points come back as they were upserted (caller's chunk id, payload without the
        keys the store adds), so upserting them into another target copies the tenant. Pass
        the previous page's ``next_offset`` to continue; ``chunk_ids`` restricts the page to
        those chunks (an empty list selects none). Return an empty page without storage.
        Points written while a scroll runs may or may not be included.
        """

    @abc.abstractmethod
    def drop_tenant_copy(self, target: StorageTarget) -> None:
        """Remove the tenant's points from exactly this target; safe to call again.

        Unlike :meth:`drop_tenant_storage`, which removes every copy, only the shared
        partition (``dedicated=False``) or only the dedicated storage (``dedicated=True``) is
        removed, so a tenant can be moved between them without losing the other copy.
        """

    @abc.abstractmethod
    def health(self) -> None:
        """Raise :class:`VectorStoreUnavailable` when the engine cannot serve."""

    def optimize(self, target: StorageTarget) -> None:  # noqa: B027 -- servers optimize alone
        """Build indexes for points written since the last call (call once at the end of a job).

        Engines that optimize in the background (a Qdrant server) do nothing here.
        """

    def close(self) -> None:  # noqa: B027 -- engines without resources need not override
        """Release locks and connections."""


class BatchFirstQueries:
    """For engines whose :meth:`VectorStore.query_many` is the native path: a single query
    is a batch of one, so both go through the same code."""

    def query(
        self,
        target: StorageTarget,
        *,
        dense: Sequence[float] | None = None,
        sparse: SparseVector | None = None,
        search_filter: SearchFilter | None = None,
        limit: int = 10,
        prefetch_limit: int = 100,
        head: Sequence[float] | None = None,
    ) -> list[SearchHit]:
        """See :meth:`VectorStore.query`."""
        one = VectorQuery(
            dense=dense,
            sparse=sparse,
            head=head,
            search_filter=search_filter,
            limit=limit,
            prefetch_limit=prefetch_limit,
        )
        return self.query_many(target, [one])[0]  # type: ignore[attr-defined]
