"""A whole portal (the same supervisor as script/server) driven by headless Chromium.

The stack runs in its own folder and on a free loopback port: embedded PostgreSQL and Redis,
the vector-store owner, a real Celery worker and beat, and gunicorn. Chromium resolves
``*.localhost`` to loopback by itself, so tenant subdomains work without /etc/hosts.
"""

from __future__ import annotations

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

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SAMPLE_SOURCE = BASE_DIR / "tests" / "fixtures" / "sample_repo"
CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT_SECONDS = 240


@dataclass
class LivePortal:
    port: int
    log: Path

    def url(self, host: str = "localhost", path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(portal: LivePortal, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
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


@pytest.fixture(scope="session")
def live_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: script/test installs it with apt-get.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    var_dir = tmp_path_factory.mktemp("live-portal")
    sources = var_dir / "sources"
    shutil.copytree(SAMPLE_SOURCE, sources / "sample")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "QDRANT_URL", "PORTAL_TESTING"}
    }
    portal = LivePortal(port=_free_port(), log=var_dir / "portal.log")
    env.update(
        PORT=str(portal.port),
        PORTAL_VAR_DIR=str(var_dir / "var"),
        PORTAL_SEED_DEMO="false",
        REPOSITORY_ALLOWED_ROOTS=str(sources),
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    with portal.log.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.supervisor"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(portal, process)
        portal.sources = sources  # type: ignore[attr-defined]
        yield portal
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def browser(live_portal: LivePortal) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()
