"""One contract for every vector store: embedded engine, Qdrant client API, owner socket.

Vectors are built so each expected answer is unambiguous: dense vectors are axis-aligned (cosine
1 against 0) and each sparse token belongs to known points only.
"""

from __future__ import annotations

import math
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from search.clients.vectorstore import (
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    TENANT_KEY_FIELD,
    ChunkPoint,
    EdgeVectorStore,
    InvalidChunkPoint,
    InvalidTenantKey,
    QdrantServerStore,
    RemoteVectorStore,
    SearchFilter,
    SparseVector,
    StorageSettings,
    StorageTarget,
    VectorQuery,
    VectorStore,
    VectorStoreError,
    VectorStoreOwnerServer,
    VectorStoreUnavailable,
    build_vector_store,
)
from tests.contracts.conftest import AUTHKEY, RunningOwner, Tenants, new_tenants, short_folder

# Any warning (for example local mode's payload-index notice) fails these tests.
pytestmark = pytest.mark.filterwarnings("error")

DIM = 8
SETTINGS = StorageSettings(dense_size=DIM)
ACME = StorageTarget(tenant_key="acme")
INITECH = StorageTarget(tenant_key="initech", dedicated=True)
REPO_ROOT = Path(__file__).resolve().parents[2]


def axis(index: int, *, sign: float = 1.0) -> list[float]:
    vector = [0.0] * DIM
    vector[index] = sign
    return vector


def between(first: int, second: int) -> list[float]:
    vector = [0.0] * DIM
    vector[first] = vector[second] = 1 / math.sqrt(2)
    return vector


def chunk(
    chunk_id: str,
    *,
    dense: list[float] | None = None,
    tokens: dict[int, float] | None = None,
    repository_id: int = 1,
    path: str = "src/app.py",
    language: str = "python",
    symbol: str = "app.run",
    name: str = "run",
    **extra: Any,
) -> ChunkPoint:
    tokens = tokens or {}
    return ChunkPoint(
        id=chunk_id,
        dense=dense if dense is not None else axis(DIM - 1),
        sparse=SparseVector(indices=list(tokens), values=list(tokens.values())),
        payload={
            "repository_id": repository_id,
            "path": path,
            "language": language,
            "symbol": symbol,
            "name": name,
            "kind": "function",
            **extra,
        },
    )


def ids(hits: list[Any]) -> list[str]:
    return [hit.id for hit in hits]


def seeded(store: VectorStore, target: StorageTarget, points: list[ChunkPoint]) -> VectorStore:
    store.ensure_tenant_storage(target, SETTINGS)
    store.upsert(target, points)
    return store


# Fixtures. Creating an embedded shard and its payload indexes costs a few hundred milliseconds
# (each index is written durably), so each implementation's store lives for the whole module and
# every test gets tenant keys of its own instead of a fresh store. Every store is closed.


@pytest.fixture
def tenants() -> Tenants:
    return new_tenants()


@pytest.fixture(scope="module", params=["edge", "server", "remote"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorStore]:
    """Yield each implementation in turn; every contract test runs against all three."""
    with ExitStack() as stack:
        if request.param == "edge":
            edge = EdgeVectorStore(tmp_path_factory.mktemp("edge"))
            stack.callback(edge.close)
            yield edge
        elif request.param == "server":
            server = QdrantServerStore(QdrantClient(location=":memory:"))
            stack.callback(server.close)
            yield server
        else:
            owned = EdgeVectorStore(tmp_path_factory.mktemp("owned"))
            stack.callback(owned.close)
            owner = RunningOwner(owned, short_folder(stack) / "owner.sock")
            stack.callback(owner.stop)
            remote = RemoteVectorStore(owner.socket_path, AUTHKEY)
            stack.callback(remote.close)
            yield remote


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    with ExitStack() as stack:
        yield short_folder(stack)


@pytest.fixture
def owned_edge_store(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "owned")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def running_owner(owned_edge_store: EdgeVectorStore, short_tmp: Path) -> Iterator[RunningOwner]:
    owner = RunningOwner(owned_edge_store, short_tmp / "owner.sock")
    try:
        yield owner
    finally:
        owner.stop()


@pytest.fixture
def remote_store(running_owner: RunningOwner) -> Iterator[RemoteVectorStore]:
    store = RemoteVectorStore(running_owner.socket_path, AUTHKEY)
    try:
        yield store
    finally:
        store.close()


# Storage lifecycle


def test_ensure_tenant_storage_is_idempotent_when_called_twice(
    store: VectorStore, tenants: Tenants
) -> None:
    for target in (tenants.acme, tenants.initech):
        store.ensure_tenant_storage(target, SETTINGS)
        store.upsert(target, [chunk("c1")])
        store.ensure_tenant_storage(target, SETTINGS)

        assert store.count(target) == 1


def test_ensure_tenant_storage_raises_when_dense_size_changes(
    store: VectorStore, tenants: Tenants
) -> None:
    store.ensure_tenant_storage(tenants.initech, SETTINGS)

    with pytest.raises(VectorStoreError) as excinfo:
        store.ensure_tenant_storage(tenants.initech, StorageSettings(dense_size=DIM * 2))

    assert excinfo.value.code == "storage_settings_mismatch"


def test_tier_settings_store_and_find_points_when_quantized_on_disk(
    store: VectorStore, tenants: Tenants
) -> None:
    settings = StorageSettings(
        dense_size=DIM, hnsw_m=8, hnsw_ef_construct=64, int8_quantization=True, on_disk_vectors=True
    )
    store.ensure_tenant_storage(tenants.initech, settings)
    store.upsert(tenants.initech, [chunk(f"c{i}", dense=axis(i)) for i in range(4)])
    store.optimize(tenants.initech)

    assert ids(store.query(tenants.initech, dense=axis(2), limit=1)) == ["c2"]


def test_upsert_raises_when_storage_was_never_created(store: VectorStore, tenants: Tenants) -> None:
    with pytest.raises(VectorStoreError) as excinfo:
        store.upsert(tenants.initech, [chunk("c1")])

    assert excinfo.value.code == "tenant_storage_missing"


def test_reads_return_nothing_when_storage_was_never_created(
    store: VectorStore, tenants: Tenants
) -> None:
    assert store.count(tenants.acme) == 0
    assert store.query(tenants.acme, dense=axis(0)) == []
    assert store.query(tenants.initech, sparse=SparseVector([1], [1.0])) == []
    store.delete_points(tenants.initech, repository_id=1)


# Writes


def test_count_matches_upserted_points_when_points_span_repositories(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(
        store,
        tenants.acme,
        [chunk("a", repository_id=1), chunk("b", repository_id=1), chunk("c", repository_id=2)],
    )

    assert store.count(tenants.acme) == 3
    assert store.count(tenants.acme, repository_id=1) == 2
    assert store.count(tenants.acme, repository_id=2) == 1
    assert store.count(tenants.acme, repository_id=3) == 0


def test_upsert_does_not_duplicate_when_batch_is_replayed(
    store: VectorStore, tenants: Tenants
) -> None:
    batch = [chunk(f"c{i}", dense=axis(i)) for i in range(5)]
    seeded(store, tenants.acme, batch)

    store.upsert(tenants.acme, batch)
    store.upsert(tenants.acme, [chunk("c0", dense=axis(0), path="src/renamed.py")])

    assert store.count(tenants.acme) == 5
    hits = store.query(tenants.acme, dense=axis(0), limit=1)
    assert ids(hits) == ["c0"]
    assert hits[0].payload["path"] == "src/renamed.py"


def test_upsert_raises_when_sparse_lengths_differ(store: VectorStore, tenants: Tenants) -> None:
    store.ensure_tenant_storage(tenants.acme, SETTINGS)
    bad = ChunkPoint(
        id="bad", dense=axis(0), sparse=SparseVector([1, 2], [1.0]), payload={"repository_id": 1}
    )

    with pytest.raises(InvalidChunkPoint):
        store.upsert(tenants.acme, [bad])

    assert store.count(tenants.acme) == 0


def test_upsert_raises_when_repository_id_is_missing(store: VectorStore, tenants: Tenants) -> None:
    store.ensure_tenant_storage(tenants.acme, SETTINGS)
    bad = ChunkPoint(id="bad", dense=axis(0), sparse=SparseVector([], []), payload={})

    with pytest.raises(InvalidChunkPoint) as excinfo:
        store.upsert(tenants.acme, [bad])

    assert excinfo.value.code == "invalid_chunk_point"


def test_delete_points_removes_repository_when_no_paths_given(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("a", repository_id=1), chunk("b", repository_id=2)])

    store.delete_points(tenants.acme, repository_id=1)

    assert store.count(tenants.acme, repository_id=1) == 0
    assert store.count(tenants.acme, repository_id=2) == 1


def test_delete_points_removes_only_given_paths_of_repository(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(
        store,
        tenants.acme,
        [
            chunk("a1", path="src/a.py"),
            chunk("a2", path="src/a.py"),
            chunk("b", path="src/b.py"),
            chunk("other-repo", path="src/a.py", repository_id=2),
        ],
    )

    store.delete_points(tenants.acme, repository_id=1, paths=["src/a.py"])

    remaining = store.query(tenants.acme, dense=axis(DIM - 1), limit=10)
    assert sorted(ids(remaining)) == ["b", "other-repo"]


def test_delete_points_deletes_nothing_when_paths_list_is_empty(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("a"), chunk("b")])

    store.delete_points(tenants.acme, repository_id=1, paths=[])

    assert store.count(tenants.acme) == 2


# Queries


def four_axis_points() -> list[ChunkPoint]:
    return [chunk(f"c{i}", dense=axis(i), tokens={100 + i: 1.0}) for i in range(4)]


def test_query_ranks_expected_point_first_when_mode_is_dense(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, four_axis_points())

    hits = store.query(tenants.acme, dense=axis(2), limit=4)

    assert ids(hits)[0] == "c2"
    assert hits[0].score > hits[1].score


def test_query_ranks_expected_point_first_when_mode_is_sparse(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, four_axis_points())

    hits = store.query(tenants.acme, sparse=SparseVector([102], [1.0]), limit=4)

    # Sparse search only returns points sharing a token with the query.
    assert ids(hits) == ["c2"]


def test_query_fuses_both_rankings_when_mode_is_hybrid(
    store: VectorStore, tenants: Tenants
) -> None:
    points = [
        # Best dense match, shares no token with the query.
        chunk("dense-only", dense=axis(0), tokens={900: 1.0}),
        # Best sparse match, opposite direction in dense space.
        chunk("sparse-only", dense=axis(0, sign=-1.0), tokens={500: 1.0, 501: 1.0}),
        # Second in both lists: only fusion ranks it first.
        chunk("both", dense=between(0, 1), tokens={500: 1.0}),
        *(chunk(f"noise{i}", dense=axis(2 + i), tokens={600 + i: 1.0}) for i in range(4)),
    ]
    seeded(store, tenants.acme, points)
    dense, sparse = axis(0), SparseVector([500, 501], [1.0, 1.0])

    hybrid = store.query(tenants.acme, dense=dense, sparse=sparse, limit=3, prefetch_limit=2)

    assert ids(store.query(tenants.acme, dense=dense, limit=1)) == ["dense-only"]
    assert ids(store.query(tenants.acme, sparse=sparse, limit=1)) == ["sparse-only"]
    assert ids(hybrid)[0] == "both"
    assert set(ids(hybrid)) == {"both", "dense-only", "sparse-only"}


def test_query_raises_when_no_vector_is_given(store: VectorStore, tenants: Tenants) -> None:
    store.ensure_tenant_storage(tenants.acme, SETTINGS)

    with pytest.raises(VectorStoreError) as excinfo:
        store.query(tenants.acme)

    assert excinfo.value.code == "vector_query_empty"


def test_head_query_ranks_by_head_vectors_not_dense_ones(
    store: VectorStore, tenants: Tenants
) -> None:
    # Each point's head points the opposite way from its dense vector.
    points = [replace(chunk(f"c{i}", dense=axis(i)), head=axis((i + 1) % 4)) for i in range(4)]
    seeded(store, tenants.acme, points)

    assert ids(store.query(tenants.acme, dense=axis(1), limit=1)) == ["c1"]
    assert ids(store.query(tenants.acme, head=axis(1), limit=1)) == ["c0"]


def test_head_query_skips_points_without_head_and_keeps_the_tenant_filter(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [replace(chunk("with-head"), head=axis(0)), chunk("no-head")])
    seeded(store, tenants.globex, [replace(chunk("other-tenant"), head=axis(0))])

    assert ids(store.query(tenants.acme, head=axis(0), limit=5)) == ["with-head"]


def test_query_many_answers_each_query_as_query_would_in_order(
    store: VectorStore, tenants: Tenants
) -> None:
    points = [
        replace(chunk(f"c{i}", dense=axis(i), tokens={100 + i: 1.0}), head=axis(3 - i))
        for i in range(4)
    ]
    seeded(store, tenants.acme, points)
    seeded(store, tenants.globex, [replace(chunk("g0", dense=axis(1)), head=axis(1))])
    queries = [
        VectorQuery(dense=axis(1), limit=2),
        VectorQuery(sparse=SparseVector([102], [1.0]), limit=2),
        VectorQuery(head=axis(0), limit=1),
        VectorQuery(dense=axis(2), search_filter=SearchFilter(names=("nothing",)), limit=2),
    ]

    answers = store.query_many(tenants.acme, queries)

    assert [ids(hits) for hits in answers] == [
        ids(store.query(tenants.acme, dense=axis(1), limit=2)),
        ["c2"],
        ["c3"],
        [],
    ]
    assert "g0" not in {hit_id for hits in answers for hit_id in ids(hits)}


def test_query_many_returns_the_same_hits_as_query_when_lists_share_points(
    store: VectorStore, tenants: Tenants
) -> None:
    # Every point is in all three lists, as most of a search's candidates are; a batch may
    # share one payload between the hits of a point, but ids, scores and payloads must be
    # exactly what separate queries return.
    points = [
        replace(
            chunk(f"c{i}", dense=[1.0, 0.1 * i] + [0.0] * (DIM - 2), tokens={7: 1.0 + i}),
            head=[0.1 * i, 1.0] + [0.0] * (DIM - 2),
        )
        for i in range(6)
    ]
    seeded(store, tenants.acme, points)
    queries = [
        VectorQuery(dense=axis(1), limit=6),
        VectorQuery(head=axis(1), limit=6),
        VectorQuery(sparse=SparseVector([7], [1.0]), limit=6),
    ]

    answers = store.query_many(tenants.acme, queries)
    alone = [
        store.query(tenants.acme, dense=axis(1), limit=6),
        store.query(tenants.acme, head=axis(1), limit=6),
        store.query(tenants.acme, sparse=SparseVector([7], [1.0]), limit=6),
    ]

    assert [[(h.id, h.score, h.payload) for h in hits] for hits in answers] == [
        [(h.id, h.score, h.payload) for h in hits] for hits in alone
    ]
    assert all(len(hits) == 6 for hits in answers)
    assert all("chunk_id" not in hit.payload for hits in answers for hit in hits)


def test_head_query_refuses_to_mix_with_dense_or_sparse(
    store: VectorStore, tenants: Tenants
) -> None:
    store.ensure_tenant_storage(tenants.acme, SETTINGS)

    with pytest.raises(VectorStoreError) as excinfo:
        store.query(tenants.acme, dense=axis(0), head=axis(0))

    assert excinfo.value.code == "vector_query_combination"


def test_query_returns_payload_without_store_keys_when_hit(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("c0", dense=axis(0), extra_field="kept")])

    (hit,) = store.query(tenants.acme, dense=axis(0), limit=1)

    assert hit.id == "c0"
    assert hit.payload["extra_field"] == "kept"
    assert hit.payload[TENANT_KEY_FIELD] == tenants.acme.tenant_key
    assert "chunk_id" not in hit.payload


FILTER_POINTS = [
    chunk("parse", repository_id=1, language="python", path="src/a.py", symbol="P.parse"),
    chunk("next", repository_id=1, language="go", path="src/b.go", symbol="L.next", name="next"),
    chunk("main", repository_id=2, language="python", path="lib/c.py", symbol="main", name="main"),
    chunk("walk", repository_id=3, language="rust", path="src/d.rs", symbol="walk", name="walk"),
]


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        (SearchFilter(repository_ids=(1,)), {"parse", "next"}),
        (SearchFilter(repository_ids=(2, 3)), {"main", "walk"}),
        (SearchFilter(languages=("python",)), {"parse", "main"}),
        (SearchFilter(paths=("src/b.go", "src/d.rs")), {"next", "walk"}),
        (SearchFilter(exclude_paths=("src/a.py", "lib/c.py")), {"next", "walk"}),
        (SearchFilter(symbols=("P.parse",)), {"parse"}),
        (SearchFilter(names=("main", "walk")), {"main", "walk"}),
        (SearchFilter(repository_ids=(1,), languages=("go",)), {"next"}),
        (SearchFilter(languages=("python",), exclude_paths=("src/a.py",)), {"main"}),
        (SearchFilter(languages=("cobol",)), set()),
        (SearchFilter(), {"parse", "next", "main", "walk"}),
    ],
)
def test_query_returns_only_matching_points_when_filtered(
    store: VectorStore, tenants: Tenants, search_filter: SearchFilter, expected: set[str]
) -> None:
    seeded(store, tenants.acme, FILTER_POINTS)

    hits = store.query(tenants.acme, dense=axis(DIM - 1), search_filter=search_filter, limit=10)

    assert set(ids(hits)) == expected


# Tenant isolation


def test_query_never_returns_other_tenant_points_when_storage_is_shared(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("acme-1", dense=axis(0), tokens={7: 1.0})])
    seeded(
        store,
        tenants.globex,
        [chunk(f"globex-{i}", dense=axis(0), tokens={7: 1.0}) for i in range(3)],
    )

    for kwargs in ({"dense": axis(0)}, {"sparse": SparseVector([7], [1.0])}):
        assert ids(store.query(tenants.acme, limit=10, **kwargs)) == ["acme-1"]
    hybrid = store.query(tenants.globex, dense=axis(0), sparse=SparseVector([7], [1.0]), limit=10)
    assert sorted(ids(hybrid)) == ["globex-0", "globex-1", "globex-2"]
    assert (store.count(tenants.acme), store.count(tenants.globex)) == (1, 3)


def test_query_never_returns_other_tenant_points_when_one_tenant_is_dedicated(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.initech, [chunk("initech-1", dense=axis(0))])
    seeded(store, tenants.acme, [chunk("acme-1", dense=axis(0))])

    assert ids(store.query(tenants.initech, dense=axis(0), limit=10)) == ["initech-1"]
    assert ids(store.query(tenants.acme, dense=axis(0), limit=10)) == ["acme-1"]
    # The same key in the shared storage is another partition than the dedicated one.
    assert store.count(StorageTarget(tenant_key=tenants.initech.tenant_key)) == 0


def test_payload_claiming_another_tenant_is_stored_under_the_writer(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("acme-1", dense=axis(0))])
    seeded(
        store,
        tenants.globex,
        [chunk("forged", dense=axis(0), **{TENANT_KEY_FIELD: tenants.acme.tenant_key})],
    )

    assert ids(store.query(tenants.acme, dense=axis(0), limit=10)) == ["acme-1"]
    assert store.count(tenants.acme) == 1
    (hit,) = store.query(tenants.globex, dense=axis(0), limit=10)
    assert hit.payload[TENANT_KEY_FIELD] == tenants.globex.tenant_key


def test_same_chunk_id_in_two_tenants_keeps_both_points(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("shared-id", dense=axis(0), path="acme.py")])
    seeded(store, tenants.globex, [chunk("shared-id", dense=axis(0), path="globex.py")])

    (acme_hit,) = store.query(tenants.acme, dense=axis(0), limit=10)
    (globex_hit,) = store.query(tenants.globex, dense=axis(0), limit=10)
    assert (acme_hit.payload["path"], globex_hit.payload["path"]) == ("acme.py", "globex.py")


def test_delete_points_never_touches_other_tenant_when_repository_ids_match(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk("acme-1", repository_id=1)])
    seeded(store, tenants.globex, [chunk("globex-1", repository_id=1)])

    store.delete_points(tenants.acme, repository_id=1)

    assert (store.count(tenants.acme), store.count(tenants.globex)) == (0, 1)


def test_drop_tenant_storage_removes_only_that_tenant(store: VectorStore, tenants: Tenants) -> None:
    seeded(store, tenants.acme, [chunk("acme-1"), chunk("acme-2")])
    seeded(store, tenants.globex, [chunk("globex-1")])
    seeded(store, tenants.initech, [chunk("initech-1")])

    store.drop_tenant_storage(tenants.acme)
    store.drop_tenant_storage(tenants.initech)
    store.drop_tenant_storage(tenants.initech)

    assert (
        store.count(tenants.acme),
        store.count(tenants.globex),
        store.count(tenants.initech),
    ) == (0, 1, 0)
    store.ensure_tenant_storage(tenants.initech, SETTINGS)
    assert store.count(tenants.initech) == 0


def test_drop_tenant_copy_removes_only_that_copy_when_tenant_has_both(
    store: VectorStore, tenants: Tenants
) -> None:
    shared = StorageTarget(tenant_key=tenants.initech.tenant_key, dedicated=False)
    seeded(store, shared, [chunk("s1"), chunk("s2")])
    seeded(store, tenants.initech, [chunk("d1")])
    seeded(store, tenants.globex, [chunk("g1")])

    store.drop_tenant_copy(shared)

    assert (store.count(shared), store.count(tenants.initech), store.count(tenants.globex)) == (
        0,
        1,
        1,
    )
    store.upsert(shared, [chunk("s3")])  # the shared storage itself is still there
    store.drop_tenant_copy(tenants.initech)
    store.drop_tenant_copy(tenants.initech)
    assert (store.count(shared), store.count(tenants.initech), store.count(tenants.globex)) == (
        1,
        0,
        1,
    )


# Export (scroll), used to move a tenant between shared and dedicated storage


def export_all(store: VectorStore, target: StorageTarget, *, limit: int) -> list[ChunkPoint]:
    points: list[ChunkPoint] = []
    offset: str | None = None
    while True:
        page = store.scroll(target, offset=offset, limit=limit)
        points += page.points
        if page.next_offset is None:
            return points
        offset = page.next_offset


def test_scroll_returns_every_point_once_when_paged(store: VectorStore, tenants: Tenants) -> None:
    for target in (tenants.acme, tenants.initech):
        seeded(store, target, [chunk(f"c{i}", dense=axis(i % DIM)) for i in range(7)])
        seeded(store, tenants.globex, [chunk(f"other{i}") for i in range(3)])

        exported = export_all(store, target, limit=3)

        assert sorted(point.id for point in exported) == [f"c{i}" for i in range(7)]


def test_scroll_exports_points_as_upserted_when_copied_to_another_target(
    store: VectorStore, tenants: Tenants
) -> None:
    original = [
        replace(
            chunk(f"c{i}", dense=axis(i), tokens={100 + i: 1.0, 7: 0.5}, extra_field=i),
            head=axis(3 - i),
        )
        for i in range(4)
    ]
    seeded(store, tenants.acme, original)
    copy_target = StorageTarget(tenant_key=tenants.acme.tenant_key, dedicated=True)
    store.ensure_tenant_storage(copy_target, SETTINGS)

    exported = export_all(store, tenants.acme, limit=2)
    store.upsert(copy_target, exported)

    by_id = {point.id: point for point in exported}
    assert by_id["c1"].payload == original[1].payload
    assert by_id["c1"].dense == pytest.approx(axis(1))
    assert by_id["c1"].head == pytest.approx(axis(2))
    assert sorted(zip(by_id["c1"].sparse.indices, by_id["c1"].sparse.values, strict=True)) == [
        (7, 0.5),
        (101, 1.0),
    ]
    assert store.count(copy_target) == 4
    for i in range(4):
        dense, sparse = axis(i), SparseVector([100 + i], [1.0])
        assert ids(store.query(copy_target, dense=dense, limit=1)) == [f"c{i}"]
        assert ids(store.query(copy_target, sparse=sparse, limit=1)) == [f"c{i}"]
        assert ids(store.query(copy_target, head=axis(3 - i), limit=1)) == [f"c{i}"]


def test_scroll_returns_only_given_chunks_when_chunk_ids_are_passed(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, [chunk(f"c{i}") for i in range(5)])
    seeded(store, tenants.globex, [chunk("c1"), chunk("c9")])

    page = store.scroll(tenants.acme, chunk_ids=["c1", "c3", "c9", "missing"])

    assert sorted(point.id for point in page.points) == ["c1", "c3"]
    assert page.next_offset is None
    assert store.scroll(tenants.acme, chunk_ids=[]).points == []


def test_scroll_returns_empty_page_when_storage_was_never_created(
    store: VectorStore, tenants: Tenants
) -> None:
    assert store.scroll(tenants.acme).points == []
    assert store.scroll(tenants.initech).points == []


@pytest.mark.parametrize("tenant_key", ["../etc", "Acme", "", "a" * 64, "a/b", "-x", "a.b"])
def test_every_method_raises_when_tenant_key_is_unsafe(store: VectorStore, tenant_key: str) -> None:
    for dedicated in (False, True):
        target = StorageTarget(tenant_key=tenant_key, dedicated=dedicated)
        with pytest.raises(InvalidTenantKey) as excinfo:
            store.ensure_tenant_storage(target, SETTINGS)
        assert excinfo.value.code == "invalid_tenant_key"
        with pytest.raises(InvalidTenantKey):
            store.count(target)
        with pytest.raises(InvalidTenantKey):
            store.query(target, dense=axis(0))
        with pytest.raises(InvalidTenantKey):
            store.drop_tenant_storage(target)
        with pytest.raises(InvalidTenantKey):
            store.drop_tenant_copy(target)
        with pytest.raises(InvalidTenantKey):
            store.scroll(target)


# Sparse IDF (case C08)


def test_sparse_query_ranks_rare_term_first_when_common_term_is_frequent(
    store: VectorStore, tenants: Tenants
) -> None:
    common, rare = 1, 2
    noise = [chunk(f"noise{i}", tokens={common: 3.0}) for i in range(20)]
    seeded(store, tenants.acme, [*noise, chunk("frobnicate", tokens={common: 1.0, rare: 1.0})])
    query = SparseVector([common, rare], [1.0, 1.0])

    assert ids(store.query(tenants.acme, sparse=query, limit=5))[0] == "frobnicate"


def test_sparse_idf_ignores_other_tenants_when_storage_is_shared(
    store: VectorStore, tenants: Tenants
) -> None:
    # Token 3 is rare inside acme but frequent in globex. Counted over the whole storage, IDF
    # would make token 2 win; counted over acme alone both are rare and the higher weight wins.
    acme_points = [chunk(f"filler{i}", tokens={1: 1.0}) for i in range(10)]
    acme_points += [chunk("token2", tokens={2: 1.0}), chunk("token3", tokens={3: 1.2})]
    seeded(store, tenants.acme, acme_points)
    seeded(store, tenants.globex, [chunk(f"globex{i}", tokens={3: 1.0}) for i in range(30)])

    hits = store.query(tenants.acme, sparse=SparseVector([2, 3], [1.0, 1.0]), limit=2)

    assert ids(hits) == ["token3", "token2"]


# Threads


def test_store_answers_correctly_when_threads_share_it(
    store: VectorStore, tenants: Tenants
) -> None:
    seeded(store, tenants.acme, four_axis_points())
    results: dict[int, list[str]] = {}

    def worker(index: int) -> None:
        axis_index = index % 4
        results[index] = [
            ids(store.query(tenants.acme, dense=axis(axis_index), limit=1))[0] for _ in range(10)
        ]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {i: [f"c{i % 4}"] * 10 for i in range(6)}


# Embedded engine specifics


def test_edge_store_raises_unavailable_when_folder_is_already_owned(tmp_path: Path) -> None:
    first = EdgeVectorStore(tmp_path / "vectors")
    try:
        with pytest.raises(VectorStoreUnavailable) as excinfo:
            EdgeVectorStore(tmp_path / "vectors")
    finally:
        first.close()

    assert excinfo.value.code == "vector_store_locked"
    assert "QDRANT_URL" in excinfo.value.message


def test_edge_store_raises_unavailable_when_another_process_owns_folder(tmp_path: Path) -> None:
    first = EdgeVectorStore(tmp_path / "vectors")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from search.clients.vectorstore import EdgeVectorStore, VectorStoreUnavailable\n"
        "try:\n"
        "    EdgeVectorStore(Path(sys.argv[1]))\n"
        "except VectorStoreUnavailable as exc:\n"
        "    sys.stdout.write(exc.code)\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "vectors")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        first.close()

    assert result.stdout == "vector_store_locked"


def test_edge_store_keeps_points_when_reopened_after_close(tmp_path: Path) -> None:
    first = EdgeVectorStore(tmp_path / "vectors")
    seeded(first, ACME, four_axis_points())
    seeded(first, INITECH, [chunk("initech-1")])
    first.close()
    first.close()

    second = EdgeVectorStore(tmp_path / "vectors")
    try:
        assert (second.count(ACME), second.count(INITECH)) == (4, 1)
        assert ids(second.query(ACME, dense=axis(1), limit=1)) == ["c1"]
    finally:
        second.close()


def test_edge_store_raises_unavailable_when_used_after_close(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "vectors")
    store.close()

    with pytest.raises(VectorStoreUnavailable):
        store.count(ACME)
    with pytest.raises(VectorStoreUnavailable):
        store.health()


def test_edge_store_optimizes_when_writes_pass_threshold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = EdgeVectorStore(tmp_path / "vectors", optimize_threshold_points=6)
    try:
        store.ensure_tenant_storage(ACME, SETTINGS)
        with caplog.at_level("INFO", logger="search.clients.vectorstore.edge"):
            store.upsert(ACME, four_axis_points())
            optimized_early = [r for r in caplog.records if r.msg == "vectorstore.edge.optimized"]
            store.upsert(ACME, [chunk(f"x{i}") for i in range(3)])
        optimized = [r for r in caplog.records if r.msg == "vectorstore.edge.optimized"]

        assert optimized_early == []
        assert [record.points_since_last for record in optimized] == [7]
        assert ids(store.query(ACME, dense=axis(3), limit=1)) == ["c3"]
    finally:
        store.close()


def test_edge_store_keeps_dedicated_shards_in_tenant_folders(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "vectors")
    try:
        store.ensure_tenant_storage(INITECH, SETTINGS)
        store.ensure_tenant_storage(ACME, SETTINGS)
        assert (tmp_path / "vectors" / "tenants" / "initech").is_dir()
        assert (tmp_path / "vectors" / "shared").is_dir()

        store.drop_tenant_storage(INITECH)
        assert not (tmp_path / "vectors" / "tenants" / "initech").exists()
    finally:
        store.close()


def test_edge_store_creates_payload_indexes_when_shard_is_created(tmp_path: Path) -> None:
    import qdrant_edge

    store = EdgeVectorStore(tmp_path / "vectors")
    store.ensure_tenant_storage(ACME, SETTINGS)
    store.ensure_tenant_storage(ACME, SETTINGS)
    store.close()

    shard = qdrant_edge.EdgeShard.load(str(tmp_path / "vectors" / "shared"))
    try:
        schema = shard.info().payload_schema
    finally:
        shard.close()
    assert set(schema) == {TENANT_KEY_FIELD, *KEYWORD_FIELDS, *INTEGER_FIELDS}
    assert schema[TENANT_KEY_FIELD].params.is_tenant is True
    assert schema["repository_id"].data_type == qdrant_edge.PayloadSchemaType.Integer


# Qdrant client specifics


class IndexRecordingClient(QdrantClient):
    """Local mode forgets keyword and integer indexes, so record what the adapter requests."""

    def __init__(self) -> None:
        super().__init__(location=":memory:")
        self.index_requests: list[tuple[str, str, Any]] = []

    def create_payload_index(self, collection_name: str, *args: Any, **kwargs: Any) -> Any:
        self.index_requests.append((collection_name, kwargs["field_name"], kwargs["field_schema"]))
        return super().create_payload_index(collection_name, *args, **kwargs)


def test_server_store_declares_idf_and_indexes_when_collection_is_created() -> None:
    client = IndexRecordingClient()
    store = QdrantServerStore(client, shared_collection="chunks")
    try:
        store.ensure_tenant_storage(ACME, SETTINGS)
        store.ensure_tenant_storage(INITECH, SETTINGS)

        assert client.collection_exists("tenant_initech")
        info = client.get_collection("chunks")
        assert info.config.params.sparse_vectors["sparse"].modifier == models.Modifier.IDF
        shared = {
            field: schema for name, field, schema in client.index_requests if name == "chunks"
        }
        assert shared[TENANT_KEY_FIELD].is_tenant is True
        assert shared["repository_id"] == models.PayloadSchemaType.INTEGER
        assert set(shared) == {TENANT_KEY_FIELD, *KEYWORD_FIELDS, *INTEGER_FIELDS}
    finally:
        store.close()


class BatchCountingClient(QdrantClient):
    """A real in-memory client that counts how the store sends its queries."""

    def __init__(self) -> None:
        super().__init__(location=":memory:")
        self.batches: list[int] = []
        self.single_queries = 0

    def query_batch_points(self, collection_name, requests, *args, **kwargs):
        self.batches.append(len(requests))
        return super().query_batch_points(collection_name, requests, *args, **kwargs)

    def query_points(self, *args, **kwargs):
        self.single_queries += 1
        return super().query_points(*args, **kwargs)


def test_server_store_sends_a_batch_as_one_request() -> None:
    client = BatchCountingClient()
    store = QdrantServerStore(client, shared_collection="chunks")
    try:
        store.ensure_tenant_storage(ACME, SETTINGS)
        points = [replace(chunk(f"c{i}", dense=axis(i)), head=axis(3 - i)) for i in range(4)]
        store.upsert(ACME, points)
        answers = store.query_many(
            ACME,
            [
                VectorQuery(dense=axis(1), limit=1),
                VectorQuery(head=axis(1), limit=1),
                VectorQuery(dense=axis(0), sparse=SparseVector([1], [1.0]), limit=2),
            ],
        )

        assert client.batches == [3] and client.single_queries == 0
        assert [ids(hits) for hits in answers[:2]] == [["c1"], ["c2"]]
    finally:
        store.close()


# Owner socket specifics


def test_remote_store_raises_unavailable_when_no_owner_listens(short_tmp: Path) -> None:
    remote = RemoteVectorStore(short_tmp / "missing.sock", AUTHKEY)

    with pytest.raises(VectorStoreUnavailable) as excinfo:
        remote.count(ACME)

    assert "run_vector_store" in excinfo.value.message
    remote.close()


def test_remote_store_raises_unavailable_when_socket_file_is_stale(short_tmp: Path) -> None:
    stale_path = short_tmp / "stale.sock"
    with socket.socket(socket.AF_UNIX) as orphan:
        orphan.bind(str(stale_path))
    remote = RemoteVectorStore(stale_path, AUTHKEY)

    with pytest.raises(VectorStoreUnavailable):
        remote.health()

    remote.close()


def test_remote_store_raises_unavailable_when_authkey_differs(running_owner: RunningOwner) -> None:
    remote = RemoteVectorStore(running_owner.socket_path, b"wrong-key")

    with pytest.raises(VectorStoreUnavailable) as excinfo:
        remote.health()

    assert excinfo.value.code == "vector_store_owner_auth_failed"
    remote.close()


def test_owner_socket_is_private_when_listening(running_owner: RunningOwner) -> None:
    mode = stat.S_IMODE(os.stat(running_owner.socket_path).st_mode)

    assert mode == 0o600


def test_owner_rejects_method_when_not_whitelisted(
    running_owner: RunningOwner, remote_store: RemoteVectorStore
) -> None:
    from multiprocessing.connection import Client

    conn = Client(str(running_owner.socket_path), family="AF_UNIX", authkey=AUTHKEY)
    try:
        conn.send(("close", (), {}))
        status, error = conn.recv()
    finally:
        conn.close()

    assert status == "error"
    assert error.code == "vector_store_method_not_allowed"
    remote_store.health()


def test_owner_refuses_to_start_when_socket_path_is_a_regular_file(
    owned_edge_store: EdgeVectorStore, short_tmp: Path
) -> None:
    taken = short_tmp / "settings.py"
    taken.write_text("keep me")

    with pytest.raises(VectorStoreError) as excinfo:
        VectorStoreOwnerServer(owned_edge_store, taken, AUTHKEY)

    assert excinfo.value.code == "vector_store_socket_path_taken"
    assert taken.read_text() == "keep me"


def test_owner_refuses_to_start_when_another_owner_answers(
    running_owner: RunningOwner, owned_edge_store: EdgeVectorStore
) -> None:
    with pytest.raises(VectorStoreUnavailable) as excinfo:
        VectorStoreOwnerServer(owned_edge_store, running_owner.socket_path, AUTHKEY)

    assert excinfo.value.code == "vector_store_owner_running"


def test_remote_store_reconnects_when_owner_restarts(
    owned_edge_store: EdgeVectorStore, short_tmp: Path
) -> None:
    socket_path = short_tmp / "owner.sock"
    first_owner = RunningOwner(owned_edge_store, socket_path)
    remote = RemoteVectorStore(socket_path, AUTHKEY)
    try:
        seeded(remote, ACME, four_axis_points())
        first_owner.stop()

        second_owner = RunningOwner(owned_edge_store, socket_path)
        try:
            assert remote.count(ACME) == 4
        finally:
            second_owner.stop()
    finally:
        first_owner.stop()
        remote.close()


def test_remote_store_forwards_portal_errors_with_their_code(
    remote_store: RemoteVectorStore,
) -> None:
    with pytest.raises(VectorStoreError) as excinfo:
        remote_store.upsert(INITECH, [chunk("c1")])

    assert excinfo.value.code == "tenant_storage_missing"
    assert "ensure_tenant_storage" in excinfo.value.message


# Factory


def test_factory_returns_server_store_when_qdrant_url_is_set(tmp_path: Path) -> None:
    store = build_vector_store(
        qdrant_url="http://127.0.0.1:6333",
        qdrant_api_key=None,
        embedded_path=tmp_path / "vectors",
        owner_socket=None,
        authkey=AUTHKEY,
    )
    try:
        assert isinstance(store, QdrantServerStore)
        assert not (tmp_path / "vectors").exists()
    finally:
        store.close()


def test_factory_returns_remote_store_when_owner_answers(
    running_owner: RunningOwner, tmp_path: Path
) -> None:
    store = build_vector_store(
        qdrant_url=None,
        qdrant_api_key=None,
        embedded_path=tmp_path / "unused",
        owner_socket=running_owner.socket_path,
        authkey=AUTHKEY,
    )
    try:
        assert isinstance(store, RemoteVectorStore)
        assert not (tmp_path / "unused").exists()
    finally:
        store.close()


@pytest.mark.parametrize("socket_state", ["missing", "stale"])
def test_factory_returns_embedded_store_when_no_owner_answers(
    tmp_path: Path, short_tmp: Path, socket_state: str
) -> None:
    socket_path = short_tmp / "owner.sock"
    if socket_state == "stale":
        with socket.socket(socket.AF_UNIX) as orphan:
            orphan.bind(str(socket_path))

    store = build_vector_store(
        qdrant_url=None,
        qdrant_api_key=None,
        embedded_path=tmp_path / "vectors",
        owner_socket=socket_path,
        authkey=AUTHKEY,
    )
    try:
        assert isinstance(store, EdgeVectorStore)
    finally:
        store.close()


def test_edge_shard_created_before_head_vectors_still_indexes_and_searches(
    tmp_path: Path,
) -> None:
    import qdrant_edge as qe

    # A shared shard as an earlier release created it: dense and sparse vectors, no head.
    legacy = qe.EdgeConfig(
        vectors={"dense": qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)},
        sparse_vectors={"sparse": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        wal_enabled=True,
    )
    (tmp_path / "vectors").mkdir()
    qe.EdgeShard.create(str(tmp_path / "vectors" / "shared"), legacy).close()
    store = EdgeVectorStore(tmp_path / "vectors")
    try:
        store.ensure_tenant_storage(ACME, SETTINGS)
        store.upsert(ACME, [replace(chunk("c0", dense=axis(0)), head=axis(1))])

        assert ids(store.query(ACME, dense=axis(0), limit=1)) == ["c0"]
        assert store.query(ACME, head=axis(1), limit=1) == []
    finally:
        store.close()
