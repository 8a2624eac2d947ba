"""Share one embedded vector store between processes over a unix socket.

The embedded engine locks its folder, so exactly one process (the owner) opens it and serves
:class:`VectorStoreOwnerServer`; web threads, Celery workers and management commands hold a
:class:`RemoteVectorStore` that forwards each call. Both ends authenticate with a shared key
(``multiprocessing.connection`` HMAC challenge) and the socket file is private to its user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import stat
import threading
from collections.abc import Sequence
from multiprocessing.connection import AuthenticationError, Client, Connection, Listener
from pathlib import Path
from typing import Any

from portal.exceptions import PortalError
from search.clients.vectorstore.base import (
    ChunkPoint,
    ScrollPage,
    SearchFilter,
    SearchHit,
    SparseVector,
    StorageSettings,
    StorageTarget,
    VectorQuery,
    VectorStore,
    VectorStoreError,
    VectorStoreUnavailable,
)

logger = logging.getLogger(__name__)

# Only these methods cross the socket; close() stays local to each side.
REMOTE_METHODS = frozenset(
    {
        "ensure_tenant_storage",
        "drop_tenant_storage",
        "upsert",
        "delete_points",
        "query",
        "query_many",
        "count",
        "health",
        "optimize",
        "scroll",
        "drop_tenant_copy",
    }
)

# Calls that may legitimately run for minutes (HNSW builds) wait without a deadline.
_UNBOUNDED_METHODS = frozenset(
    {"optimize", "ensure_tenant_storage", "drop_tenant_storage", "drop_tenant_copy"}
)
DEFAULT_CALL_TIMEOUT_SECONDS = 120.0

_OK = "ok"
_ERROR = "error"


class VectorStoreOwnerNotRunning(VectorStoreUnavailable):
    code = "vector_store_owner_not_running"


class VectorStoreOwnerServer:
    """Serve one store's methods over a unix socket, one thread per connection."""

    def __init__(self, store: VectorStore, socket_path: Path, authkey: bytes) -> None:
        """Bind the socket (mode 0600), replacing a stale socket file.

        Raise :class:`VectorStoreUnavailable` when another owner already answers on it.
        """
        if not authkey:
            raise VectorStoreError(
                "The vector store owner needs a non-empty authkey: set the vector store "
                "authkey setting (shared by the owner and its clients).",
                code="vector_store_authkey_missing",
            )
        self._store = store
        self._socket_path = Path(socket_path)
        self._authkey = authkey
        self._stopping = threading.Event()
        self._serving = threading.Event()
        self._served = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[Connection] = set()
        self._threads: set[threading.Thread] = set()
        self._remove_stale_socket()
        self._listener = self._bind()
        logger.info("vectorstore.owner.listening", extra={"socket_path": str(self._socket_path)})

    @property
    def socket_path(self) -> Path:
        return self._socket_path

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`; each connection gets its own thread."""
        self._serving.set()
        try:
            while not self._stopping.is_set():
                try:
                    conn = self._listener.accept()
                except AuthenticationError:
                    logger.warning("vectorstore.owner.auth_failed")
                    continue
                except (EOFError, ConnectionError):
                    # A client that hung up during the handshake (shutdown's wake-up does).
                    continue
                if self._stopping.is_set():
                    conn.close()
                    break
                self._start_handler(conn)
        finally:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._served.set()

    def shutdown(self) -> None:
        """Stop accepting, disconnect every client and wait for handler threads to finish.

        The wrapped store stays open: its owner closes it.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._serving.is_set():
            # accept() does not return when the listening socket is closed from another thread;
            # a bare connection wakes it without waiting for the authentication handshake.
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as waker:
                waker.connect(str(self._socket_path))
            self._served.wait()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            # Under the lock a listed connection is still open, so its descriptor is not reused.
            for conn in self._connections:
                _interrupt(conn)
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        logger.info("vectorstore.owner.stopped", extra={"socket_path": str(self._socket_path)})

    def _bind(self) -> Listener:
        self._socket_path.parent.mkdir(parents=True, exist_ok=True)
        # The socket file takes its mode from the umask at bind time; a private umask closes the
        # window in which another local user could connect before the chmod below.
        previous_umask = os.umask(0o177)
        try:
            listener = Listener(str(self._socket_path), family="AF_UNIX", authkey=self._authkey)
        finally:
            os.umask(previous_umask)
        os.chmod(self._socket_path, 0o600)
        return listener

    def _remove_stale_socket(self) -> None:
        if not self._socket_path.exists():
            return
        if not stat.S_ISSOCK(self._socket_path.stat().st_mode):
            # Never delete a regular file a misconfigured setting happens to point at.
            raise VectorStoreError(
                f"{self._socket_path} exists and is not a socket: point the vector store socket "
                "setting at an unused path.",
                code="vector_store_socket_path_taken",
            )
        try:
            Client(str(self._socket_path), family="AF_UNIX", authkey=self._authkey).close()
        except (ConnectionRefusedError, FileNotFoundError):
            self._socket_path.unlink(missing_ok=True)
            logger.info(
                "vectorstore.owner.stale_socket_removed",
                extra={"socket_path": str(self._socket_path)},
            )
            return
        except (OSError, EOFError, AuthenticationError):
            pass
        raise VectorStoreUnavailable(
            f"Another vector store owner already listens on {self._socket_path}: stop it first, "
            "or point this process at it as a client.",
            code="vector_store_owner_running",
        )

    def _start_handler(self, conn: Connection) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(conn,), name="vector-store-owner", daemon=True
        )
        with self._lock:
            self._connections.add(conn)
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, conn: Connection) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                except (pickle.UnpicklingError, AttributeError, ImportError, TypeError):
                    logger.warning("vectorstore.owner.bad_request")
                    return
                if not self._send(conn, self._dispatch(request)):
                    return
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())
            conn.close()

    def _dispatch(self, request: object) -> tuple[str, Any]:
        if not (
            isinstance(request, tuple)
            and len(request) == 3
            and isinstance(request[0], str)
            and isinstance(request[1], tuple)
            and isinstance(request[2], dict)
        ):
            return _ERROR, VectorStoreError(
                "Malformed vector store request: expected (method, args, kwargs).",
                code="vector_store_bad_request",
            )
        method, args, kwargs = request
        if method not in REMOTE_METHODS:
            logger.warning("vectorstore.owner.method_rejected", extra={"method": method[:64]})
            return _ERROR, VectorStoreError(
                f"Method {method[:64]!r} cannot be called through the vector store owner; "
                f"allowed: {', '.join(sorted(REMOTE_METHODS))}.",
                code="vector_store_method_not_allowed",
            )
        try:
            return _OK, getattr(self._store, method)(*args, **kwargs)
        except PortalError as exc:
            return _ERROR, exc
        except Exception:
            logger.exception("vectorstore.owner.call_failed", extra={"method": method})
            return _ERROR, VectorStoreError(
                f"The vector store owner failed while running {method}; see its log for details."
            )

    def _send(self, conn: Connection, reply: tuple[str, Any]) -> bool:
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            # An error object the client could not rebuild; send a plain one instead.
            error = reply[1]
            fallback = VectorStoreError(
                str(error), code=getattr(error, "code", VectorStoreError.code)
            )
            try:
                conn.send((_ERROR, fallback))
            except OSError:
                return False
        except OSError:
            return False
        return True


class RemoteVectorStore(VectorStore):
    """Reach the process that owns the embedded store; one connection per thread.

    Every forwarded method is idempotent (upserts by id, deletes by filter), which is what makes
    the single retry after a broken connection safe.
    """

    def __init__(
        self,
        socket_path: Path,
        authkey: bytes,
        *,
        call_timeout_seconds: float = DEFAULT_CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._socket_path = Path(socket_path)
        self._authkey = authkey
        self._call_timeout_seconds = call_timeout_seconds
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set[Connection] = set()

    def ensure_tenant_storage(self, target: StorageTarget, settings: StorageSettings) -> None:
        """Forward to the owner; see :meth:`VectorStore.ensure_tenant_storage`."""
        self._call("ensure_tenant_storage", target, settings)

    def drop_tenant_storage(self, target: StorageTarget) -> None:
        """Forward to the owner; see :meth:`VectorStore.drop_tenant_storage`."""
        self._call("drop_tenant_storage", target)

    def upsert(self, target: StorageTarget, points: Sequence[ChunkPoint]) -> None:
        """Forward to the owner; see :meth:`VectorStore.upsert`."""
        self._call("upsert", target, list(points))

    def delete_points(
        self, target: StorageTarget, *, repository_id: int, paths: Sequence[str] | None = None
    ) -> None:
        """Forward to the owner; see :meth:`VectorStore.delete_points`."""
        self._call(
            "delete_points",
            target,
            repository_id=repository_id,
            paths=list(paths) if paths is not None else None,
        )

    def query(
        self,
        target: StorageTarget,
        *,
        dense: Sequence[float] | None = None,
        sparse: SparseVector | None = None,
        search_filter: SearchFilter | None = None,
        limit: int = 10,
        prefetch_limit: int = 100,
        head: Sequence[float] | None = None,
    ) -> list[SearchHit]:
        """Forward to the owner; see :meth:`VectorStore.query`."""
        hits: list[SearchHit] = self._call(
            "query",
            target,
            dense=list(dense) if dense is not None else None,
            sparse=sparse,
            search_filter=search_filter,
            limit=limit,
            prefetch_limit=prefetch_limit,
            head=list(head) if head is not None else None,
        )
        return hits

    def query_many(
        self, target: StorageTarget, queries: Sequence[VectorQuery]
    ) -> list[list[SearchHit]]:
        """Forward the whole batch in one round trip; see :meth:`VectorStore.query_many`."""
        batches: list[list[SearchHit]] = self._call("query_many", target, list(queries))
        return batches

    def count(self, target: StorageTarget, *, repository_id: int | None = None) -> int:
        """Forward to the owner; see :meth:`VectorStore.count`."""
        return int(self._call("count", target, repository_id=repository_id))

    def scroll(
        self,
        target: StorageTarget,
        *,
        offset: str | None = None,
        limit: int = 256,
        chunk_ids: Sequence[str] | None = None,
    ) -> ScrollPage:
        """Forward to the owner; see :meth:`VectorStore.scroll`."""
        page: ScrollPage = self._call(
            "scroll",
            target,
            offset=offset,
            limit=limit,
            chunk_ids=list(chunk_ids) if chunk_ids is not None else None,
        )
        return page

    def drop_tenant_copy(self, target: StorageTarget) -> None:
        """Forward to the owner; see :meth:`VectorStore.drop_tenant_copy`."""
        self._call("drop_tenant_copy", target)

    def health(self) -> None:
        """Raise :class:`VectorStoreUnavailable` when the owner is down or cannot serve."""
        self._call("health")

    def optimize(self, target: StorageTarget) -> None:
        """Forward to the owner; blocks until the owner's optimizer finishes."""
        self._call("optimize", target)

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()
        self._local = threading.local()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method not in REMOTE_METHODS:
            raise VectorStoreError(
                f"Method {method!r} is not forwarded to the vector store owner.",
                code="vector_store_method_not_allowed",
            )
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.send((method, args, kwargs))
                if method not in _UNBOUNDED_METHODS and not conn.poll(self._call_timeout_seconds):
                    # A late reply would be read by the next call, so this connection is spent.
                    self._discard_connection(conn)
                    raise VectorStoreUnavailable(
                        f"The vector store owner did not answer {method} within "
                        f"{self._call_timeout_seconds:.0f} s: check that its process is healthy "
                        "(python manage.py run_vector_store logs).",
                        code="vector_store_owner_timeout",
                    )
                status, value = conn.recv()
            except (EOFError, OSError) as exc:
                self._discard_connection(conn)
                if attempt == 2:
                    raise VectorStoreOwnerNotRunning(self._not_running_message()) from exc
                logger.info("vectorstore.remote.reconnecting", extra={"method": method})
                continue
            if status == _OK:
                return value
            if isinstance(value, PortalError):
                raise value
            raise VectorStoreError(f"The vector store owner failed while running {method}.")
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        # A forked child (Celery prefork) inherits the parent's socket; sharing it would mix
        # both processes' replies, so the child opens its own.
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = Client(str(self._socket_path), family="AF_UNIX", authkey=self._authkey)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise VectorStoreOwnerNotRunning(self._not_running_message()) from exc
        except AuthenticationError as exc:
            raise VectorStoreUnavailable(
                f"The vector store owner at {self._socket_path} rejected this process's authkey: "
                "give the owner and its clients the same vector store authkey setting.",
                code="vector_store_owner_auth_failed",
            ) from exc
        except (OSError, EOFError) as exc:
            raise VectorStoreOwnerNotRunning(self._not_running_message()) from exc
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            self._connections.add(conn)
        return conn

    def _discard_connection(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            self._connections.discard(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _not_running_message(self) -> str:
        return (
            f"The vector store owner process is not running (no answer on {self._socket_path}): "
            "start it with the start script or `python manage.py run_vector_store`, or set "
            "QDRANT_URL to use a Qdrant server."
        )


def _interrupt(conn: Connection) -> None:
    """Wake a thread blocked in ``conn.recv()`` by shutting the socket down under it."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()
