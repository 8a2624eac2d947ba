"""The embedded Qdrant engine (``qdrant-edge``) behind :class:`VectorStore`.

Layout under the store's folder::

    owner.lock            held for the store's lifetime: one owner process per folder
    shared/               one shard for every non-dedicated tenant, partitioned by TENANT_KEY_FIELD
    tenants/<tenant_key>/ one shard per dedicated tenant

The engine locks each shard's write-ahead log, so exactly one process may open the folder. Other
processes reach the owner through :mod:`search.clients.vectorstore.owner` or use a Qdrant server.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import qdrant_edge as qe

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

# Qdrant's default RRF constant; the server's FusionQuery(RRF) uses it, so both engines rank alike.
RRF_K = 2

# Qdrant's default: below this many kilobytes of vectors a segment is searched without HNSW.
HNSW_FULL_SCAN_THRESHOLD_KB = 10_000

# Optimizing builds HNSW graphs and takes seconds (about 6 s for 20k 384-d points on 2 cores), so
# it runs once per index job through optimize(); this bound keeps a job that never calls it from
# leaving an unbounded unindexed segment behind.
DEFAULT_OPTIMIZE_THRESHOLD_POINTS = 50_000

_LOCK_ERROR_MARKERS = ("WouldBlock", "already accessed")
# What the engine says when a shard created before head vectors existed is asked for one.
_MISSING_HEAD_MARKER = f"Not existing vector name error: {HEAD_VECTOR}"


class EdgeVectorStore(BatchFirstQueries, VectorStore):
    """Chunk vectors in embedded Qdrant shards, owned by this process alone.

    Threads may share one instance: shard opening and creation are serialised by a lock, queries
    and updates run concurrently (the engine releases the GIL).
    """

    def __init__(
        self,
        path: Path,
        *,
        optimize_threshold_points: int = DEFAULT_OPTIMIZE_THRESHOLD_POINTS,
    ) -> None:
        """Take ownership of the folder ``path`` (created if missing).

        Raise :class:`VectorStoreUnavailable` when another process (or another store object in
        this process) owns it.
        """
        self._path = Path(path)
        self._optimize_threshold_points = optimize_threshold_points
        self._lock = threading.RLock()
        self._shards: dict[Path, qe.EdgeShard] = {}
        self._unoptimized_points: dict[Path, int] = {}
        # Shards created before head vectors existed: written and searched without them.
        self._shards_without_head: set[Path] = set()
        self._closed = False
        self._path.mkdir(parents=True, exist_ok=True)
        self._owner_lock_fd = _acquire_owner_lock(self._path)
        logger.info("vectorstore.edge.opened", extra={"vector_store_path": str(self._path)})

    # Storage lifecycle

    def ensure_tenant_storage(self, target: StorageTarget, settings: StorageSettings) -> None:
        """Create the tenant's shard (or the shared one) and its payload indexes; idempotent.

        The shared shard keeps the settings it was created with; only the dense size must agree.
        Raise :class:`VectorStoreError` when the existing shard has another dense size.
        """
        checked_tenant_key(target)
        shard, created = self._open_shard(target, settings=settings)
        if shard is None:  # pragma: no cover - _open_shard creates when settings are given
            raise VectorStoreError("The tenant's vector storage could not be created.")
        if not created:
            self._check_dense_size(shard, target, settings)
        self._ensure_payload_indexes(shard, target)

    def drop_tenant_storage(self, target: StorageTarget) -> None:
        """Delete the tenant's points from the shared shard and remove its dedicated shard."""
        tenant_key = checked_tenant_key(target)
        for dedicated in (False, True):
            self.drop_tenant_copy(StorageTarget(tenant_key=tenant_key, dedicated=dedicated))
        logger.info("vectorstore.edge.tenant_dropped", extra={"tenant_key": tenant_key})

    def drop_tenant_copy(self, target: StorageTarget) -> None:
        """Remove the tenant's points from the shared shard, or its dedicated shard folder."""
        tenant_key = checked_tenant_key(target)
        if not target.dedicated:
            shard, _ = self._open_shard(target)
            if shard is not None:
                with self._engine_errors("drop", target):
                    shard.update(qe.UpdateOperation.delete_points_by_filter(self._filter(target)))
        else:
            shard_dir = self._shard_dir(target)
            with self._lock:
                self._require_open()
                dedicated = self._shards.pop(shard_dir, None)
                self._unoptimized_points.pop(shard_dir, None)
                self._shards_without_head.discard(shard_dir)
                with self._engine_errors("drop", target):
                    if dedicated is not None:
                        dedicated.close()
                    if shard_dir.exists():
                        shutil.rmtree(shard_dir)
        logger.info(
            "vectorstore.edge.tenant_copy_dropped",
            extra={"tenant_key": tenant_key, "dedicated": target.dedicated},
        )

    # Writes

    def upsert(self, target: StorageTarget, points: Sequence[ChunkPoint]) -> None:
        """Insert or replace points by id; replaying a batch overwrites it.

        Raise :class:`VectorStoreError` when the tenant's storage was never created.
        """
        checked_tenant_key(target)
        if not points:
            return
        shard = self._require_shard(target)
        with_head = self._shard_dir(target) not in self._shards_without_head
        engine_points = [_engine_point(target, p, with_head=with_head) for p in points]
        try:
            with self._engine_errors("upsert", target):
                shard.update(qe.UpdateOperation.upsert_points(engine_points))
        except VectorStoreError as exc:
            if not with_head or _MISSING_HEAD_MARKER not in str(exc):
                raise
            self._note_missing_head(target)
            engine_points = [_engine_point(target, p, with_head=False) for p in points]
            with self._engine_errors("upsert", target):
                shard.update(qe.UpdateOperation.upsert_points(engine_points))
        self._note_writes(target, len(engine_points))

    def delete_points(
        self, target: StorageTarget, *, repository_id: int, paths: Sequence[str] | None = None
    ) -> None:
        """Delete a repository's points, or only those of ``paths`` (an empty list deletes none)."""
        checked_tenant_key(target)
        if paths is not None and not paths:
            return
        shard, _ = self._open_shard(target)
        if shard is None:
            return
        selection = self._filter(target, repository_id=repository_id, paths=paths)
        with self._engine_errors("delete", target):
            deleted = shard.count(qe.CountRequest(exact=True, filter=selection))
            shard.update(qe.UpdateOperation.delete_points_by_filter(selection))
        self._note_writes(target, deleted)

    def optimize(self, target: StorageTarget) -> None:
        """Build HNSW indexes and merge segments of the target's shard; blocks until done."""
        checked_tenant_key(target)
        shard, _ = self._open_shard(target)
        if shard is None:
            return
        self._optimize(shard, target)

    # Reads

    def query_many(
        self, target: StorageTarget, queries: Sequence[VectorQuery]
    ) -> list[list[SearchHit]]:
        """Run the queries as one planned batch: one pass over the shard's segments."""
        checked_tenant_key(target)
        for vector_query in queries:
            checked_query_vectors(vector_query.dense, vector_query.sparse, vector_query.head)
        shard, _ = self._open_shard(target)
        results: list[list[SearchHit]] = [[] for _ in queries]
        if shard is None:
            return results
        for _attempt in range(2):
            without_head = self._shard_dir(target) in self._shards_without_head
            runnable = [
                (position, vector_query)
                for position, vector_query in enumerate(queries)
                if vector_query.head is None or not without_head
            ]
            if not runnable:
                return results
            requests = [self._query_request(target, vector_query) for _, vector_query in runnable]
            try:
                with self._engine_errors("query", target):
                    batches = shard.query_batch(qe.QueryBatchRequest(requests))
            except VectorStoreError as exc:
                if without_head or _MISSING_HEAD_MARKER not in str(exc):
                    raise
                # A shard from before head vectors existed: answer the head queries with nothing.
                self._note_missing_head(target)
                continue
            seen: dict[object, SearchHit] = {}
            for (position, _), scored in zip(runnable, batches, strict=True):
                results[position] = [_batch_hit(point, seen) for point in scored]
            return results
        return results

    def count(self, target: StorageTarget, *, repository_id: int | None = None) -> int:
        """Count the tenant's points (optionally of one repository); 0 without storage."""
        checked_tenant_key(target)
        shard, _ = self._open_shard(target)
        if shard is None:
            return 0
        with self._engine_errors("count", target):
            return int(
                shard.count(
                    qe.CountRequest(
                        exact=True, filter=self._filter(target, repository_id=repository_id)
                    )
                )
            )

    def scroll(
        self,
        target: StorageTarget,
        *,
        offset: str | None = None,
        limit: int = 256,
        chunk_ids: Sequence[str] | None = None,
    ) -> ScrollPage:
        """Return one page of the tenant's points with vectors and payload, in point-id order."""
        checked_tenant_key(target)
        if chunk_ids is not None and not chunk_ids:
            return ScrollPage(points=[])
        shard, _ = self._open_shard(target)
        if shard is None:
            return ScrollPage(points=[])
        request = qe.ScrollRequest(
            offset=uuid.UUID(offset) if offset is not None else None,
            limit=limit,
            filter=_engine_filter(scoped_plan(target, chunk_ids=chunk_ids)),
            with_payload=True,
            with_vector=True,
        )
        with self._engine_errors("scroll", target):
            records, next_offset = shard.scroll(request)
            points = [_exported(record) for record in records]
        return ScrollPage(
            points=points, next_offset=str(next_offset) if next_offset is not None else None
        )

    def health(self) -> None:
        """Raise :class:`VectorStoreUnavailable` when the store is closed or a shard fails."""
        with self._lock:
            self._require_open()
            shards = list(self._shards.values())
        for shard in shards:
            try:
                shard.info()
            except Exception as exc:
                raise VectorStoreUnavailable(
                    f"The embedded vector store at {self._path} cannot serve ({exc}). Check the "
                    "disk and restart the vector store owner process."
                ) from exc

    def close(self) -> None:
        """Flush and close every shard and release the folder lock; safe to call again.

        Raise :class:`VectorStoreError` after releasing everything if a shard failed to close.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shards, self._shards = self._shards, {}
            self._unoptimized_points.clear()
            failures: list[VectorStoreError] = []
            for shard_dir, shard in shards.items():
                try:
                    with self._engine_errors("close", None):
                        shard.close()
                except VectorStoreError as exc:
                    failures.append(exc)
                    logger.warning(
                        "vectorstore.edge.close_failed", extra={"shard_dir": str(shard_dir)}
                    )
            os.close(self._owner_lock_fd)
        logger.info("vectorstore.edge.closed", extra={"vector_store_path": str(self._path)})
        if failures:
            raise failures[0]

    # The one place the tenant condition is built for this engine.

    def _filter(
        self,
        target: StorageTarget,
        search_filter: SearchFilter | None = None,
        *,
        repository_id: int | None = None,
        paths: Sequence[str] | None = None,
    ) -> qe.Filter:
        """Return the engine filter: tenant first, then the caller's restrictions.

        Dedicated shards get the tenant condition too, so a misplaced point never leaks.
        """
        return _engine_filter(
            scoped_plan(target, search_filter, repository_id=repository_id, paths=paths)
        )

    def _query_request(self, target: StorageTarget, vector_query: VectorQuery) -> qe.QueryRequest:
        selection = self._filter(target, vector_query.search_filter)
        limit = vector_query.limit
        if vector_query.head is not None:
            return qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(
                    [float(value) for value in vector_query.head], using=HEAD_VECTOR
                ),
                filter=selection,
                with_payload=True,
            )
        dense, sparse = vector_query.dense, vector_query.sparse
        prefetch_limit = vector_query.prefetch_limit
        # IDF counted over the whole shared shard would let other tenants' vocabulary decide this
        # tenant's keyword ranking (case C08), so the corpus is the tenant's own points.
        sparse_params = qe.SearchParams(
            idf=qe.IdfParams(corpus=_engine_filter(tenant_plan(target)))
        )
        dense_query = (
            qe.Query.Nearest([float(value) for value in dense], using=DENSE_VECTOR)
            if dense is not None
            else None
        )
        sparse_query = (
            qe.Query.Nearest(
                qe.SparseVector(list(sparse.indices), [float(v) for v in sparse.values]),
                using=SPARSE_VECTOR,
            )
            if sparse is not None
            else None
        )
        if dense_query is not None and sparse_query is not None:
            return qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(limit=prefetch_limit, query=dense_query, filter=selection),
                    qe.Prefetch(
                        limit=prefetch_limit,
                        query=sparse_query,
                        filter=selection,
                        params=sparse_params,
                    ),
                ],
                query=qe.Fusion.Rrf(k=RRF_K),
                filter=selection,
                with_payload=True,
            )
        if dense_query is not None:
            return qe.QueryRequest(
                limit=limit, query=dense_query, filter=selection, with_payload=True
            )
        return qe.QueryRequest(
            limit=limit,
            query=sparse_query,
            filter=selection,
            params=sparse_params,
            with_payload=True,
        )

    # Shards

    def _shard_dir(self, target: StorageTarget) -> Path:
        if target.dedicated:
            return self._path / "tenants" / checked_tenant_key(target)
        return self._path / "shared"

    def _open_shard(
        self, target: StorageTarget, *, settings: StorageSettings | None = None
    ) -> tuple[qe.EdgeShard | None, bool]:
        """Return the target's shard (opened once, then cached) and whether it was just created.

        Without ``settings`` a missing shard is not created and ``None`` is returned.
        """
        shard_dir = self._shard_dir(target)
        with self._lock:
            self._require_open()
            cached = self._shards.get(shard_dir)
            if cached is not None:
                return cached, False
            exists = shard_dir.is_dir() and any(shard_dir.iterdir())
            if not exists and settings is None:
                return None, False
            with self._engine_errors("open", target):
                if exists:
                    # No config: loading with a partial config would overwrite the stored one.
                    shard = qe.EdgeShard.load(str(shard_dir))
                else:
                    shard = qe.EdgeShard.create(str(shard_dir), _edge_config(settings))
            self._shards[shard_dir] = shard
        logger.info(
            "vectorstore.edge.shard_opened",
            extra={"shard_dir": str(shard_dir), "is_new_shard": not exists},
        )
        return shard, not exists

    def _require_shard(self, target: StorageTarget) -> qe.EdgeShard:
        shard, _ = self._open_shard(target)
        if shard is None:
            raise VectorStoreError(
                f"Vector storage for tenant {target.tenant_key!r} does not exist yet: call "
                "ensure_tenant_storage() (tenant provisioning does) before indexing.",
                code="tenant_storage_missing",
            )
        return shard

    def _ensure_payload_indexes(self, shard: qe.EdgeShard, target: StorageTarget) -> None:
        with self._engine_errors("create_index", target):
            existing = set(shard.info().payload_schema)
            wanted: list[tuple[str, object]] = [
                (TENANT_KEY_FIELD, qe.KeywordIndexParams(is_tenant=True)),
                *((name, qe.KeywordIndexParams()) for name in KEYWORD_FIELDS),
                *(
                    (name, qe.IntegerIndexParams(lookup=True, range=False))
                    for name in INTEGER_FIELDS
                ),
            ]
            for field_name, schema in wanted:
                if field_name not in existing:
                    shard.update(qe.UpdateOperation.create_field_index(field_name, schema))

    def _check_dense_size(
        self, shard: qe.EdgeShard, target: StorageTarget, settings: StorageSettings
    ) -> None:
        # The engine exposes no config getter; a one-point probe fails on a size mismatch.
        probe = [1.0] + [0.0] * (settings.dense_size - 1)
        try:
            shard.query(qe.QueryRequest(limit=1, query=qe.Query.Nearest(probe, using=DENSE_VECTOR)))
        except Exception as exc:
            if "dimension" not in str(exc).lower():
                raise VectorStoreError(f"The vector storage cannot be read: {exc}") from exc
            raise VectorStoreError(
                f"The vector storage of tenant {target.tenant_key!r} holds dense vectors of "
                f"another size than {settings.dense_size}: keep the embedding model the storage "
                "was built with, or drop the tenant's storage and re-index.",
                code="storage_settings_mismatch",
            ) from exc

    def _note_missing_head(self, target: StorageTarget) -> None:
        shard_dir = self._shard_dir(target)
        if shard_dir not in self._shards_without_head:
            self._shards_without_head.add(shard_dir)
            logger.warning(
                "vectorstore.edge.shard_without_head_vectors",
                extra={"tenant_key": target.tenant_key, "shard": str(shard_dir)},
            )

    def _note_writes(self, target: StorageTarget, written: int) -> None:
        shard_dir = self._shard_dir(target)
        with self._lock:
            pending = self._unoptimized_points.get(shard_dir, 0) + written
            self._unoptimized_points[shard_dir] = pending
            shard = self._shards.get(shard_dir)
        if shard is not None and pending >= self._optimize_threshold_points:
            self._optimize(shard, target)

    def _optimize(self, shard: qe.EdgeShard, target: StorageTarget) -> None:
        shard_dir = self._shard_dir(target)
        with self._lock:
            pending = self._unoptimized_points.pop(shard_dir, 0)
        started = time.perf_counter()
        with self._engine_errors("optimize", target):
            changed = shard.optimize()
        logger.info(
            "vectorstore.edge.optimized",
            extra={
                "shard_dir": str(shard_dir),
                "points_since_last": pending,
                "changed": changed,
                "duration_seconds": round(time.perf_counter() - started, 3),
            },
        )

    def _require_open(self) -> None:
        if self._closed:
            raise VectorStoreUnavailable(
                "The embedded vector store was closed; create a new store object (restart the "
                "process) to use it again."
            )

    @contextlib.contextmanager
    def _engine_errors(self, action: str, target: StorageTarget | None) -> Iterator[None]:
        """Turn engine exceptions (the bindings raise bare ``Exception``) into store errors."""
        try:
            yield
        except (VectorStoreError, VectorStoreUnavailable):
            raise
        except BaseException as exc:
            # A Rust panic surfaces as pyo3's PanicException, a BaseException subclass.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            tenant_key = target.tenant_key if target is not None else None
            if any(marker in str(exc) for marker in _LOCK_ERROR_MARKERS):
                raise _locked_error(self._path) from exc
            logger.warning(
                "vectorstore.edge.engine_failed",
                extra={"action": action, "tenant_key": tenant_key, "error": str(exc)},
            )
            raise VectorStoreError(
                f"The embedded vector store failed to {action} for tenant {tenant_key!r}: {exc}. "
                "Retry; if it persists, check the disk and the vector store logs."
            ) from exc


def _acquire_owner_lock(path: Path) -> int:
    """Lock ``path/owner.lock`` for this store object; raise when someone else holds it."""
    fd = os.open(path / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock locks belong to the open file, so a second store in this process fails too.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise _locked_error(path) from exc
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _locked_error(path: Path) -> VectorStoreUnavailable:
    return VectorStoreUnavailable(
        f"The embedded vector store at {path} is already open in another process (or another "
        "store object). Stop that process, reach it through the vector store owner socket "
        "(python manage.py run_vector_store), or set QDRANT_URL to use a Qdrant server.",
        code="vector_store_locked",
    )


def _edge_config(settings: StorageSettings | None) -> qe.EdgeConfig:
    settings = settings or StorageSettings()
    quantization = (
        qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned)
        if settings.int8_quantization
        else None
    )
    dense = qe.EdgeVectorParams(
        size=settings.dense_size,
        distance=qe.Distance.Cosine,
        memory=qe.Memory.Cold if settings.on_disk_vectors else None,
        quantization_config=quantization,
    )
    return qe.EdgeConfig(
        # The head vector (name and signature) has the dense model's size and settings.
        vectors={DENSE_VECTOR: dense, HEAD_VECTOR: dense},
        # Without the IDF modifier the engine ranks by raw term frequency and ubiquitous tokens
        # (self, return) outweigh the identifier the user typed (case C08).
        sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        hnsw_config=qe.HnswIndexConfig(
            m=settings.hnsw_m,
            ef_construct=settings.hnsw_ef_construct,
            full_scan_threshold=HNSW_FULL_SCAN_THRESHOLD_KB,
        ),
        # The write-ahead log is also the engine's cross-process lock: without it a second
        # writer would silently diverge, so it stays on even though it is the default.
        wal_enabled=True,
    )


def _engine_filter(plan: FilterPlan) -> qe.Filter:
    must: list[qe.FieldCondition | qe.HasIdCondition] = [
        _engine_condition(match) for match in plan.must
    ]
    if plan.point_ids:
        must.append(qe.HasIdCondition({uuid.UUID(point_id) for point_id in plan.point_ids}))
    return qe.Filter(
        must=must,
        must_not=[_engine_condition(match) for match in plan.must_not] or None,
    )


def _batch_hit(point: qe.ScoredPoint, seen: dict[object, SearchHit]) -> SearchHit:
    """Return the hit for one scored point of a batch; hits of one point share its payload.

    The dense, head and sparse lists of a search overlap (300 hits, 170-180 distinct points
    on the jinja2 tenant), and the binding builds a new dict from the engine's payload on
    every ``point.payload`` read (~3 us a point), so each distinct point is read once. The
    shared dict also lets pickle send each payload once when the owner process returns the
    batch (pickle memoises repeated objects; ~290 KB per search before). Nothing in search
    mutates a hit's payload.
    """
    engine_id = point.id
    first = seen.get(engine_id)
    if first is None:
        first = search_hit(engine_id, point.score, point.payload)
        seen[engine_id] = first
        return first
    return SearchHit(id=first.id, score=float(point.score), payload=first.payload)


def _exported(record: qe.Record) -> ChunkPoint:
    vectors = record.vector or {}
    sparse = vectors.get(SPARSE_VECTOR)
    return exported_point(
        vectors.get(DENSE_VECTOR) or [],
        sparse.indices if sparse is not None else [],
        sparse.values if sparse is not None else [],
        record.payload,
        head=vectors.get(HEAD_VECTOR),
    )


def _engine_condition(match: Match) -> qe.FieldCondition:
    if len(match.values) == 1:
        return qe.FieldCondition(match.key, match=qe.MatchValue(match.values[0]))
    return qe.FieldCondition(match.key, match=qe.MatchAny(list(match.values)))


def _engine_point(target: StorageTarget, point: ChunkPoint, *, with_head: bool) -> qe.Point:
    payload = stored_payload(target, point)  # validates the point before the engine sees it
    vectors = {
        DENSE_VECTOR: [float(value) for value in point.dense],
        SPARSE_VECTOR: qe.SparseVector(
            list(point.sparse.indices), [float(value) for value in point.sparse.values]
        ),
    }
    if point.head and with_head:
        vectors[HEAD_VECTOR] = [float(value) for value in point.head]
    return qe.Point(stored_point_id(target, point.id), vectors, payload)
