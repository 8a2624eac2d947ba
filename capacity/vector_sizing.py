"""Bytes a vector costs in memory and on disk, for the planner, showback and storage gauges.

The figures follow Qdrant's sizing guidance: a float32 vector costs 4 bytes per dimension, an
int8 scalar-quantized copy 1 byte per dimension, and the HNSW graph keeps about ``2 * m``
neighbour ids of 4 bytes on layer 0 (upper layers add little).
"""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDING_DIMS = 384  # all-MiniLM-L6-v2, the default embedding model
FLOAT32_BYTES = 4
INT8_BYTES = 1
LINK_ID_BYTES = 4
# Measured by Qdrant users for an empty collection (qdrant/qdrant#2001, case C06).
COLLECTION_OVERHEAD_BYTES = 10 * 1024 * 1024
# Qdrant Cloud refuses more collections than this; memory grows with the count (case C06).
COLLECTION_LIMIT = 1000


@dataclass(frozen=True)
class VectorCost:
    """Per-vector memory (what stays in RAM) and disk bytes."""

    memory_bytes: int
    disk_bytes: int
    links_bytes: int


def hnsw_links_bytes(hnsw_m: int) -> int:
    return hnsw_m * 2 * LINK_ID_BYTES


def vector_cost(*, dims: int = EMBEDDING_DIMS, hnsw_m: int = 16, int8: bool = False) -> VectorCost:
    """Return what one vector costs.

    With int8 quantization RAM holds the 1-byte copy plus the graph, and the float32
    original stays on disk for rescoring; without it RAM holds the float32 vector.
    """
    links = hnsw_links_bytes(hnsw_m)
    float_bytes = dims * FLOAT32_BYTES
    if int8:
        return VectorCost(
            memory_bytes=dims * INT8_BYTES + links,
            disk_bytes=float_bytes + dims * INT8_BYTES + links,
            links_bytes=links,
        )
    return VectorCost(
        memory_bytes=float_bytes + links, disk_bytes=float_bytes + links, links_bytes=links
    )
