"""Request and task context stamped on every log record.

The tenant middleware and the Celery task base call :func:`bind` at the start of a request or
task and :func:`clear` at its end, so a record always names the tenant it was written for and
context never carries over to the next request served by the same thread.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "portal_log_context", default=None
)

CONTEXT_FIELDS = ("tenant", "request_id", "task_id")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", *CONTEXT_FIELDS}


def bind(**values: Any) -> None:
    """Add values to the current context (tenant, request_id, task_id)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in values.items() if v is not None})
    _context.set(current)


def clear() -> None:
    _context.set(None)


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for field in CONTEXT_FIELDS:
            setattr(record, field, context.get(field, "-"))
        return True


class ContextFormatter(logging.Formatter):
    """One line per record: time, level, logger, event, context, then the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS}
        context = " ".join(f"{field}={getattr(record, field, '-')}" for field in CONTEXT_FIELDS)
        line = (
            f"{self.formatTime(record)} {record.levelname} {record.name} "
            f"{record.getMessage()} [{context}]"
        )
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
