"""Start the whole portal on one machine: what ``script/server`` runs.

Order matters: the embedded PostgreSQL and Redis first (settings start them), then migrations,
then the single process that owns the embedded vector store, and only when its socket answers
the worker, beat and web server, which all reach the store through it. Ctrl-C (or SIGTERM)
stops every child by its pid, then the embedded servers; data stays under ``var/``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger("portal.supervisor")

BASE_DIR = Path(__file__).resolve().parent.parent
CHILD_STOP_TIMEOUT_SECONDS = 20.0
OWNER_START_TIMEOUT_SECONDS = 60.0


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def run(self) -> int:
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
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

        self._manage("migrate_schemas", "--shared", "--verbosity", "0")
        self._manage("migrate_schemas", "--tenant", "--verbosity", "0")
        # New tenants are cloned from this migrated template schema (fast signup).
        self._manage("tenant_template")
        self._manage("collectstatic", "--noinput", "--verbosity", "0")
        if not settings.QDRANT_URL:
            self._start("vector-store", [sys.executable, "manage.py", "run_vector_store"])
            self._wait_for_owner()
        self._start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "--loglevel=INFO",
                "--hostname=worker@%h",
            ],
        )
        self._start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel=INFO",
                f"--schedule={settings.VAR_DIR / 'run' / 'celerybeat-schedule'}",
            ],
        )
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
        self._say(f"Portal: http://localhost:{settings.PORTAL_PORT}/  (Ctrl-C stops everything)")
        return self._watch()

    def _say(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    def _manage(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 -- our own manage.py with fixed arguments
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, check=True
        )

    def _start(self, name: str, command: list[str]) -> None:
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
            if self.children["vector-store"].poll() is not None:
                raise SystemExit("The vector store owner exited; see its error above.")
            try:
                remote.health()
                remote.close()
                return
            except VectorStoreUnavailable:
                if time.monotonic() > deadline:
                    raise SystemExit("The vector store owner did not start in time.") from None
                time.sleep(0.2)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _watch(self) -> int:
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    self._say(f"{name} exited with code {child.returncode}; stopping the portal.")
                    self.stopping = True
                    break
            time.sleep(0.5)
        self.stop()
        return 0

    def stop(self) -> None:
        self._say("Stopping…")
        # Cold-stop the worker (SIGQUIT): with late acks its running job goes back to the queue
        # and resumes on the next start instead of holding shutdown for minutes.
        order = [
            ("web", signal.SIGTERM),
            ("beat", signal.SIGTERM),
            ("worker", signal.SIGQUIT),
            ("vector-store", signal.SIGTERM),
        ]
        for name, sig in order:
            child = self.children.get(name)
            if child is not None and child.poll() is None:
                child.send_signal(sig)
                try:
                    child.wait(timeout=CHILD_STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        from portal import embedded

        if not os.environ.get("REDIS_URL"):
            embedded.stop_redis(self.settings.VAR_DIR)
        if not os.environ.get("DATABASE_URL"):
            embedded.stop_postgres(self.settings.VAR_DIR)
        self._say("Stopped.")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(Supervisor().run())


if __name__ == "__main__":
    main()
