"""Planner coefficients fitted from measurements, each saying where its value came from.

A coefficient is ``measured`` (with the sample size behind it) when enough real minutes or
repositories exist, and otherwise a ``default`` with the reason and the source of the number.
Generated demo history is never used here: a fit on invented data would look authoritative.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from capacity.models import ProcessRollup
from capacity.selectors import (
    Scope,
    cpu_samples,
    minute_burst_ratio,
    process_footprint,
    scope_storage,
)

logger = logging.getLogger(__name__)

MEASURED = "measured"
DEFAULT = "default"
# A per-operation cost needs this many active minutes before a regression is trusted.
MIN_SEARCH_MINUTES = 10
MIN_INDEX_MINUTES = 3
BYTES_PER_MB = 1_000_000
FIT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Coefficient:
    key: str
    label: str
    value: float
    unit: str
    origin: str  # MEASURED or DEFAULT
    sample_size: int
    detail: str


@dataclass(frozen=True)
class Coefficients:
    cpu_seconds_per_search: Coefficient
    cpu_seconds_per_chunk: Coefficient
    vectors_per_mb: Coefficient
    mb_per_repository: Coefficient
    process_memory_bytes: Coefficient
    cpu_cores_per_user: Coefficient
    memory_bytes_per_user: Coefficient
    system_overhead: Coefficient
    ha_factor: Coefficient
    target_utilisation: Coefficient

    def as_list(self) -> list[Coefficient]:
        return [getattr(self, name) for name in self.__dataclass_fields__]


def _default(key: str, label: str, value: float, unit: str, detail: str) -> Coefficient:
    return Coefficient(key, label, value, unit, DEFAULT, 0, detail)


def fit_cpu_costs(
    samples: list[tuple[float, int, int]],
) -> tuple[float | None, float | None, int, int]:
    """Fit cpu = base + a * searches + b * chunks per minute by least squares.

    Return (a, b, search minutes, index minutes); a or b is None when too few minutes had
    that activity. A negative slope means the activity is lost in noise; it is then left
    out and the rest refitted, so a cost is never negative.
    """
    cpu = np.array([s[0] for s in samples], dtype=float)
    load = {
        "search": np.array([s[1] for s in samples], dtype=float),
        "chunk": np.array([s[2] for s in samples], dtype=float),
    }
    minutes = {"search": int((load["search"] > 0).sum()), "chunk": int((load["chunk"] > 0).sum())}
    needed = {"search": MIN_SEARCH_MINUTES, "chunk": MIN_INDEX_MINUTES}
    active = [name for name in ("search", "chunk") if minutes[name] >= needed[name]]
    slopes: dict[str, float] = {}
    while active:
        design = np.column_stack([np.ones_like(cpu), *(load[name] for name in active)])
        coef, *_ = np.linalg.lstsq(design, cpu, rcond=None)
        fitted = dict(zip(active, coef[1:], strict=True))
        negative = [name for name, value in fitted.items() if value < 0]
        if not negative:
            slopes = {name: float(value) for name, value in fitted.items()}
            break
        active = [name for name in active if name not in negative]
    return slopes.get("search"), slopes.get("chunk"), minutes["search"], minutes["chunk"]


def fitted_coefficients(scope: Scope, *, now: datetime | None = None) -> Coefficients:
    """Return the planner coefficients for the scope, measured where evidence allows.

    Reads process CPU samples and activity of the last week (platform-wide: CPU is not
    attributable per tenant) and the scope's repositories.
    """
    now = now or timezone.now()
    since = now - FIT_WINDOW
    samples = [(s.cpu_seconds, s.searches, s.chunks) for s in cpu_samples(since=since)]
    per_search, per_chunk, search_minutes, index_minutes = fit_cpu_costs(samples)
    return Coefficients(
        cpu_seconds_per_search=_search_cost(per_search, search_minutes),
        cpu_seconds_per_chunk=_chunk_cost(per_chunk, index_minutes),
        **_code_shape(scope),
        process_memory_bytes=_process_memory(since),
        cpu_cores_per_user=_default(
            "cpu_cores_per_user",
            "CPU per active user",
            0.002,
            "cores",
            "Sessions and permission checks; too small to separate from search load in "
            "process samples, so a fixed allowance.",
        ),
        memory_bytes_per_user=_default(
            "memory_bytes_per_user",
            "Memory per active user",
            8 * 1024 * 1024,
            "bytes",
            "Session, membership and per-user cache entries; a fixed allowance.",
        ),
        system_overhead=_default(
            "system_overhead",
            "System overhead",
            0.25,
            "fraction",
            "Kubelet, OS, log shipping and the vector store's own threads on each node.",
        ),
        ha_factor=_default(
            "ha_factor",
            "High-availability factor",
            2.0,
            "copies",
            "Two copies of every serving component so one node can fail (Team tier runs "
            "2 replicas with a disruption budget).",
        ),
        target_utilisation=_target_utilisation(scope, since),
    )


def _search_cost(value: float | None, minutes: int) -> Coefficient:
    if value is not None:
        return Coefficient(
            "cpu_seconds_per_search",
            "CPU per search",
            value,
            "core-seconds",
            MEASURED,
            minutes,
            f"Least-squares fit of process CPU against searches over {minutes} active minutes.",
        )
    return _default(
        "cpu_seconds_per_search",
        "CPU per search",
        0.05,
        "core-seconds",
        f"Only {minutes} minutes with searches and CPU samples (need {MIN_SEARCH_MINUTES}); "
        "one query embedding with MiniLM plus hybrid retrieval costs about this much.",
    )


def _chunk_cost(value: float | None, minutes: int) -> Coefficient:
    if value is not None:
        return Coefficient(
            "cpu_seconds_per_chunk",
            "CPU per indexed chunk",
            value,
            "core-seconds",
            MEASURED,
            minutes,
            f"Least-squares fit of process CPU against indexed chunks over {minutes} minutes.",
        )
    return _default(
        "cpu_seconds_per_chunk",
        "CPU per indexed chunk",
        0.075,
        "core-seconds",
        f"Only {minutes} minutes with indexing and CPU samples (need {MIN_INDEX_MINUTES}); "
        "PLATFORM.md measured 26.8 embeddings/s on 2 cores.",
    )


def _code_shape(scope: Scope) -> dict[str, Coefficient]:
    storages = [storage for _, storage in scope_storage(scope)]
    vectors = sum(s.vectors for s in storages)
    source_bytes = sum(s.source_bytes for s in storages)
    repositories = sum(s.repositories for s in storages)
    if vectors and source_bytes:
        per_mb = Coefficient(
            "vectors_per_mb",
            "Vectors per MB of code",
            vectors / (source_bytes / BYTES_PER_MB),
            "vectors/MB",
            MEASURED,
            repositories,
            f"{vectors} chunks from {source_bytes} bytes of indexed code in {scope.label}.",
        )
    else:
        per_mb = _default(
            "vectors_per_mb",
            "Vectors per MB of code",
            1000.0,
            "vectors/MB",
            f"No indexed code in {scope.label} yet; function-sized chunks average ~1 KB.",
        )
    if repositories and source_bytes:
        size = Coefficient(
            "mb_per_repository",
            "Code per repository",
            source_bytes / BYTES_PER_MB / repositories,
            "MB",
            MEASURED,
            repositories,
            f"Mean indexed size of {repositories} repositories in {scope.label}.",
        )
    else:
        size = _default(
            "mb_per_repository",
            "Code per repository",
            20.0,
            "MB",
            f"No indexed repositories in {scope.label} yet; a mid-sized service is ~20 MB.",
        )
    return {"vectors_per_mb": per_mb, "mb_per_repository": size}


def _process_memory(since: datetime) -> Coefficient:
    footprint = process_footprint(ProcessRollup.Role.WEB, since=since)
    if footprint is not None:
        return Coefficient(
            "process_memory_bytes",
            "Memory per web process",
            footprint.memory_p99,
            "bytes",
            MEASURED,
            footprint.samples,
            f"p99 of resident memory over {footprint.samples} measured minutes.",
        )
    return _default(
        "process_memory_bytes",
        "Memory per web process",
        512 * 1024 * 1024,
        "bytes",
        "No process samples yet; Django with the embedding model loaded uses ~500 MB.",
    )


def _target_utilisation(scope: Scope, since: datetime) -> Coefficient:
    burst = minute_burst_ratio(scope, since=since)
    if burst is not None:
        ratio, minutes = burst
        value = min(0.85, max(0.5, 1 / ratio)) if ratio > 0 else 0.85
        return Coefficient(
            "target_utilisation",
            "Autoscaler target utilisation",
            value,
            "fraction",
            MEASURED,
            minutes,
            f"1 / p99 minute burst ({ratio:.2f}x the hourly mean) over {minutes} minutes, "
            "kept within 0.5-0.85.",
        )
    return _default(
        "target_utilisation",
        "Autoscaler target utilisation",
        0.7,
        "fraction",
        "Fewer than 30 measured minutes with traffic; 30% headroom covers a replica start.",
    )
