"""Move a tenant between a partition of the shared vector storage and storage of its own.

A move copies, verifies, switches, then cleans up, so searches keep answering throughout:

1. mark the move in progress on the tenant row (index jobs refuse to start meanwhile, and a
   move refuses to start while one is queued or running);
2. copy every point to the new storage in batches, created with the tier's storage settings;
3. verify that the new copy holds exactly as many points as the old one and that a sample of
   chunk ids is present;
4. switch ``Tenant.isolation_mode`` in one row update. Requests load the tenant row and derive
   the storage target from it (``search.vector_store.storage_target``), so every request reads
   either the old copy or the new one, never both: counts show no duplicates, and the tenant
   filter on every read keeps other tenants' points out;
5. remove the old copy.

Any failure before step 4 removes the partial new copy and leaves the tenant on the old
storage, with the reason in ``Tenant.storage_move_error``.

Qdrant cluster with custom shard keys
-------------------------------------
On a Qdrant cluster a large tenant does not need a collection of its own (collections cost
memory each, case C06): the shared collection can be created with
``sharding_method=CUSTOM``, holding one shard key ``"shared"`` for the many small tenants and
one shard key per promoted tenant, placed on nodes of its own. The move below stays exactly
the same; only ``search.clients.vectorstore.server.QdrantServerStore`` would change:

* ``ensure_tenant_storage`` for a dedicated target calls ``create_shard_key(collection,
  tenant_key, shards_number=..., replication_factor=...)`` instead of ``create_collection``
  (``"shared"`` is created with the collection);
* ``upsert``, ``scroll``, ``count``, ``query`` and ``delete_points`` pass
  ``shard_key_selector=tenant_key`` (or ``"shared"``) so a request touches one shard key only,
  and keep the tenant payload filter, so a misplaced point still never leaks;
* ``drop_tenant_copy`` for a dedicated target calls ``delete_shard_key`` instead of
  ``delete_collection``.

Custom sharding needs a distributed (cluster-mode) server; neither the embedded engine nor
qdrant-client's local mode implement shard keys, so what runs here is the move itself against
both adapters (embedded engine and the qdrant-client code path in local mode).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from search.clients.vectorstore.base import StorageSettings, StorageTarget, VectorStore
from tenants.exceptions import QuotaExceeded, TenantError
from tenants.models import Tenant
from tenants.tiers import get_tier

logger = logging.getLogger(__name__)

# Points copied per scroll page and upsert; the embedded engine's sweet spot for writes.
COPY_BATCH_POINTS = 256
# Chunk ids checked in the new copy besides the count (taken spread over the whole export).
VERIFY_SAMPLE_SIZE = 64

# Tests set this to "copy" or "verify" to prove a failure there leaves the tenant intact.
FAULT_INJECTION_SETTING = "PORTAL_STORAGE_MOVE_FAIL_AT"


class StorageMoveRefused(TenantError):
    code = "storage_move_refused"
    status_code = 409


class StorageMoveFailed(TenantError):
    code = "storage_move_failed"
    status_code = 500


@dataclass(frozen=True)
class MoveResult:
    """What a finished move did."""

    tenant_key: str
    to_dedicated: bool
    points_copied: int
    duration_seconds: float


def move_tenant_storage(tenant: Tenant, *, to_dedicated: bool) -> MoveResult:
    """Copy the tenant's points to the other isolation mode and switch reads over.

    Guarantee: on return ``tenant.isolation_mode`` names the new storage, which holds every
    point the old one held, and the old copy is gone. Raise :class:`StorageMoveRefused` (409)
    when the tenant is not ready, already moving, already in that mode, or has an index job
    queued or running; raise :class:`StorageMoveFailed` when copying or verifying failed, in
    which case the partial new copy was removed and the tenant still reads its old storage.
    Side effects: writes and deletes in the vector store, updates the tenant row, makes the
    tenant's cached search responses stale.
    """
    from search import search_cache
    from search.vector_store import get_vector_store, storage_settings

    started = time.perf_counter()
    _begin_move(tenant, to_dedicated=to_dedicated)
    store = get_vector_store()
    old = StorageTarget(tenant_key=tenant.schema_name, dedicated=not to_dedicated)
    new = StorageTarget(tenant_key=tenant.schema_name, dedicated=to_dedicated)
    logger.info(
        "tenants.storage_move.started",
        extra={"tenant_id": tenant.pk, "to_dedicated": to_dedicated},
    )
    try:
        copied, sample = _copy_points(store, old, new, new_settings=storage_settings(tenant))
        _verify_copy(store, old, new, copied=copied, sample=sample)
    except Exception as exc:
        _abandon_move(tenant, store, new, exc)
        raise StorageMoveFailed(
            f"Moving tenant {tenant.slug} to "
            f"{'dedicated' if to_dedicated else 'shared'} storage failed ({exc}); it still "
            "searches its old storage. Fix the cause and run the move again from the operator "
            "admin (action 'Apply tier: move storage').",
        ) from exc

    _switch_isolation_mode(tenant, to_dedicated=to_dedicated)
    search_cache.bump_index_version(tenant.schema_name)
    _remove_old_copy(tenant, store, old)
    result = MoveResult(
        tenant_key=tenant.schema_name,
        to_dedicated=to_dedicated,
        points_copied=copied,
        duration_seconds=round(time.perf_counter() - started, 3),
    )
    logger.info(
        "tenants.storage_move.finished",
        extra={
            "tenant_id": tenant.pk,
            "to_dedicated": to_dedicated,
            "points": copied,
            "duration_seconds": result.duration_seconds,
        },
    )
    return result


def apply_tier_storage(tenant_id: int) -> MoveResult | None:
    """Move the tenant's storage when its tier wants the other isolation mode; else do nothing.

    Raise like :func:`move_tenant_storage`. Side effects: those of the move.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    wants_dedicated = get_tier(tenant.tier).is_dedicated_storage
    if wants_dedicated == tenant.is_dedicated_storage:
        return None
    return move_tenant_storage(tenant, to_dedicated=wants_dedicated)


def change_tier(tenant: Tenant, *, tier: str) -> Tenant:
    """Put the tenant on another tier and queue what the new tier implies.

    Quotas follow at once (they are read from the tier). When the tier's storage isolation
    differs, a Celery task moves the storage after commit; the namespace bundle is rendered
    again (and applied when a cluster is configured) by the same task. Raise
    :class:`~tenants.exceptions.UnknownTier` for an unknown tier, :class:`StorageMoveRefused`
    when the tenant is not ready or is moving, and :class:`QuotaExceeded` when the tenant
    holds more vectors than the new tier allows. Side effects: updates the tenant row, queues
    ``tenants.tasks.apply_tenant_tier``.
    """
    from search.vector_store import get_vector_store, storage_target
    from tenants.tasks import apply_tenant_tier

    new_tier = get_tier(tier)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.status != Tenant.Status.READY or locked.is_storage_moving:
            raise StorageMoveRefused(
                f"Tenant {locked.slug} is {locked.status}"
                f"{' and moving its storage' if locked.is_storage_moving else ''}; change the "
                "tier once it is ready and no move runs.",
            )
        if locked.tier == new_tier.name:
            return locked
        vectors = get_vector_store().count(storage_target(locked))
        if vectors > new_tier.max_vectors:
            raise QuotaExceeded(
                f"Tenant {locked.slug} stores {vectors} vectors but the {new_tier.label} tier "
                f"allows {new_tier.max_vectors} (quota max_vectors); delete repositories first "
                "or pick a larger tier.",
                code="quota_vectors",
                status_code=409,
            )
        previous = locked.tier
        locked.tier = new_tier.name
        locked.save(update_fields=["tier"])
        transaction.on_commit(lambda: apply_tenant_tier.delay(locked.pk))
    logger.info(
        "tenants.tier.changed",
        extra={"tenant_id": locked.pk, "from_tier": previous, "to_tier": new_tier.name},
    )
    return locked


def _begin_move(tenant: Tenant, *, to_dedicated: bool) -> None:
    """Mark the move in progress, or raise :class:`StorageMoveRefused` saying why not."""
    target_mode = Tenant.IsolationMode.DEDICATED if to_dedicated else Tenant.IsolationMode.SHARED
    with transaction.atomic():
        # The row lock orders this against search.services.indexing.start_index_job, which
        # locks the same row: either the job exists before the flag is set (and is found
        # below), or the job sees the flag and refuses to start.
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.status != Tenant.Status.READY:
            raise StorageMoveRefused(
                f"Tenant {locked.slug} is {locked.status}; only ready tenants can move storage."
            )
        if locked.is_storage_moving:
            raise StorageMoveRefused(
                f"Tenant {locked.slug} is already moving to {locked.storage_moving_to} "
                "storage; wait for that move to finish."
            )
        if locked.isolation_mode == target_mode:
            raise StorageMoveRefused(
                f"Tenant {locked.slug} already uses {target_mode} storage; nothing to move."
            )
        locked.storage_moving_to = target_mode
        locked.storage_move_error = ""
        locked.save(update_fields=["storage_moving_to", "storage_move_error"])

    active = _active_index_jobs(locked)
    if active:
        Tenant.objects.filter(pk=tenant.pk).update(storage_moving_to="")
        raise StorageMoveRefused(
            f"Tenant {locked.slug} has index job(s) {', '.join(map(str, active))} queued or "
            "running; move its storage after they finish.",
            data={"job_ids": active},
        )
    tenant.storage_moving_to = target_mode
    tenant.storage_move_error = ""


def _active_index_jobs(tenant: Tenant) -> list[int]:
    from search.models import IndexJob

    with schema_context(tenant.schema_name):
        return list(
            IndexJob.objects.filter(
                status__in=[IndexJob.Status.QUEUED, IndexJob.Status.RUNNING]
            ).values_list("pk", flat=True)
        )


def _copy_points(
    store: VectorStore, old: StorageTarget, new: StorageTarget, *, new_settings: StorageSettings
) -> tuple[int, list[str]]:
    """Copy every point of ``old`` into a fresh ``new``; return the count and sampled ids."""
    # Points left in the new place by an earlier abandoned move would survive as duplicates
    # of re-indexed chunks, so the copy always starts from nothing.
    store.drop_tenant_copy(new)
    store.ensure_tenant_storage(new, new_settings)
    total = store.count(old)
    # Every n-th point lands in the sample, so it spreads over the whole export.
    every = max(1, total // VERIFY_SAMPLE_SIZE)
    copied = 0
    sample: list[str] = []
    offset: str | None = None
    while True:
        page = store.scroll(old, offset=offset, limit=COPY_BATCH_POINTS)
        store.upsert(new, page.points)
        for index, point in enumerate(page.points, start=copied):
            if index % every == 0 and len(sample) < VERIFY_SAMPLE_SIZE:
                sample.append(point.id)
        copied += len(page.points)
        if getattr(settings, FAULT_INJECTION_SETTING, None) == "copy":
            raise StorageMoveFailed(f"injected failure after copying {copied} point(s)")
        if page.next_offset is None:
            break
        offset = page.next_offset
    store.optimize(new)
    return copied, sample


def _verify_copy(
    store: VectorStore, old: StorageTarget, new: StorageTarget, *, copied: int, sample: list[str]
) -> None:
    """Raise :class:`StorageMoveFailed` unless ``new`` holds what ``old`` holds."""
    old_count, new_count = store.count(old), store.count(new)
    if getattr(settings, FAULT_INJECTION_SETTING, None) == "verify":
        new_count += 1
    if not old_count == new_count == copied:
        raise StorageMoveFailed(
            f"the copy holds {new_count} point(s), the old storage {old_count} and the export "
            f"{copied}; something wrote to the tenant's storage during the move"
        )
    page = store.scroll(new, chunk_ids=sample, limit=len(sample) or 1)
    missing = sorted(set(sample) - {point.id for point in page.points})
    if missing:
        raise StorageMoveFailed(
            f"{len(missing)} of {len(sample)} sampled chunk(s) are missing from the copy, "
            f"e.g. {missing[0]!r}"
        )


def _switch_isolation_mode(tenant: Tenant, *, to_dedicated: bool) -> None:
    """Point reads at the new copy: one row update, seen by every request loaded after it."""
    mode = Tenant.IsolationMode.DEDICATED if to_dedicated else Tenant.IsolationMode.SHARED
    now = timezone.now()
    Tenant.objects.filter(pk=tenant.pk).update(
        isolation_mode=mode, storage_moving_to="", storage_move_error="", storage_moved_at=now
    )
    tenant.isolation_mode = mode
    tenant.storage_moving_to = ""
    tenant.storage_move_error = ""
    tenant.storage_moved_at = now


def _remove_old_copy(tenant: Tenant, store: VectorStore, old: StorageTarget) -> None:
    # The switch has happened: a failure here leaves unread points behind, not a broken
    # tenant, and the next move into that place clears them first (see _copy_points).
    try:
        store.drop_tenant_copy(old)
    except Exception as exc:
        logger.exception("tenants.storage_move.old_copy_left", extra={"tenant_id": tenant.pk})
        detail = f"The old copy could not be removed ({exc}); it is not read. Delete it later."
        Tenant.objects.filter(pk=tenant.pk).update(storage_move_error=detail[:2000])
        tenant.storage_move_error = detail[:2000]


def _abandon_move(tenant: Tenant, store: VectorStore, new: StorageTarget, exc: Exception) -> None:
    """Remove the partial copy and clear the in-progress mark, keeping the reason."""
    detail = f"{exc.__class__.__name__}: {exc}"[:2000]
    try:
        store.drop_tenant_copy(new)
    except Exception:
        logger.exception("tenants.storage_move.cleanup_failed", extra={"tenant_id": tenant.pk})
        detail = f"{detail} (the partial copy could not be removed either; it is not read)"
    Tenant.objects.filter(pk=tenant.pk).update(storage_moving_to="", storage_move_error=detail)
    tenant.storage_moving_to = ""
    tenant.storage_move_error = detail
    logger.error(
        "tenants.storage_move.failed",
        extra={"tenant_id": tenant.pk, "to_dedicated": new.dedicated},
    )
