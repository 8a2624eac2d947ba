"""One ``script/server`` per data folder.

Two supervisors on one ``var/`` folder share the embedded PostgreSQL, Redis and vector store,
and the second one's shutdown stops the servers under the first. So the supervisor takes an
exclusive ``flock`` on ``var/run/supervisor.lock`` before it does anything else. The kernel
drops the lock when the process dies, however it dies, so a file left by a crashed supervisor
never blocks the next start. The file also records who holds the lock (pid, port) for the
refusal message, and which embedded servers that supervisor started, so a successor can stop
servers a crashed supervisor left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK_FILE_NAME = "supervisor.lock"


class PortalAlreadyRunning(RuntimeError):
    """Another supervisor holds the lock of this data folder."""

    def __init__(self, var_dir: Path, holder: dict[str, Any]) -> None:
        pid = holder.get("pid")
        port = holder.get("port")
        if isinstance(pid, int) and isinstance(port, int):
            message = (
                f"The portal is already running from this folder ({var_dir}) "
                f"(supervisor pid {pid}, http://localhost:{port}). Stop it with Ctrl-C in its "
                f"terminal (or `kill -INT {pid}`), or give this one its own PORTAL_VAR_DIR."
            )
        else:
            # The holder took the lock but has not written its pid yet (it is just starting).
            message = (
                f"The portal is already starting from this folder ({var_dir}). Stop it with "
                "Ctrl-C in its terminal, or give this one its own PORTAL_VAR_DIR."
            )
        super().__init__(message)
        self.holder = holder


@dataclass
class SupervisorLock:
    """The held lock; ``previous`` is what the last holder wrote (empty on a first start)."""

    path: Path
    fd: int
    previous: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def acquire(cls, var_dir: Path, *, port: int) -> SupervisorLock:
        """Take the lock of ``var_dir`` or raise :class:`PortalAlreadyRunning` at once.

        Creates ``var_dir/run`` and the lock file if missing; writes nothing else.
        """
        run_dir = var_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / LOCK_FILE_NAME
        # os.open gives a non-inheritable descriptor, so children never hold the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record(fd)
            os.close(fd)
            raise PortalAlreadyRunning(var_dir, holder) from None
        lock = cls(path=path, fd=fd, previous=_read_record(fd))
        lock.update(pid=os.getpid(), port=port)
        return lock

    def update(self, **values: Any) -> None:
        """Merge ``values`` into the record in the lock file."""
        self.record.update(values)
        data = json.dumps(self.record).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)


def _read_record(fd: int) -> dict[str, Any]:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
