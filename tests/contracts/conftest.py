"""Helpers for the vector store contract suite.

The fixtures live in the test module itself, so the suite also runs with ``--noconftest``
(the repository's top-level conftest needs Django settings; these tests do not).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from search.clients.vectorstore import (
    StorageTarget,
    VectorStore,
    VectorStoreOwnerServer,
)

AUTHKEY = b"contract-suite-authkey"

_tenant_numbers = itertools.count()


@dataclass(frozen=True)
class Tenants:
    """Three tenants unique to one test: two in the shared storage, one dedicated."""

    acme: StorageTarget
    globex: StorageTarget
    initech: StorageTarget


class RunningOwner:
    """An owner server serving ``store`` from a background thread."""

    def __init__(self, store: VectorStore, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.server = VectorStoreOwnerServer(store, socket_path, AUTHKEY)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


def short_folder(stack: ExitStack) -> Path:
    """Return a folder with a short path (unix socket paths must stay under 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="vs-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return folder


def new_tenants() -> Tenants:
    """Return tenant keys no other test uses, so tests can share one store per module."""
    number = next(_tenant_numbers)
    return Tenants(
        acme=StorageTarget(tenant_key=f"acme-{number}"),
        globex=StorageTarget(tenant_key=f"globex-{number}"),
        initech=StorageTarget(tenant_key=f"initech-{number}", dedicated=True),
    )
