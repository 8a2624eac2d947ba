"""Start a whole portal (the supervisor script/server runs) for tests that need a live one.

It runs in its own folder on a free loopback port: embedded PostgreSQL and Redis, the
vector-store owner, a Celery worker and beat, and gunicorn, with the sample repository under an
allowed root. Used by the browser tests and the fault tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
SAMPLE_SOURCE = BASE_DIR / "tests" / "fixtures" / "sample_repo"
START_TIMEOUT_SECONDS = 240
STOP_TIMEOUT_SECONDS = 90


@dataclass
class LivePortal:
    port: int
    log: Path
    sources: Path
    var_dir: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, host: str = "localhost", path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(portal: LivePortal) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if portal.process is not None and portal.process.poll() is not None:
            raise RuntimeError(f"portal exited early:\n{portal.log.read_text()[-4000:]}")
        if "Portal: http://" in portal.log.read_text(errors="replace"):
            try:
                with urllib.request.urlopen(  # noqa: S310 -- our own loopback server
                    portal.url("127.0.0.1", "/health"), timeout=10
                ):
                    return
            except OSError:
                pass
        time.sleep(1)
    raise RuntimeError(f"portal did not start:\n{portal.log.read_text()[-4000:]}")


@contextlib.contextmanager
def live_portal_in(root: Path, *, rate_limits: bool = True) -> Iterator[LivePortal]:
    """Run a portal with its data under ``root`` until the block ends, then stop it by pid."""
    sources = root / "sources"
    shutil.copytree(SAMPLE_SOURCE, sources / "sample")
    portal = LivePortal(
        port=_free_port(), log=root / "portal.log", sources=sources, var_dir=root / "var"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "QDRANT_URL", "PORTAL_TESTING"}
    }
    env.update(
        PORT=str(portal.port),
        PORTAL_VAR_DIR=str(portal.var_dir),
        PORTAL_SEED_DEMO="false",
        PORTAL_RATE_LIMITS_ENABLED="true" if rate_limits else "false",
        REPOSITORY_ALLOWED_ROOTS=str(sources),
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    with portal.log.open("wb") as log:
        portal.process = subprocess.Popen(
            [sys.executable, "-m", "portal.supervisor"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(portal)
        yield portal
    finally:
        portal.process.send_signal(signal.SIGTERM)
        try:
            portal.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(portal.process.pid, signal.SIGKILL)
            portal.process.wait()
