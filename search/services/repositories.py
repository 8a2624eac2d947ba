"""Register, replace and remove a tenant's repositories."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction

from search import search_cache
from search.exceptions import RepositoryInvalid, RepositoryNotFound
from search.ingest.archives import ArchiveLimits, extract_archive
from search.ingest.exceptions import ArchiveRejected
from search.models import Repository
from search.vector_store import get_vector_store, storage_target
from tenants import audit
from tenants.accounts.models import AuditAction
from tenants.exceptions import QuotaExceeded
from tenants.tiers import get_tier

logger = logging.getLogger(__name__)

REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not REPOSITORY_NAME.match(name):
        raise RepositoryInvalid(
            "Repository names are 1-100 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field="name",
        )
    if Repository.objects.filter(name=name).exists():
        raise RepositoryInvalid(f"A repository named {name!r} already exists.", field="name")
    return name


def _check_repository_quota() -> None:
    tier = get_tier(connection.tenant.tier)
    if Repository.objects.count() >= tier.max_repositories:
        raise QuotaExceeded(
            f"The {tier.label} plan allows {tier.max_repositories} repositories; remove one "
            "or ask your operator for a larger plan.",
            code="quota_repositories",
        )


def allowed_local_path(raw_path: str) -> Path:
    """Resolve a local directory and check it lies under a configured allowed root."""
    if not raw_path or "\x00" in raw_path:
        raise RepositoryInvalid("Give the absolute path of a directory.", field="path")
    path = Path(raw_path)
    if not path.is_absolute():
        raise RepositoryInvalid(f"{raw_path!r} is not an absolute path.", field="path")
    resolved = path.resolve()
    roots: list[Path] = settings.SEARCH["REPOSITORY_ROOTS"]
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise RepositoryInvalid(
            f"{raw_path} is outside the allowed roots ({allowed}); ask your operator to add "
            "its parent to REPOSITORY_ALLOWED_ROOTS.",
            field="path",
        )
    if not resolved.is_dir():
        raise RepositoryInvalid(f"{raw_path} is not an existing directory.", field="path")
    return resolved


def create_local_repository(
    *, name: str, path: str, ignore_patterns: str = "", acting_user: Any = None
) -> Repository:
    """Register a directory under an allowed root as a repository."""
    name = _validate_name(name)
    root = allowed_local_path(path)
    _check_repository_quota()
    with transaction.atomic():
        repository = Repository.objects.create(
            name=name,
            source=Repository.Source.LOCAL,
            root_path=str(root),
            ignore_patterns=ignore_patterns,
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
        )
        _audit_created(repository, acting_user)
    logger.info("search.repository.created", extra={"repository_id": repository.pk})
    return repository


def _checkout_dir() -> Path:
    base: Path = settings.SEARCH["CHECKOUT_DIR"] / connection.schema_name
    base.mkdir(parents=True, exist_ok=True)
    return base


def create_archive_repository(
    *, name: str, upload: IO[bytes], ignore_patterns: str = "", acting_user: Any = None
) -> Repository:
    """Extract an uploaded .zip or .tar.gz safely and register the result.

    Raise :class:`ArchiveRejected` (400) for a hostile or oversized archive; nothing is kept.
    """
    name = _validate_name(name)
    _check_repository_quota()
    dest = _checkout_dir() / f"{name}-{uuid.uuid4().hex[:8]}"
    max_upload: int = settings.SEARCH["MAX_UPLOAD_BYTES"]
    with tempfile.NamedTemporaryFile(dir=_checkout_dir(), suffix=".upload") as spooled:
        copied = 0
        for block in iter(lambda: upload.read(1024 * 1024), b""):
            copied += len(block)
            if copied > max_upload:
                raise ArchiveRejected(
                    f"The upload exceeds the {max_upload // (1024 * 1024)} MiB limit; upload a "
                    "smaller archive or register the directory instead."
                )
            spooled.write(block)
        spooled.flush()
        dest.mkdir()
        try:
            extract_archive(Path(spooled.name), dest, limits=ArchiveLimits())
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    try:
        with transaction.atomic():
            repository = Repository.objects.create(
                name=name,
                source=Repository.Source.ARCHIVE,
                root_path=str(dest),
                ignore_patterns=ignore_patterns,
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
            )
            _audit_created(repository, acting_user)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    logger.info("search.repository.created", extra={"repository_id": repository.pk})
    return repository


def _audit_created(repository: Repository, acting_user: Any) -> None:
    audit.record_event(
        AuditAction.REPOSITORY_CREATED,
        target_type="repository",
        target_id=repository.pk,
        actor=acting_user,
        detail={"name": repository.name, "source": repository.source},
    )


def get_repository(repository_id: int) -> Repository:
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        raise RepositoryNotFound(f"No repository with id {repository_id} in this tenant.")
    return repository


def delete_repository(*, repository_id: int, acting_user: Any = None) -> None:
    """Remove a repository, its points and (for uploads) its extracted files."""
    repository = get_repository(repository_id)
    target = storage_target(connection.tenant)
    get_vector_store().delete_points(target, repository_id=repository.pk)
    # Cached answers may quote the repository's chunks.
    search_cache.bump_index_version(connection.schema_name)
    root = Path(repository.root_path)
    with transaction.atomic():
        repository.delete()
        audit.record_event(
            AuditAction.REPOSITORY_DELETED,
            target_type="repository",
            target_id=repository_id,
            actor=acting_user,
            detail={"name": repository.name},
        )
    if repository.source == Repository.Source.ARCHIVE and root.is_relative_to(
        settings.SEARCH["CHECKOUT_DIR"]
    ):
        shutil.rmtree(root, ignore_errors=True)
    logger.info("search.repository.deleted", extra={"repository_id": repository_id})


def read_indexed_file(*, repository_id: int, path: str) -> tuple[Repository, list[str]]:
    """Return the lines of an indexed file, decoded and normalised exactly as it was indexed.

    Only paths the index knows are served, and they must resolve inside the repository
    folder, so this never reads outside what the tenant registered.
    """
    from search.ingest.decoding import load_source
    from search.ingest.walker import FileEntry, SkippedFile
    from search.models import IndexedFile

    repository = get_repository(repository_id)
    indexed = IndexedFile.objects.filter(repository=repository, path=path).first()
    root = Path(repository.root_path).resolve()
    if indexed is None or not (root / path).resolve().is_relative_to(root):
        raise RepositoryNotFound(f"{path!r} is not an indexed file of {repository.name}.")
    try:
        source = load_source(
            root, FileEntry(path=path, size_bytes=indexed.size_bytes, language=indexed.language)
        )
    except OSError as exc:
        raise RepositoryNotFound(
            f"{path} can no longer be read; re-index {repository.name}."
        ) from exc
    if isinstance(source, SkippedFile):
        raise RepositoryNotFound(f"{path} can no longer be shown: {source.detail}.")
    return repository, source.text.split("\n")
