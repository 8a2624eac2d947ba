"""script/server (portal.supervisor): one supervisor per data folder, and no orphans.

The lock and the clean-up are tested with real processes in-process; two tests run the real
supervisor as a subprocess on a fresh folder and a free loopback port (about a minute together):
one is interrupted during its first migration, the other starts fully, refuses a second copy
and is then stopped with SIGINT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from portal import embedded
from portal.supervisor import BASE_DIR, StartupFailed, StartupInterrupted, Supervisor
from portal.supervisor_lock import PortalAlreadyRunning, SupervisorLock

START_TIMEOUT_SECONDS = 240
STOP_TIMEOUT_SECONDS = 90
HOLD_LOCK = """
import sys, time
from pathlib import Path
from portal.supervisor_lock import SupervisorLock
lock = SupervisorLock.acquire(Path(sys.argv[1]), port=int(sys.argv[2]))
lock.update(owns_redis=True)
print("locked", flush=True)
time.sleep(300)
"""


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """A short folder (unix socket paths are limited to ~100 bytes) removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="sv-"))
    yield root / "var"
    embedded.stop_redis(root / "var")
    embedded.stop_postgres(root / "var")
    shutil.rmtree(root, ignore_errors=True)


def _hold_lock(var_dir: Path, port: int) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(var_dir), str(port)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _kill(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()
    assert holder.stdout is not None
    holder.stdout.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class TestSupervisorLock:
    def test_second_holder_is_refused_with_pid_and_port(self, var_dir: Path) -> None:
        holder = _hold_lock(var_dir, 8123)
        try:
            with pytest.raises(PortalAlreadyRunning) as refused:
                SupervisorLock.acquire(var_dir, port=9000)
        finally:
            _kill(holder)

        message = str(refused.value)
        assert f"supervisor pid {holder.pid}, http://localhost:8123" in message
        assert f"kill -INT {holder.pid}" in message
        assert "PORTAL_VAR_DIR" in message

    def test_file_left_by_a_killed_holder_does_not_block(self, var_dir: Path) -> None:
        holder = _hold_lock(var_dir, 8123)
        _kill(holder)

        lock = SupervisorLock.acquire(var_dir, port=9000)
        try:
            assert lock.previous["pid"] == holder.pid
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        finally:
            lock.release()


class TestEmbeddedServerOwnership:
    def test_servers_running_before_start_are_left_running(
        self, var_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setenv("PORTAL_VAR_DIR", str(var_dir))
        embedded.ensure_redis(var_dir)
        embedded.ensure_postgres(var_dir)
        supervisor = Supervisor()
        lock = SupervisorLock.acquire(var_dir, port=9000)
        try:
            supervisor._claim_embedded_servers(lock)
            supervisor.stop()
        finally:
            lock.release()

        assert (supervisor.owns_postgres, supervisor.owns_redis) == (False, False)
        assert embedded.redis_running(var_dir)
        assert embedded.postgres_running(var_dir)

    def test_servers_left_by_a_crashed_supervisor_are_stopped(
        self, var_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setenv("DATABASE_URL", "postgres://unused")
        monkeypatch.setenv("PORTAL_VAR_DIR", str(var_dir))
        embedded.ensure_redis(var_dir)
        crashed = _hold_lock(var_dir, 8123)  # records owns_redis=True, then dies
        _kill(crashed)
        supervisor = Supervisor()
        lock = SupervisorLock.acquire(var_dir, port=9000)
        try:
            supervisor._claim_embedded_servers(lock)
            supervisor.stop()
        finally:
            lock.release()

        assert supervisor.owns_redis
        assert not embedded.redis_running(var_dir)


class TestStartupSteps:
    def test_interrupted_step_stops_the_step_its_helpers_and_started_children(
        self, tmp_path: Path
    ) -> None:
        supervisor = Supervisor()
        supervisor.env = dict(os.environ)
        supervisor._start("vector-store", ["sleep", "300"])
        pid_file = tmp_path / "helper.pid"
        step = ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; sleep 300"]
        previous = signal.signal(signal.SIGINT, supervisor._on_signal)
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(StartupInterrupted):
                supervisor._run_step("slow step", step)
            supervisor.stop()
        finally:
            timer.cancel()
            signal.signal(signal.SIGINT, previous)

        helper = int(pid_file.read_text())
        assert not _alive(helper)
        assert not _alive(supervisor.children["vector-store"].pid)

    def test_failed_step_names_itself_and_its_exit_code(self) -> None:
        supervisor = Supervisor()
        supervisor.env = dict(os.environ)

        with pytest.raises(StartupFailed) as failed:
            supervisor._run_step("manage.py broken", [sys.executable, "-c", "exit(3)"])

        assert "`manage.py broken` failed with exit code 3; its output is above" in str(
            failed.value
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _supervisor(var_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "QDRANT_URL", "PORTAL_TESTING"}
    }
    env.update(
        PORT=str(port),
        PORTAL_VAR_DIR=str(var_dir),
        PORTAL_SEED_DEMO="false",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "portal.supervisor"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_line(process: subprocess.Popen[bytes], log: Path, line: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while line not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {line!r} in the log:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _started_pids(process: subprocess.Popen[bytes], var_dir: Path) -> set[int]:
    """The supervisor, its descendants and the embedded servers (daemons, not descendants)."""
    pids = {process.pid}
    pids |= {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
    pids.add(int((var_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0]))
    pids.add(int((var_dir / "run" / "redis.pid").read_text().strip()))
    return pids


def _interrupt(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C in a terminal: SIGINT to the whole process group."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


class TestSupervisorProcess:
    def test_ctrl_c_during_the_first_migration_stops_everything(
        self, var_dir: Path, tmp_path: Path
    ) -> None:
        log = tmp_path / "supervisor.log"
        process = _supervisor(var_dir, _free_port(), log)
        _wait_for_line(process, log, "Running manage.py migrate_schemas --shared")
        time.sleep(0.5)
        pids = _started_pids(process, var_dir)

        returncode = _interrupt(process)

        output = log.read_text()
        assert returncode == 128 + signal.SIGINT
        assert "Start-up interrupted (SIGINT)" in output
        assert "Traceback" not in output
        assert "Portal: http://" not in output
        assert not [pid for pid in pids if _alive(pid)]

    def test_second_copy_is_refused_and_the_first_keeps_serving_until_sigint(
        self, var_dir: Path, tmp_path: Path
    ) -> None:
        port = _free_port()
        first_log = tmp_path / "first.log"
        first = _supervisor(var_dir, port, first_log)
        _wait_for_line(first, first_log, "Portal: http://")
        pids = _started_pids(first, var_dir)

        second_log = tmp_path / "second.log"
        second = _supervisor(var_dir, _free_port(), second_log)
        second_code = second.wait(timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=30) as response:
            ready_status = response.status
        first_code = _interrupt(first)

        refusal = second_log.read_text()
        assert second_code != 0
        assert f"already running from this folder ({var_dir.resolve()})" in refusal
        assert f"supervisor pid {first.pid}, http://localhost:{port}" in refusal
        assert "Running manage.py" not in refusal
        assert ready_status == 200
        assert first_code == 0
        assert not [pid for pid in pids if _alive(pid)]
