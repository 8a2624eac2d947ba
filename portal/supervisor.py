"""Start the whole portal on one machine: what ``script/server`` runs.

Order matters: first the lock that makes this the only supervisor of its ``var/`` folder, then
the embedded PostgreSQL and Redis (settings start them), migrations, the single process that
owns the embedded vector store, and only when its socket answers the worker, beat and web
server, which all reach the store through it. Ctrl-C, SIGTERM or SIGHUP - during start-up or
later - and any failed start-up step stop every child by its pid, then the embedded servers
this supervisor started; data stays under ``var/``.

Signal handlers only record the signal; the start-up loops poll for it. Raising from a handler
could land between starting a child and recording it, and leak that child.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from portal import embedded
from portal.supervisor_lock import PortalAlreadyRunning, SupervisorLock

logger = logging.getLogger("portal.supervisor")

BASE_DIR = Path(__file__).resolve().parent.parent
CHILD_STOP_TIMEOUT_SECONDS = 20.0
OWNER_START_TIMEOUT_SECONDS = 60.0
STEP_POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StartupInterrupted(Exception):
    """A stop signal arrived before the portal was up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StartupFailed(Exception):
    """A start-up step failed; the message says which and where its output is."""


def portal_var_dir() -> Path:
    """The data folder settings will use (``portal.settings.VAR_DIR``), known before setup.

    Settings start the embedded servers as they load, so the lock must be taken first.
    """
    return Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var")).resolve()


def portal_port() -> int:
    value = os.environ.get("PORT", "8000")
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StartupFailed(f"PORT must be a TCP port number (1-65535), got {value!r}.")
    return int(value)


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_signal: int | None = None
        self.var_dir = portal_var_dir()
        self.owns_postgres = False
        self.owns_redis = False
        self.env: dict[str, str] = {}

    def run(self) -> int:
        try:
            port = portal_port()
            lock = SupervisorLock.acquire(self.var_dir, port=port)
        except (PortalAlreadyRunning, StartupFailed) as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        try:
            return self._run_locked(lock)
        finally:
            lock.release()

    def _run_locked(self, lock: SupervisorLock) -> int:
        self._claim_embedded_servers(lock)
        try:
            self._start_portal()
        except StartupInterrupted as exc:
            self._say(f"Start-up interrupted ({exc}); stopping what was started.")
            self.stop()
            return 128 + exc.signum
        except StartupFailed as exc:
            self._say(f"{exc} Stopping what was started.")
            self.stop()
            return 1
        except Exception as exc:
            if self.stop_signal is not None:
                # A terminal Ctrl-C also reaches initdb or pg_ctl run during settings; their
                # failure is the interruption, not a fault.
                self._say(f"Start-up interrupted ({signal.Signals(self.stop_signal).name}).")
            else:
                logger.exception("portal.supervisor.start_failed")
                self._say(f"Start-up failed: {exc!r} (details above).")
            self.stop()
            return 128 + self.stop_signal if self.stop_signal is not None else 1
        return self._watch()

    def _claim_embedded_servers(self, lock: SupervisorLock) -> None:
        """Decide which embedded servers this supervisor will stop on exit.

        Its own, and those a crashed supervisor of this folder started (recorded in the lock
        file it left); never servers something else started before it.
        """
        previous = lock.previous
        if not os.environ.get("DATABASE_URL"):
            self.owns_postgres = bool(previous.get("owns_postgres")) or not (
                embedded.postgres_running(self.var_dir)
            )
        if not os.environ.get("REDIS_URL"):
            self.owns_redis = bool(previous.get("owns_redis")) or not (
                embedded.redis_running(self.var_dir)
            )
        lock.update(owns_postgres=self.owns_postgres, owns_redis=self.owns_redis)

    def _start_portal(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        import django

        django.setup()
        from django.conf import settings

        self.settings = settings
        env = dict(os.environ)
        env["DATABASE_URL"] = settings.DATABASE_URL
        env["REDIS_URL"] = settings.REDIS_URL
        env["VECTOR_STORE_REMOTE_ONLY"] = "true"
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.env = env

        self._manage("migrate_schemas", "--shared", "--verbosity", "0")
        self._manage("migrate_schemas", "--tenant", "--verbosity", "0")
        # New tenants are cloned from this migrated template schema (fast signup).
        self._manage("tenant_template")
        self._manage("collectstatic", "--noinput", "--verbosity", "0")
        if not settings.QDRANT_URL:
            self._start("vector-store", [sys.executable, "manage.py", "run_vector_store"])
            self._wait_for_owner()
        worker_options = ("--pool=threads", "--concurrency=4", "--hostname=worker@%h")
        self._start("worker", _celery("worker", *worker_options))
        schedule = settings.VAR_DIR / "run" / "celerybeat-schedule"
        self._start("beat", _celery("beat", f"--schedule={schedule}"))
        self._start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config=python:portal.gunicorn_conf",
                "portal.wsgi:application",
                f"--bind=127.0.0.1:{settings.PORTAL_PORT}",
                "--workers=2",
                "--threads=8",
                "--timeout=120",
                "--access-logfile=-",
            ],
        )
        if settings.PORTAL_SEED_DEMO:
            self._manage("seed_demo")
        else:
            self._manage("seed_demo", "--public-only")
        self._check_interrupt()
        self._say(f"Portal: http://localhost:{settings.PORTAL_PORT}/  (Ctrl-C stops everything)")

    def _say(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    def _check_interrupt(self) -> None:
        if self.stop_signal is not None:
            raise StartupInterrupted(self.stop_signal)

    def _manage(self, *args: str) -> None:
        self._run_step(" ".join(["manage.py", *args]), [sys.executable, "manage.py", *args])

    def _run_step(self, label: str, command: list[str]) -> None:
        """Run one start-up step to the end; stop it (and raise) if a stop signal arrives.

        The step runs in its own session, so a terminal Ctrl-C reaches only the supervisor,
        which ends the step's whole process group with SIGTERM (no traceback from the step).
        """
        self._check_interrupt()
        self._say(f"Running {label}…")
        step = subprocess.Popen(  # noqa: S603 -- our own commands with fixed arguments
            command, cwd=BASE_DIR, env=self.env, start_new_session=True
        )
        try:
            while True:
                try:
                    returncode = step.wait(timeout=STEP_POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    self._check_interrupt()
        except BaseException:
            _end_process_group(step, signal.SIGTERM)
            raise
        if returncode != 0:
            raise StartupFailed(
                f"Start-up step `{label}` failed with exit code {returncode}; its output is above."
            )

    def _start(self, name: str, command: list[str]) -> None:
        self._check_interrupt()
        # Each child gets its own session so a terminal Ctrl-C reaches only the supervisor,
        # which then stops the children in a safe order.
        self.children[name] = subprocess.Popen(  # noqa: S603 -- fixed commands
            command, cwd=BASE_DIR, env=self.env, start_new_session=True
        )
        logger.info(
            "portal.supervisor.started", extra={"child": name, "pid": self.children[name].pid}
        )

    def _wait_for_owner(self) -> None:
        from search.clients.vectorstore import RemoteVectorStore
        from search.clients.vectorstore.base import VectorStoreUnavailable
        from search.vector_store import owner_authkey

        deadline = time.monotonic() + OWNER_START_TIMEOUT_SECONDS
        remote = RemoteVectorStore(self.settings.VECTOR_STORE_SOCKET, owner_authkey())
        while True:
            self._check_interrupt()
            if self.children["vector-store"].poll() is not None:
                raise StartupFailed("The vector store owner exited; its error is above.")
            try:
                remote.health()
                remote.close()
                return
            except VectorStoreUnavailable:
                if time.monotonic() > deadline:
                    raise StartupFailed(
                        f"The vector store owner did not answer within "
                        f"{OWNER_START_TIMEOUT_SECONDS:.0f} s; its output is above."
                    ) from None
                time.sleep(STEP_POLL_SECONDS)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum

    def _watch(self) -> int:
        exit_code = 0
        while self.stop_signal is None and exit_code == 0:
            for name, child in self.children.items():
                if child.poll() is not None:
                    self._say(f"{name} exited with code {child.returncode}; stopping the portal.")
                    exit_code = 1
                    break
            time.sleep(0.5)
        self.stop()
        return exit_code

    def stop(self) -> None:
        """Stop every child started, then the embedded servers this supervisor owns."""
        self._say("Stopping…")
        # Warm-stop the worker (SIGTERM): it hands its running jobs back (search.tasks) and is
        # killed after CHILD_STOP_TIMEOUT_SECONDS if a job is still going. A cold stop
        # (SIGQUIT) crashes the thread pool (it cannot kill a job) before the hand-back. Beat's
        # recovery sweep resends handed-back jobs on the next start (recover_stalled_jobs).
        order = [
            ("web", signal.SIGTERM),
            ("beat", signal.SIGTERM),
            ("worker", signal.SIGTERM),
            ("vector-store", signal.SIGTERM),
        ]
        for name, sig in order:
            child = self.children.get(name)
            if child is not None:
                _end_process_group(child, sig)
        if self.owns_redis:
            embedded.stop_redis(self.var_dir)
        if self.owns_postgres:
            embedded.stop_postgres(self.var_dir)
        self._say("Stopped.")


def _celery(program: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "portal", program, "--loglevel=INFO", *args]


def _end_process_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    """Send ``sig`` to a session-leader child, wait, then kill whatever is left of its group.

    The group sweep catches grandchildren (gunicorn workers, a step's helpers) that outlive
    their parent.
    """
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=CHILD_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(Supervisor().run())


if __name__ == "__main__":
    main()
