"""Register, replace and remove a tenant's repositories."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from search import search_cache
from search.clients.git import (
    GitBranchNotFound,
    GitError,
    GitRemote,
    GitUnavailable,
    SyncResult,
    check_branch_name,
    local_remote,
    parse_remote,
    resolve_branch,
    sync_checkout,
)
from search.exceptions import RepositoryInvalid, RepositoryNotFound
from search.ingest.archives import ArchiveLimits, extract_archive
from search.ingest.exceptions import ArchiveRejected
from search.models import IndexJob, Repository
from search.vector_store import get_vector_store, storage_target
from tenants import audit
from tenants.accounts.models import AuditAction
from tenants.exceptions import QuotaExceeded
from tenants.tiers import get_tier

logger = logging.getLogger(__name__)

REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

_Checked = TypeVar("_Checked")


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


def allowed_local_path(raw_path: str, *, field: str = "path") -> Path:
    """Resolve a local directory and check it lies under a configured allowed root.

    ``field`` names the form or API field a refusal is reported on.
    """
    if not raw_path or "\x00" in raw_path:
        raise RepositoryInvalid("Give the absolute path of a directory.", field=field)
    path = Path(raw_path)
    if not path.is_absolute():
        raise RepositoryInvalid(f"{raw_path!r} is not an absolute path.", field=field)
    resolved = path.resolve()
    roots: list[Path] = settings.SEARCH["REPOSITORY_ROOTS"]
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise RepositoryInvalid(
            f"{raw_path} is outside the allowed roots ({allowed}); ask your operator to add "
            "its parent to REPOSITORY_ALLOWED_ROOTS.",
            field=field,
        )
    if not resolved.is_dir():
        raise RepositoryInvalid(f"{raw_path} is not an existing directory.", field=field)
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


def _upload_label(upload: IO[bytes]) -> str:
    """Return the name the client gave the uploaded file, safe to quote in an error."""
    raw = str(getattr(upload, "name", "") or "").replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in raw if ch.isprintable()).strip()
    return printable[:100] or "The upload"


def create_archive_repository(
    *, name: str, upload: IO[bytes], ignore_patterns: str = "", acting_user: Any = None
) -> Repository:
    """Extract an uploaded .zip or .tar.gz safely and register the result.

    Raise :class:`ArchiveRejected` (400) for a hostile or oversized archive, naming the
    uploaded file; nothing is kept. A caller that does more in the same transaction after
    this returns (queueing the first index job) uses :func:`register_repository`, which also
    removes the extracted folder when that later step fails.
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
            extract_archive(
                Path(spooled.name),
                dest,
                limits=ArchiveLimits(),
                display_name=_upload_label(upload),
            )
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


def create_git_repository(
    *,
    name: str,
    url: str,
    branch: str = "",
    ignore_patterns: str = "",
    acting_user: Any = None,
) -> Repository:
    """Register a git remote; its first index job clones it.

    The URL's form and transport are checked, a file:// URL or path must lie under an allowed
    root, and the remote must answer with the branch (its default branch when ``branch`` is
    empty) before anything is stored, so a refused remote leaves no row and no folder. Raise
    :class:`RepositoryInvalid` (400) on the ``url`` or ``branch`` field with git's reason
    (credentials masked), or :class:`GitUnavailable` (503) when the worker has no git.
    """
    name = _validate_name(name)
    remote = _checked_remote(url)
    branch = (branch or "").strip()
    if branch:
        _as_field_error(check_branch_name, branch, field="branch")
    _check_repository_quota()
    branch = _resolve_branch(remote, branch)
    checkout = _checkout_dir() / f"git-{name}-{uuid.uuid4().hex[:8]}"
    with transaction.atomic():
        repository = Repository.objects.create(
            name=name,
            source=Repository.Source.GIT,
            root_path=str(checkout),
            remote_url=remote.url,
            branch=branch,
            ignore_patterns=ignore_patterns,
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
        )
        _audit_created(repository, acting_user)
    logger.info(
        "search.repository.created",
        extra={"repository_id": repository.pk, "remote": remote.display, "branch": branch},
    )
    return repository


def register_repository(
    *,
    name: str,
    archive: IO[bytes] | None = None,
    url: str = "",
    branch: str = "",
    path: str = "",
    ignore_patterns: str = "",
    index: bool = True,
    acting_user: Any = None,
) -> tuple[Repository, IndexJob | None]:
    """Register a repository from an uploaded archive, a git URL or a local path (the first
    given, in that order) and, with ``index``, queue its first index job, all in one
    transaction.

    When any step fails (a quota, a plan's one-job-at-a-time limit, a storage move) the row
    rolls back and the folder an uploaded archive was extracted to is removed, so a refused
    upload leaves nothing on disk. Raise whatever the failing step raised.
    """
    from search.services.indexing import start_index_job

    extracted: Path | None = None
    try:
        with transaction.atomic():
            if archive is not None:
                repository = create_archive_repository(
                    name=name,
                    upload=archive,
                    ignore_patterns=ignore_patterns,
                    acting_user=acting_user,
                )
                extracted = Path(repository.root_path)
            elif url:
                repository = create_git_repository(
                    name=name,
                    url=url,
                    branch=branch,
                    ignore_patterns=ignore_patterns,
                    acting_user=acting_user,
                )
            else:
                repository = create_local_repository(
                    name=name, path=path, ignore_patterns=ignore_patterns, acting_user=acting_user
                )
            job = start_index_job(repository=repository, acting_user=acting_user) if index else None
    except BaseException:
        if extracted is not None:
            shutil.rmtree(extracted, ignore_errors=True)
            logger.info(
                "search.repository.upload_discarded",
                extra={"repository_name": name},
            )
        raise
    return repository, job


def sync_git_repository(repository: Repository) -> SyncResult:
    """Bring a git repository's checkout to the newest commit of its branch.

    Called by the index job before it walks the checkout. The stored URL is checked again
    (allowed roots may have changed since it was registered). Record the commit on the
    repository. Raise :class:`RepositoryInvalid` or a :class:`GitError` subclass whose message
    says what to fix; the checkout is left as it was.
    """
    remote = _checked_remote(repository.remote_url)
    result = sync_checkout(remote, repository.branch, Path(repository.root_path))
    repository.synced_commit = result.commit
    repository.synced_at = timezone.now()
    repository.save(update_fields=["synced_commit", "synced_at"])
    return result


def start_resync(*, repository_id: int, acting_user: Any = None) -> IndexJob:
    """Queue an index job that fetches a git repository's branch, then re-indexes what changed.

    Raise :class:`RepositoryNotFound` (404), :class:`RepositoryInvalid` (400) for a repository
    that is not a git remote, or whatever :func:`start_index_job` raises (409, 429).
    """
    from search.services.indexing import start_index_job

    repository = get_repository(repository_id)
    if repository.source != Repository.Source.GIT:
        raise RepositoryInvalid(
            f"{repository.name} is a {repository.get_source_display().lower()}, not a git "
            "remote, so there is nothing to fetch; re-index it instead.",
            code="repository_not_git",
        )
    return start_index_job(repository=repository, acting_user=acting_user)


def _checked_remote(url: str) -> GitRemote:
    remote = _as_field_error(parse_remote, url, field="url")
    if remote.transport == "file":
        remote = local_remote(allowed_local_path(remote.local_path or "", field="url"))
    return remote


def _resolve_branch(remote: GitRemote, branch: str) -> str:
    try:
        return resolve_branch(remote, branch)
    except GitBranchNotFound as exc:
        raise RepositoryInvalid(exc.message, field="branch", code=exc.code) from exc
    except GitUnavailable:
        raise
    except GitError as exc:
        raise RepositoryInvalid(exc.message, field="url", code=exc.code) from exc


def _as_field_error(check: Callable[[str], _Checked], value: str, *, field: str) -> _Checked:
    """Run a git check; report its refusal on the form or API ``field``."""
    try:
        return check(value)
    except GitUnavailable:
        raise
    except GitError as exc:
        raise RepositoryInvalid(exc.message, field=field, code=exc.code) from exc


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
    # Uploads and git checkouts live in folders the portal made; local directories are not ours.
    is_ours = repository.source in (Repository.Source.ARCHIVE, Repository.Source.GIT)
    if is_ours and root.is_relative_to(settings.SEARCH["CHECKOUT_DIR"]):
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
