"""Record measurements from the request path and from workers, cheaply.

Search and indexing code call these through the two decorators at the bottom, so the hook in
their modules is one line each. Each record is a single pipelined Redis round trip; nothing
here touches PostgreSQL, which the flush task (:mod:`capacity.services.rollups`) does once a
minute. Failures never propagate: a search must answer even when measurement cannot.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import psutil
from django.db import connection
from django.utils import timezone

from capacity import counters
from capacity.conf import capacity_setting
from capacity.histogram import bucket_index

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# A response's size on the wire is measured as the JSON of its results; this fixed part
# covers the envelope (query, type, timing) that every response carries.
RESPONSE_ENVELOPE_BYTES = 200

_process_lock = threading.Lock()
_process_state: dict[str, Any] = {"role": "web", "last_cpu": None, "last_at": 0.0}


def set_process_role(role: str) -> None:
    """Mark this process as a ``web`` or ``worker`` process for its CPU and memory samples."""
    _process_state["role"] = role


def _tenant_id() -> int | None:
    tenant = getattr(connection, "tenant", None)
    if tenant is None or getattr(tenant, "schema_name", "public") == "public":
        return None
    return int(tenant.pk)


def record_search(
    tenant_id: int,
    *,
    took_ms: float,
    cache_level: str,
    result_count: int,
    response_bytes: int,
    is_error: bool = False,
    at: datetime | None = None,
) -> bool:
    """Count one search (or one failed search) for the tenant; return False when dropped.

    Side effects: one Redis MULTI; at most one process sample every few seconds.
    """
    at = at or timezone.now()
    increments = {"req": 1, f"h{bucket_index(took_ms)}": 1}
    if is_error:
        increments["err"] = 1
    else:
        level = cache_level if cache_level in ("l1", "l2") else "miss"
        increments[level] = 1
        increments["res"] = result_count
        increments["bytes"] = response_bytes
    written = counters.write_usage(
        tenant_id, at, increments=increments, float_increments={"lat_ms": took_ms}
    )
    sample_process(at=at)
    return written


def record_index_job(
    tenant_id: int,
    *,
    files: int,
    chunks: int,
    embed_seconds: float,
    elapsed_seconds: float,
    is_failed: bool,
    vectors: int | None,
    stored_bytes: int | None,
    at: datetime | None = None,
) -> bool:
    """Count one finished index job and record the tenant's vector and storage gauges."""
    at = at or timezone.now()
    gauges = {}
    if vectors is not None:
        gauges["vectors"] = vectors
    if stored_bytes is not None:
        gauges["stored_bytes"] = stored_bytes
    written = counters.write_usage(
        tenant_id,
        at,
        increments={
            "jobs": 1,
            "jobs_failed": int(is_failed),
            "files": files,
            "chunks": chunks,
        },
        float_increments={"embed_s": embed_seconds, "index_s": elapsed_seconds},
        gauges=gauges,
    )
    sample_process(at=at)
    return written


def record_storage(tenant_id: int, *, vectors: int, stored_bytes: int, at: datetime) -> bool:
    """Record the tenant's vector and storage gauges for the minute of ``at``."""
    return counters.write_usage(
        tenant_id,
        at,
        increments={},
        gauges={"vectors": vectors, "stored_bytes": stored_bytes},
        with_totals=False,
    )


def sample_process(*, at: datetime | None = None, force: bool = False) -> bool:
    """Add this process's CPU time since its last sample and its resident memory.

    Throttled to one sample per ``PROCESS_SAMPLE_SECONDS`` unless ``force``; CPU used between
    samples is attributed to the minute of the later sample. Return whether one was written.
    """
    now = time.monotonic()
    with _process_lock:
        if not force and now - _process_state["last_at"] < capacity_setting(
            "PROCESS_SAMPLE_SECONDS"
        ):
            return False
        process = psutil.Process()
        times = process.cpu_times()
        cpu = times.user + times.system
        last = _process_state["last_cpu"]
        _process_state["last_cpu"] = cpu
        _process_state["last_at"] = now
        rss = process.memory_info().rss
    delta_us = 0 if last is None else max(0, int((cpu - last) * 1_000_000))
    return counters.write_process_sample(
        _process_state["role"],
        f"{socket.gethostname()}:{os.getpid()}",
        at or timezone.now(),
        cpu_microseconds=delta_us,
        rss_bytes=rss,
    )


def _response_bytes(response: Any) -> int:
    size = RESPONSE_ENVELOPE_BYTES
    for result in getattr(response, "results", []):
        size += len(getattr(result, "snippet", "")) + len(getattr(result, "path", "")) + 120
    return size


def measured_search(func: F) -> F:
    """Decorate ``search_code``: record each call's latency, cache level, results or error.

    Calls with ``record=False`` (warming) are not user traffic and are not counted.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenant_id = _tenant_id()
        if tenant_id is None or not kwargs.get("record", True):
            return func(*args, **kwargs)
        started = time.perf_counter()
        try:
            response = func(*args, **kwargs)
        except Exception:
            _safely(
                record_search,
                tenant_id,
                took_ms=(time.perf_counter() - started) * 1000,
                cache_level="miss",
                result_count=0,
                response_bytes=0,
                is_error=True,
            )
            raise
        _safely(
            record_search,
            tenant_id,
            took_ms=float(response.took_ms),
            cache_level=str(response.cache),
            result_count=len(response.results),
            response_bytes=_response_bytes(response),
        )
        return response

    return wrapper  # type: ignore[return-value]


def measured_index_job(func: F) -> F:
    """Decorate ``run_index_job``: record files, chunks, embedding and elapsed seconds."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        job = func(*args, **kwargs)
        tenant_id = _tenant_id()
        if job is not None and tenant_id is not None:
            _safely(_record_finished_job, tenant_id, job)
        return job

    return wrapper  # type: ignore[return-value]


def _record_finished_job(tenant_id: int, job: Any) -> None:
    from capacity.storage import current_tenant_storage

    storage = current_tenant_storage()
    record_index_job(
        tenant_id,
        files=job.files_indexed,
        chunks=job.chunks_indexed,
        embed_seconds=float(job.embed_seconds),
        elapsed_seconds=float(job.elapsed_seconds or 0.0),
        is_failed=job.status == "failed",
        vectors=storage.vectors,
        stored_bytes=storage.stored_bytes,
    )


def _safely(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    # Measurement is advisory: a bug here must cost a data point, never the caller's request.
    try:
        func(*args, **kwargs)
    except Exception:
        logger.exception("capacity.recording.failed")
