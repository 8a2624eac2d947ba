"""Run a request's bookkeeping writes after its response has been handed to the client.

A search answers from the vector store, but then also logs itself, counts itself and fills
the shared cache: three round trips (PostgreSQL, two to Redis) that the client does not need
to wait for. :func:`defer` queues such a write for the current request; Django sends
``request_finished`` when the WSGI server closes the response, after the body has been
written, and the queue runs then, in the same thread, on the same database connection and
with the same tenant. Outside a request (Celery tasks, management commands, benchmarks,
services called directly in tests) there is no response to wait for and :func:`defer` runs
the call at once, so callers never see a write go missing.

The trade-offs: a write that fails is logged, never raised (the client already has its
answer), and a worker thread is busy for those few milliseconds after the response. A
process that dies between response and close loses that request's queued writes, as it
would have lost the request itself a moment earlier.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.core.signals import request_finished, request_started

logger = logging.getLogger(__name__)


class _RequestState(threading.local):
    def __init__(self) -> None:
        self.active = False
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []


_state = _RequestState()


def defer(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call ``func(*args, **kwargs)`` after the current response; at once outside a request.

    The call must carry everything it needs (tenant schema included): it runs after the
    view has returned. Exceptions are logged, never raised, whether deferred or not.
    """
    if _state.active:
        _state.pending.append((func, args, kwargs))
        return
    _run(func, args, kwargs)


def run_pending() -> int:
    """Run and forget this thread's queued calls, in the order queued; return how many ran."""
    ran = 0
    while _state.pending:
        pending, _state.pending = _state.pending, []
        for func, args, kwargs in pending:
            _run(func, args, kwargs)
            ran += 1
    return ran


@contextlib.contextmanager
def response_scope() -> Iterator[None]:
    """Treat the block as a request: calls deferred inside it run when it exits.

    The request signals do this for real requests; benchmarks and tests use it to separate
    the time to the answer from the writes that follow it.
    """
    outer = _state.active
    _state.active = True
    try:
        yield
    finally:
        _state.active = outer
        if not outer:
            run_pending()


def _run(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        func(*args, **kwargs)
    except Exception:
        logger.exception(
            "portal.after_response.failed",
            extra={"callable": getattr(func, "__qualname__", repr(func))},
        )


def _request_started(**_: Any) -> None:
    # Calls left by a request that never closed (its signal was not sent) still run: each
    # carries its own tenant, so running them now is correct, only late.
    run_pending()
    _state.active = True


def _request_finished(**_: Any) -> None:
    _state.active = False
    run_pending()


request_started.connect(_request_started, dispatch_uid="portal.after_response.started")
request_finished.connect(_request_finished, dispatch_uid="portal.after_response.finished")
