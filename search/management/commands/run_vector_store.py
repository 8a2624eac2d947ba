"""Own the embedded Qdrant engine and serve it to the portal's other processes.

The engine locks its folder, so exactly one process may open it: this one. Web servers,
Celery workers and management commands reach it through a unix socket.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from search.clients.vectorstore import EdgeVectorStore, VectorStoreOwnerServer
from search.clients.vectorstore.base import VectorStoreUnavailable
from search.vector_store import owner_authkey


class Command(BaseCommand):
    help = "Run the process that owns the embedded vector store (script/server starts it)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.QDRANT_URL:
            raise CommandError("QDRANT_URL is set: the portal uses a Qdrant server instead.")
        settings.VECTOR_STORE_PATH.mkdir(parents=True, exist_ok=True)
        try:
            store = EdgeVectorStore(settings.VECTOR_STORE_PATH)
        except VectorStoreUnavailable as exc:
            raise CommandError(exc.message) from exc
        server = VectorStoreOwnerServer(store, settings.VECTOR_STORE_SOCKET, owner_authkey())
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        thread = threading.Thread(target=server.serve_forever, name="vector-owner", daemon=True)
        thread.start()
        self.stdout.write(f"Vector store owner listening on {settings.VECTOR_STORE_SOCKET}")
        stop.wait()
        server.shutdown()
        store.close()
        self.stdout.write("Vector store owner stopped.")
