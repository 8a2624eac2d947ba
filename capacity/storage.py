"""Read a tenant's vectors and stored bytes from the search app's own records.

The chunk counts of ``IndexedFile`` are the vectors the index jobs stored (one point per
chunk), so no vector-store round trip is needed; stored bytes add the chunk text kept as
payload to the vectors' disk size for the tenant's tier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum
from django_tenants.utils import tenant_context

from capacity.vector_sizing import vector_cost
from tenants.tiers import get_tier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantStorage:
    vectors: int
    source_bytes: int
    stored_bytes: int
    repositories: int


def current_tenant_storage() -> TenantStorage:
    """Return the storage of the tenant whose schema the connection is in (reads only)."""
    from search.models import IndexedFile, Repository

    totals = IndexedFile.objects.aggregate(chunks=Sum("chunk_count"), size=Sum("size_bytes"))
    vectors = int(totals["chunks"] or 0)
    source_bytes = int(totals["size"] or 0)
    tier = get_tier(connection.tenant.tier)
    cost = vector_cost(hnsw_m=tier.hnsw_m, int8=tier.is_int8_quantized)
    return TenantStorage(
        vectors=vectors,
        source_bytes=source_bytes,
        stored_bytes=source_bytes + vectors * cost.disk_bytes,
        repositories=Repository.objects.count(),
    )


def tenant_storage(tenant: object) -> TenantStorage:
    """Return one tenant's storage, switching to its schema for the reads."""
    with tenant_context(tenant):
        return current_tenant_storage()
