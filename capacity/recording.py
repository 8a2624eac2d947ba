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
from portal import after_response
from portal.exceptions import PortalError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# A response's size on the wire is measured as the JSON of its results; this fixed part
# covers the envelope (query, type, timing) that every response carries.
RESPONSE_ENVELOPE_BYTES = 200

_process_lock = threading.Lock()
_process_state: dict[str, Any] = {"role": "web", "last_cpu": None, "last_at": 0.0}

# (tenant id, job id) -> (files, chunks) of a running job already counted by this process.
_progress_lock = threading.Lock()
_job_progress: dict[tuple[int, int], tuple[int, int]] = {}


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
        if result_count == 0:
            increments["zero"] = 1
        increments["bytes"] = response_bytes
    written = counters.write_usage(
        tenant_id, at, increments=increments, float_increments={"lat_ms": took_ms}
    )
    sample_process(at=at)
    return written


def record_rejected_search(tenant_id: int, *, at: datetime | None = None) -> bool:
    """Count one search refused for its input (bad query syntax, unknown ``lang:``).

    Only the cumulative ``rejected`` total is exported (``portal_search_rejected_total``);
    the per-minute rollups have no column for it, and the flush ignores the field. It is not
    a request the service answered, so it adds nothing to requests, errors or latency.
    """
    return counters.write_usage(tenant_id, at or timezone.now(), increments={"rejected": 1})


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
    """Count one finished index job and record the tenant's vector and storage gauges.

    ``files`` and ``chunks`` are the job's work not already counted by
    :func:`record_index_progress` while it ran.
    """
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


def record_index_progress(job: Any, *, at: datetime | None = None) -> bool:
    """Count the files and chunks a running index job indexed since it was last counted.

    Called whenever the job saves its progress, so throughput lands in the minutes the work
    happened. The first call for a job in this process only notes its totals: a resumed job's
    earlier work was counted by the run that did it. The finished-job record adds whatever
    is left, so a job's counted chunks add up to its ``chunks_indexed``. Return False when
    nothing was written (first call, no new work, current schema is public, Redis down).
    """
    tenant_id = _tenant_id()
    if tenant_id is None:
        return False
    totals = (int(job.files_indexed), int(job.chunks_indexed))
    with _progress_lock:
        counted = _job_progress.setdefault((tenant_id, job.pk), totals)
        _job_progress[(tenant_id, job.pk)] = totals
    files, chunks = totals[0] - counted[0], totals[1] - counted[1]
    if files <= 0 and chunks <= 0:
        return False
    return counters.write_usage(
        tenant_id, at or timezone.now(), increments={"files": files, "chunks": chunks}
    )


def _take_counted_progress(tenant_id: int | None, job_id: Any) -> tuple[int, int] | None:
    """Forget a job's progress counted so far and return it (None when never counted)."""
    if tenant_id is None:
        return None
    with _progress_lock:
        return _job_progress.pop((tenant_id, job_id), None)


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


def _is_rejected_input(exc: Exception) -> bool:
    # A PortalError below 500 is the caller's mistake (QueryInvalid is 400): the service
    # worked. 5xx PortalErrors (ServiceUnavailable) and any other exception are failures.
    return isinstance(exc, PortalError) and exc.status_code < 500


def measured_search(func: F) -> F:
    """Decorate ``search_code``: record each call's latency, cache level, results or error.

    What counts as an error: only failures of the service, the 5xx class (the vector store
    or Redis unavailable, any unexpected exception); they add to requests, errors
    (``portal_search_errors_total``, the error-rate chart) and latency. A search refused for
    its input (a 4xx :class:`PortalError` such as bad query syntax or ``lang:klingon``) is
    not an error of the service and not a served request: it is only counted as
    ``rejected`` (:func:`record_rejected_search`), so user typos cannot raise the error rate.

    Calls with ``record=False`` (warming) are not user traffic and are not counted. Inside a
    request the record is written after the response has been sent (see
    :mod:`portal.after_response`): its Redis round trip is not part of the search's latency.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenant_id = _tenant_id()
        if tenant_id is None or not kwargs.get("record", True):
            return func(*args, **kwargs)
        started = time.perf_counter()
        try:
            response = func(*args, **kwargs)
        except Exception as exc:
            if _is_rejected_input(exc):
                after_response.defer(_safely, record_rejected_search, tenant_id)
                raise
            after_response.defer(
                _safely,
                record_search,
                tenant_id,
                took_ms=(time.perf_counter() - started) * 1000,
                cache_level="miss",
                result_count=0,
                response_bytes=0,
                is_error=True,
            )
            raise
        after_response.defer(
            _safely,
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
    """Decorate ``run_index_job(job_id, ...)``: record the finished job, its embedding and
    elapsed seconds, and the files and chunks not yet counted by its progress records."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenant_id = _tenant_id()
        job_id = kwargs["job_id"] if "job_id" in kwargs else (args[0] if args else None)
        try:
            job = func(*args, **kwargs)
        finally:
            counted = _take_counted_progress(tenant_id, job_id)
        if job is not None and tenant_id is not None:
            _safely(_record_finished_job, tenant_id, job, counted=counted or (0, 0))
        return job

    return wrapper  # type: ignore[return-value]


def _record_finished_job(tenant_id: int, job: Any, *, counted: tuple[int, int]) -> None:
    from capacity.storage import current_tenant_storage

    storage = current_tenant_storage()
    record_index_job(
        tenant_id,
        files=max(0, job.files_indexed - counted[0]),
        chunks=max(0, job.chunks_indexed - counted[1]),
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
