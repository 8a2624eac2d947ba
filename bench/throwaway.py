"""Shared by the bench scripts that run against a throwaway data folder."""

from __future__ import annotations

import shutil
from pathlib import Path


def close_throwaway_portal(var_dir: Path, *, keep: bool = False) -> None:
    """Close the vector store and connections, stop the embedded servers, remove the folder."""
    from django.conf import settings
    from django.db import connections

    from portal import embedded
    from search.vector_store import reset_vector_store

    reset_vector_store()
    connections.close_all()
    embedded.stop_redis(settings.VAR_DIR)
    embedded.stop_postgres(settings.VAR_DIR)
    if not keep:
        shutil.rmtree(var_dir, ignore_errors=True)
