"""Plans a tenant can be on, with their quotas and search-storage settings."""

from __future__ import annotations

from dataclasses import dataclass

from tenants.exceptions import UnknownTier


@dataclass(frozen=True)
class Tier:
    name: str
    label: str
    max_repositories: int
    max_indexed_files: int
    max_vectors: int
    search_requests_per_minute: int
    concurrent_index_jobs: int
    # Dedicated storage (its own collection or shard) instead of a partition of the shared one.
    is_dedicated_storage: bool
    hnsw_m: int
    hnsw_ef_construct: int
    is_int8_quantized: bool
    is_on_disk: bool


TIERS: dict[str, Tier] = {
    "free": Tier(
        name="free",
        label="Free",
        max_repositories=3,
        max_indexed_files=5_000,
        max_vectors=50_000,
        search_requests_per_minute=60,
        concurrent_index_jobs=1,
        is_dedicated_storage=False,
        hnsw_m=16,
        hnsw_ef_construct=100,
        is_int8_quantized=False,
        is_on_disk=False,
    ),
    "team": Tier(
        name="team",
        label="Team",
        max_repositories=50,
        max_indexed_files=100_000,
        max_vectors=1_000_000,
        search_requests_per_minute=600,
        concurrent_index_jobs=2,
        is_dedicated_storage=False,
        hnsw_m=16,
        hnsw_ef_construct=128,
        is_int8_quantized=True,
        is_on_disk=False,
    ),
    "enterprise": Tier(
        name="enterprise",
        label="Enterprise",
        max_repositories=1_000,
        max_indexed_files=5_000_000,
        max_vectors=50_000_000,
        search_requests_per_minute=6_000,
        concurrent_index_jobs=8,
        is_dedicated_storage=True,
        hnsw_m=32,
        hnsw_ef_construct=200,
        is_int8_quantized=True,
        is_on_disk=True,
    ),
}

DEFAULT_TIER = "free"
TIER_CHOICES = [(tier.name, tier.label) for tier in TIERS.values()]


def get_tier(name: str) -> Tier:
    try:
        return TIERS[name]
    except KeyError:
        raise UnknownTier(
            f"Unknown tier {name!r}; choose one of: {', '.join(TIERS)}.", field="tier"
        ) from None
