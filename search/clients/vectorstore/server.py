"""A Qdrant server (through ``qdrant-client``) behind :class:`VectorStore`.

Non-dedicated tenants share one collection partitioned by TENANT_KEY_FIELD; a dedicated tenant
gets the collection ``tenant_<key>``. ``qdrant-client``'s local mode (``":memory:"`` or a path)
speaks the same API and stands in for a server in tests.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from search.clients.vectorstore.base import (
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    TENANT_KEY_FIELD,
    BatchFirstQueries,
    ChunkPoint,
    ScrollPage,
    SearchFilter,
    SearchHit,
    StorageSettings,
    StorageTarget,
    VectorQuery,
    VectorStore,
    VectorStoreError,
    VectorStoreUnavailable,
)
from search.clients.vectorstore.filters import (
    FilterPlan,
    Match,
    checked_query_vectors,
    checked_tenant_key,
    exported_point,
    scoped_plan,
    search_hit,
    stored_payload,
    stored_point_id,
    tenant_plan,
)

logger = logging.getLogger(__name__)

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "sparse"
HEAD_VECTOR = "head"
DEDICATED_COLLECTION_PREFIX = "tenant_"

# Local mode ignores payload indexes and says so with this warning; the indexes still matter on a
# server, so they are always requested and only this one warning is silenced.
_LOCAL_INDEX_WARNING = r"Payload indexes have no effect in the local Qdrant"


class QdrantServerStore(BatchFirstQueries, VectorStore):
    """Chunk vectors in Qdrant server collections; safe to share between threads."""

    def __init__(self, client: QdrantClient, *, shared_collection: str = "code_chunks") -> None:
        self._client = client
        self._shared_collection = shared_collection

    # Storage lifecycle

    def ensure_tenant_storage(self, target: StorageTarget, settings: StorageSettings) -> None:
        """Create the target's collection and payload indexes; idempotent and race-tolerant.

        An existing collection keeps its settings; raise :class:`VectorStoreError` when its dense
        size differs from ``settings.dense_size``.
        """
        collection = self._collection(target)
        with self._client_errors("create_collection", target):
            if not self._client.collection_exists(collection):
                self._create_collection(collection, settings)
            info = self._client.get_collection(collection)
        self._check_dense_size(info, target, settings)
        self._ensure_payload_indexes(collection, info, target)

    def drop_tenant_storage(self, target: StorageTarget) -> None:
        """Delete the tenant's points from the shared collection and its dedicated collection."""
        tenant_key = checked_tenant_key(target)
        for dedicated in (False, True):
            self.drop_tenant_copy(StorageTarget(tenant_key=tenant_key, dedicated=dedicated))
        logger.info("vectorstore.server.tenant_dropped", extra={"tenant_key": tenant_key})

    def drop_tenant_copy(self, target: StorageTarget) -> None:
        """Delete the tenant's points from the shared collection, or its dedicated collection."""
        collection = self._collection(target)
        with self._client_errors("drop", target):
            if not self._client.collection_exists(collection):
                return
            if target.dedicated:
                self._client.delete_collection(collection)
            else:
                self._client.delete(
                    collection,
                    points_selector=models.FilterSelector(filter=self._filter(target)),
                    wait=True,
                )
        logger.info(
            "vectorstore.server.tenant_copy_dropped",
            extra={"tenant_key": target.tenant_key, "dedicated": target.dedicated},
        )

    # Writes

    def upsert(self, target: StorageTarget, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points by id; replaying a batch overwrites it.

        Raise :class:`VectorStoreError` when the tenant's storage was never created.
        """
        collection = self._collection(target)
        if not points:
            return
        structs = [_point_struct(target, point) for point in points]
        with self._client_errors("upsert", target, missing_ok=False):
            self._client.upsert(collection, points=structs, wait=True)

    def delete_points(
        self, target: StorageTarget, *, repository_id: int, paths: Sequence[str] | None = None
    ) -> None:
        """Delete a repository's points, or only those of ``paths`` (an empty list deletes none)."""
        collection = self._collection(target)
        if paths is not None and not paths:
            return
        selection = self._filter(target, repository_id=repository_id, paths=paths)
        with self._client_errors("delete", target, missing_ok=True):
            self._client.delete(
                collection, points_selector=models.FilterSelector(filter=selection), wait=True
            )

    # Reads

    def query_many(
        self, target: StorageTarget, queries: Sequence[VectorQuery]
    ) -> list[list[SearchHit]]:
        """Run the queries as one ``query_batch_points`` request: one round trip, one plan.

        Return one empty list per query when the tenant has no storage yet.
        """
        if not queries:
            return []
        collection = self._collection(target)
        requests = [self._query_request(target, q) for q in queries]
        with self._client_errors("query", target, missing_ok=True) as missing:
            responses = self._client.query_batch_points(collection, requests=requests)
        if missing:
            return [[] for _ in queries]
        return [
            [search_hit(point.id, point.score, point.payload) for point in response.points]
            for response in responses
        ]

    def _query_request(self, target: StorageTarget, q: VectorQuery) -> models.QueryRequest:
        checked_query_vectors(q.dense, q.sparse, q.head)
        selection = self._filter(target, q.search_filter)
        # IDF over the whole shared collection would let other tenants' vocabulary decide this
        # tenant's keyword ranking (case C08), so the corpus is the tenant's own points.
        sparse_params = models.SearchParams(
            idf=models.IdfCorpusParams(corpus=_client_filter(tenant_plan(target)))
        )
        dense_query = [float(value) for value in q.dense] if q.dense is not None else None
        sparse_query = (
            models.SparseVector(
                indices=list(q.sparse.indices), values=[float(v) for v in q.sparse.values]
            )
            if q.sparse is not None
            else None
        )
        if q.head is not None:
            return models.QueryRequest(
                query=[float(value) for value in q.head],
                using=HEAD_VECTOR,
                filter=selection,
                limit=q.limit,
                with_payload=True,
            )
        if dense_query is not None and sparse_query is not None:
            return models.QueryRequest(
                prefetch=[
                    models.Prefetch(
                        query=dense_query,
                        using=DENSE_VECTOR,
                        filter=selection,
                        limit=q.prefetch_limit,
                    ),
                    models.Prefetch(
                        query=sparse_query,
                        using=SPARSE_VECTOR,
                        filter=selection,
                        params=sparse_params,
                        limit=q.prefetch_limit,
                    ),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                filter=selection,
                limit=q.limit,
                with_payload=True,
            )
        if dense_query is not None:
            return models.QueryRequest(
                query=dense_query,
                using=DENSE_VECTOR,
                filter=selection,
                limit=q.limit,
                with_payload=True,
            )
        return models.QueryRequest(
            query=sparse_query,
            using=SPARSE_VECTOR,
            filter=selection,
            params=sparse_params,
            limit=q.limit,
            with_payload=True,
        )

    def count(self, target: StorageTarget, *, repository_id: int | None = None) -> int:
        """Count the tenant's points (optionally of one repository); 0 without storage."""
        collection = self._collection(target)
        selection = self._filter(target, repository_id=repository_id)
        with self._client_errors("count", target, missing_ok=True) as missing:
            result = self._client.count(collection, count_filter=selection, exact=True)
        return 0 if missing else int(result.count)

    def scroll(
        self,
        target: StorageTarget,
        *,
        offset: str | None = None,
        limit: int = 256,
        chunk_ids: Sequence[str] | None = None,
    ) -> ScrollPage:
        """Return one page of the tenant's points with vectors and payload, in point-id order."""
        collection = self._collection(target)
        if chunk_ids is not None and not chunk_ids:
            return ScrollPage(points=[])
        selection = _client_filter(scoped_plan(target, chunk_ids=chunk_ids))
        with self._client_errors("scroll", target, missing_ok=True) as missing:
            records, next_offset = self._client.scroll(
                collection,
                scroll_filter=selection,
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=True,
            )
        if missing:
            return ScrollPage(points=[])
        return ScrollPage(
            points=[_exported(record) for record in records],
            next_offset=str(next_offset) if next_offset is not None else None,
        )

    def health(self) -> None:
        """Raise :class:`VectorStoreUnavailable` when the server does not answer."""
        try:
            self._client.get_collections()
        except Exception as exc:
            raise VectorStoreUnavailable(
                f"The Qdrant server does not answer ({type(exc).__name__}): check QDRANT_URL, "
                "QDRANT_API_KEY and that the server is running."
            ) from exc

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    # The one place the tenant condition is built for this engine.

    def _filter(
        self,
        target: StorageTarget,
        search_filter: SearchFilter | None = None,
        *,
        repository_id: int | None = None,
        paths: Sequence[str] | None = None,
    ) -> models.Filter:
        """Return the client filter: tenant first, then the caller's restrictions.

        Dedicated collections get the tenant condition too, so a misplaced point never leaks.
        """
        return _client_filter(
            scoped_plan(target, search_filter, repository_id=repository_id, paths=paths)
        )

    # Collections

    def _collection(self, target: StorageTarget) -> str:
        tenant_key = checked_tenant_key(target)
        if target.dedicated:
            return f"{DEDICATED_COLLECTION_PREFIX}{tenant_key}"
        return self._shared_collection

    def _create_collection(self, collection: str, settings: StorageSettings) -> None:
        quantization = (
            models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            )
            if settings.int8_quantization
            else None
        )
        try:
            self._client.create_collection(
                collection,
                # The head vector (name and signature) has the dense model's size and settings.
                vectors_config={
                    name: models.VectorParams(
                        size=settings.dense_size,
                        distance=models.Distance.COSINE,
                        on_disk=settings.on_disk_vectors or None,
                    )
                    for name in (DENSE_VECTOR, HEAD_VECTOR)
                },
                # Without the IDF modifier the server ranks by raw term frequency and ubiquitous
                # tokens (self, return) outweigh the identifier the user typed (case C08).
                sparse_vectors_config={
                    SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                hnsw_config=models.HnswConfigDiff(
                    m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct
                ),
                quantization_config=quantization,
            )
        except Exception as exc:
            # Another worker created it between our existence check and this call.
            if not _is_already_exists(exc):
                raise
        logger.info("vectorstore.server.collection_created", extra={"collection": collection})

    def _check_dense_size(
        self, info: models.CollectionInfo, target: StorageTarget, settings: StorageSettings
    ) -> None:
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else None
        if dense is None or dense.size != settings.dense_size:
            raise VectorStoreError(
                f"The collection of tenant {target.tenant_key!r} has no dense vector of size "
                f"{settings.dense_size}: keep the embedding model the collection was built "
                "with, or drop the tenant's storage and re-index.",
                code="storage_settings_mismatch",
            )

    def _ensure_payload_indexes(
        self, collection: str, info: models.CollectionInfo, target: StorageTarget
    ) -> None:
        existing = set(info.payload_schema or {})
        wanted: list[tuple[str, models.PayloadSchemaType | models.KeywordIndexParams]] = [
            (
                TENANT_KEY_FIELD,
                models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            ),
            *((name, models.PayloadSchemaType.KEYWORD) for name in KEYWORD_FIELDS),
            *((name, models.PayloadSchemaType.INTEGER) for name in INTEGER_FIELDS),
        ]
        with self._client_errors("create_index", target), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LOCAL_INDEX_WARNING, category=UserWarning)
            for field_name, schema in wanted:
                if field_name in existing:
                    continue
                try:
                    self._client.create_payload_index(
                        collection, field_name=field_name, field_schema=schema, wait=True
                    )
                except Exception as exc:
                    if not _is_already_exists(exc):
                        raise

    @contextlib.contextmanager
    def _client_errors(
        self, action: str, target: StorageTarget, *, missing_ok: bool = False
    ) -> Iterator[list[bool]]:
        """Turn client exceptions into store errors.

        With ``missing_ok`` a missing collection is not an error: the yielded list then holds
        ``True`` so the caller can answer "nothing stored".
        """
        missing: list[bool] = []
        try:
            yield missing
        except (VectorStoreError, VectorStoreUnavailable):
            raise
        except ResponseHandlingException as exc:
            raise VectorStoreUnavailable(
                f"The Qdrant server could not be reached to {action}: check QDRANT_URL and that "
                "the server is running."
            ) from exc
        except Exception as exc:
            if _is_missing_collection(exc):
                if missing_ok:
                    missing.append(True)
                    return
                raise VectorStoreError(
                    f"Vector storage for tenant {target.tenant_key!r} does not exist yet: call "
                    "ensure_tenant_storage() (tenant provisioning does) before indexing.",
                    code="tenant_storage_missing",
                ) from exc
            logger.warning(
                "vectorstore.server.request_failed",
                extra={"action": action, "tenant_key": target.tenant_key, "error": str(exc)},
            )
            raise VectorStoreError(
                f"The Qdrant server failed to {action} for tenant {target.tenant_key!r}: {exc}. "
                "Retry; if it persists, check the Qdrant server logs."
            ) from exc


def connect_qdrant_server(url: str, api_key: str | None, timeout: float) -> QdrantServerStore:
    """Return a store for the Qdrant server at ``url`` without contacting it yet.

    Call :meth:`QdrantServerStore.health` to check the connection.
    """
    client = QdrantClient(
        url=url,
        api_key=api_key,
        timeout=max(1, math.ceil(timeout)),
        # The version check is a request at construction time; health() covers it on demand.
        check_compatibility=False,
    )
    return QdrantServerStore(client)


def _client_filter(plan: FilterPlan) -> models.Filter:
    must: list[models.Condition] = [_client_condition(match) for match in plan.must]
    if plan.point_ids:
        must.append(models.HasIdCondition(has_id=list(plan.point_ids)))
    return models.Filter(
        must=must,
        must_not=[_client_condition(match) for match in plan.must_not] or None,
    )


def _exported(record: models.Record) -> ChunkPoint:
    vectors = record.vector if isinstance(record.vector, dict) else {}
    dense = vectors.get(DENSE_VECTOR)
    sparse = vectors.get(SPARSE_VECTOR)
    return exported_point(
        dense if isinstance(dense, list) else [],
        sparse.indices if isinstance(sparse, models.SparseVector) else [],
        sparse.values if isinstance(sparse, models.SparseVector) else [],
        record.payload,
        head=head if isinstance((head := vectors.get(HEAD_VECTOR)), list) else None,
    )


def _client_condition(match: Match) -> models.FieldCondition:
    if len(match.values) == 1:
        return models.FieldCondition(key=match.key, match=models.MatchValue(value=match.values[0]))
    return models.FieldCondition(key=match.key, match=models.MatchAny(any=list(match.values)))


def _point_struct(target: StorageTarget, point: ChunkPoint) -> models.PointStruct:
    payload = stored_payload(target, point)  # validates the point before the client sees it
    vector: dict[str, Any] = {
        DENSE_VECTOR: [float(value) for value in point.dense],
        SPARSE_VECTOR: models.SparseVector(
            indices=list(point.sparse.indices),
            values=[float(value) for value in point.sparse.values],
        ),
    }
    if point.head:
        vector[HEAD_VECTOR] = [float(value) for value in point.head]
    return models.PointStruct(id=stored_point_id(target, point.id), vector=vector, payload=payload)


def _is_missing_collection(exc: Exception) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    # Local mode raises ValueError("Collection <name> not found").
    return isinstance(exc, ValueError) and "not found" in str(exc)


def _is_already_exists(exc: Exception) -> bool:
    if isinstance(exc, UnexpectedResponse) and exc.status_code == 409:
        return True
    return "already exists" in str(exc)
