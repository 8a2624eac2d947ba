"""Tell the recorder when this process is a Celery worker, and sample it after each task."""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun, worker_init, worker_process_init

from capacity.recording import sample_process, set_process_role


@worker_init.connect
@worker_process_init.connect
def _mark_worker(**_: Any) -> None:
    set_process_role("worker")


@task_postrun.connect
def _sample_after_task(**_: Any) -> None:
    # Throttled inside; a worker that runs no task records nothing, and uses no CPU either.
    sample_process()
