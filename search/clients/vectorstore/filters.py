"""Tenant scoping rules shared by every engine adapter.

The engines speak different filter classes, so the rules live here as plain data: which
conditions a request carries (the tenant condition always comes first), under which engine id a
chunk is stored, and which payload keys the store itself owns. Each adapter converts a
:class:`FilterPlan` in exactly one function, and every read, count and delete goes through it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from search.clients.vectorstore.base import (
    CHUNK_ID_FIELD,
    TENANT_KEY_FIELD,
    ChunkPoint,
    SearchFilter,
    SearchHit,
    SparseVector,
    StorageTarget,
    VectorStoreError,
)

# Tenant keys name folders and collections, so only this small alphabet is accepted: no path
# separators, no dots, nothing a crafted key could use to escape its storage.
TENANT_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# Fixed namespace for engine point ids. Changing it orphans every stored point.
_POINT_ID_NAMESPACE = uuid.UUID("6f1d8a52-3c4e-5b7a-9e21-0d4c8b7f3a19")

MatchValueType = str | int


class InvalidTenantKey(VectorStoreError):
    code = "invalid_tenant_key"
    status_code = 400


class InvalidChunkPoint(VectorStoreError):
    code = "invalid_chunk_point"
    status_code = 400


@dataclass(frozen=True)
class Match:
    """The payload field ``key`` equals one of ``values``."""

    key: str
    values: tuple[MatchValueType, ...]


@dataclass(frozen=True)
class FilterPlan:
    """Conditions of one request: all of ``must`` match and none of ``must_not``."""

    must: tuple[Match, ...]
    must_not: tuple[Match, ...] = ()
    # Engine point ids the request is restricted to (empty: no restriction).
    point_ids: tuple[str, ...] = ()


def checked_tenant_key(target: StorageTarget) -> str:
    """Return the target's tenant key; raise :class:`InvalidTenantKey` unless it is safe."""
    key = target.tenant_key
    if not isinstance(key, str) or not TENANT_KEY_PATTERN.fullmatch(key):
        raise InvalidTenantKey(
            f"Tenant key {key!r} is not valid for vector storage: use 1-63 characters of "
            "lowercase letters, digits, '_' or '-', starting with a letter or digit.",
            field="tenant_key",
        )
    return key


def tenant_plan(target: StorageTarget) -> FilterPlan:
    """Return the plan that matches every point of the tenant and nothing else."""
    return FilterPlan(must=(Match(TENANT_KEY_FIELD, (checked_tenant_key(target),)),))


def scoped_plan(
    target: StorageTarget,
    search_filter: SearchFilter | None = None,
    *,
    repository_id: int | None = None,
    paths: Sequence[str] | None = None,
    chunk_ids: Sequence[str] | None = None,
) -> FilterPlan:
    """Return the tenant condition followed by the caller's restrictions.

    Empty tuples in ``search_filter`` mean "no restriction". ``paths`` and ``chunk_ids`` must
    not be empty: the caller decides what an empty list means (selecting nothing), never
    this function. Chunk ids become the tenant's engine point ids.
    """
    must = list(tenant_plan(target).must)
    must_not: list[Match] = []

    if repository_id is not None:
        must.append(Match("repository_id", (repository_id,)))
    if paths is not None:
        if not paths:
            raise ValueError("paths must not be empty; skip the call instead")
        must.append(Match("path", tuple(paths)))

    if search_filter is not None:
        for key, values in (
            ("repository_id", search_filter.repository_ids),
            ("language", search_filter.languages),
            ("path", search_filter.paths),
            ("symbol", search_filter.symbols),
            ("name", search_filter.names),
        ):
            if values:
                must.append(Match(key, tuple(values)))
        if search_filter.exclude_paths:
            must_not.append(Match("path", tuple(search_filter.exclude_paths)))

    point_ids: tuple[str, ...] = ()
    if chunk_ids is not None:
        if not chunk_ids:
            raise ValueError("chunk_ids must not be empty; skip the call instead")
        point_ids = tuple(stored_point_id(target, chunk_id) for chunk_id in chunk_ids)

    return FilterPlan(must=tuple(must), must_not=tuple(must_not), point_ids=point_ids)


def stored_point_id(target: StorageTarget, chunk_id: str) -> str:
    """Return the engine id of a chunk: stable per (tenant, chunk id), distinct across tenants."""
    tenant_key = checked_tenant_key(target)
    # The tenant key cannot contain "/", so the joined name is unambiguous.
    return str(uuid.uuid5(_POINT_ID_NAMESPACE, f"{tenant_key}/{chunk_id}"))


def stored_payload(target: StorageTarget, point: ChunkPoint) -> dict[str, Any]:
    """Return the payload to store: the caller's, with the tenant and chunk id set by the store.

    Raise :class:`InvalidChunkPoint` when the id is empty, ``repository_id`` is not an integer
    (deletes and filters select on it) or the sparse vector is malformed.
    """
    _check_sparse(point)
    if not isinstance(point.id, str) or not point.id:
        raise InvalidChunkPoint(
            f"Chunk id {point.id!r} is not valid: pass a non-empty deterministic string id."
        )
    repository_id = point.payload.get("repository_id")
    if not isinstance(repository_id, int) or isinstance(repository_id, bool):
        raise InvalidChunkPoint(
            f"Chunk {point.id!r} has repository_id {repository_id!r}: every chunk payload needs "
            "an integer repository_id."
        )
    payload = dict(point.payload)
    # Never trust the caller for these keys: a payload claiming another tenant must not land
    # in that tenant's partition.
    payload[TENANT_KEY_FIELD] = checked_tenant_key(target)
    payload[CHUNK_ID_FIELD] = point.id
    return payload


def _check_sparse(point: ChunkPoint) -> None:
    # The embedded engine panics (instead of raising) on mismatched lengths, so check first.
    indices, values = point.sparse.indices, point.sparse.values
    if len(indices) != len(values):
        raise InvalidChunkPoint(
            f"Chunk {point.id!r} has {len(indices)} sparse indices but {len(values)} values: "
            "pass one value per index."
        )
    if len(set(indices)) != len(indices) or any(i < 0 or i >= 2**32 for i in indices):
        raise InvalidChunkPoint(
            f"Chunk {point.id!r} has repeated or out-of-range sparse indices: merge repeated "
            "tokens into one index and keep indices within 0..2**32-1."
        )


def exported_point(
    dense: Sequence[float],
    sparse_indices: Sequence[int],
    sparse_values: Sequence[float],
    payload: dict[str, Any] | None,
    head: Sequence[float] | None = None,
) -> ChunkPoint:
    """Return a stored point as the caller upserted it: its chunk id, without store keys."""
    payload = dict(payload or {})
    chunk_id = payload.pop(CHUNK_ID_FIELD, None)
    payload.pop(TENANT_KEY_FIELD, None)
    if not isinstance(chunk_id, str) or not chunk_id:
        raise VectorStoreError(
            "A stored point has no chunk id in its payload, so it cannot be exported; "
            "re-index the tenant's repositories to rewrite it.",
            code="stored_point_without_chunk_id",
        )
    return ChunkPoint(
        id=chunk_id,
        dense=[float(value) for value in dense],
        sparse=SparseVector(
            indices=[int(index) for index in sparse_indices],
            values=[float(value) for value in sparse_values],
        ),
        payload=payload,
        head=[float(value) for value in head] if head else None,
    )


def checked_query_vectors(
    dense: Sequence[float] | None, sparse: object | None, head: Sequence[float] | None
) -> None:
    """Refuse a query with no vector, or a head query mixed with the others."""
    if dense is None and sparse is None and head is None:
        raise VectorStoreError(
            "A vector query needs a dense vector, a sparse vector or both.",
            code="vector_query_empty",
            status_code=400,
        )
    if head is not None and (dense is not None or sparse is not None):
        raise VectorStoreError(
            "A head-vector query is run alone; query dense and sparse separately.",
            code="vector_query_combination",
            status_code=400,
        )


def search_hit(engine_id: object, score: float, payload: dict[str, Any] | None) -> SearchHit:
    """Return the hit as callers see it: their chunk id, and the payload without store keys."""
    payload = dict(payload or {})
    chunk_id = payload.pop(CHUNK_ID_FIELD, None)
    return SearchHit(
        id=chunk_id if isinstance(chunk_id, str) else str(engine_id),
        score=float(score),
        payload=payload,
    )
