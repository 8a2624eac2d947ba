"""Extract uploaded source archives (.zip, .tar, .tar.gz) without trusting their contents.

An uploaded archive is hostile until proven otherwise (case C12): entry names may climb out of
the destination, entries may be links that redirect later writes, and a few kilobytes may
expand to gigabytes. Extraction therefore never calls the archive libraries' own extract
functions; it validates every name, writes regular files only, and counts the bytes it actually
writes while streaming.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from search.ingest.exceptions import ArchiveRejected, IngestError

logger = logging.getLogger(__name__)

MiB = 1024 * 1024

# Reason codes recorded for skipped entries; stable because job reports and the UI show them.
PATH_TRAVERSAL = "path_traversal"
ABSOLUTE_PATH = "absolute_path"
INVALID_NAME = "invalid_name"
LINK = "link"
SPECIAL_FILE = "special_file"
TOO_LARGE = "too_large"
COMPRESSION_RATIO = "compression_ratio"
PATH_CONFLICT = "path_conflict"
DUPLICATE = "duplicate"
ENCRYPTED = "encrypted"
UNSUPPORTED_COMPRESSION = "unsupported_compression"

ACCEPTED_FORMATS = ".zip, .tar, .tar.gz or .tgz"

_COPY_BLOCK_BYTES = 64 * 1024
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# Owner read/write for everyone who may read the checkout; only the owner may keep an exec bit.
_FILE_MODE = 0o644
_DIR_MODE = 0o755


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one archive may expand to."""

    # Sum of bytes written for all files; beyond it the whole archive is rejected.
    max_total_bytes: int = 200 * MiB
    # One file above this is skipped (source files that large are generated or data).
    max_file_bytes: int = 5 * MiB
    # Number of entries (files, directories, links) in the archive; beyond it: rejected.
    max_files: int = 20_000
    # Expansion factor against the compressed size, per zip entry and for the whole archive.
    max_ratio: int = 100
    # The ratio check starts after this many bytes, so a tiny file of repeated bytes passes.
    ratio_floor_bytes: int = 1 * MiB


@dataclass(frozen=True)
class ExtractedFile:
    """A regular file written under the destination (posix path relative to it)."""

    path: str
    size_bytes: int


@dataclass(frozen=True)
class SkippedEntry:
    """An archive entry that was not written, with a stable reason code."""

    name: str
    reason: str
    detail: str


@dataclass
class ExtractionReport:
    """What an extraction wrote and what it refused."""

    archive_format: str
    files: list[ExtractedFile] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    total_bytes: int = 0


class EntrySkipped(Exception):
    """Signal that one entry is left out; ``reason`` is the code recorded in the report."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Budget:
    """Running totals checked after every block written."""

    limits: ArchiveLimits
    archive_bytes: int
    total_bytes: int = 0
    entries: int = 0

    def count_entry(self) -> None:
        self.entries += 1
        self.check_entry_count(self.entries)

    def check_entry_count(self, count: int) -> None:
        if count > self.limits.max_files:
            raise ArchiveRejected(
                f"The archive has more than {self.limits.max_files} entries (max_files). "
                "Upload a smaller archive or exclude generated and vendored folders.",
                data={"limit": "max_files", "value": self.limits.max_files},
            )

    def add_bytes(self, count: int) -> None:
        self.total_bytes += count
        if self.total_bytes > self.limits.max_total_bytes:
            raise ArchiveRejected(
                f"The archive expands to more than {self.limits.max_total_bytes} bytes "
                "(max_total_bytes). Upload only the source you want indexed.",
                data={"limit": "max_total_bytes", "value": self.limits.max_total_bytes},
            )
        if (
            self.total_bytes > self.limits.ratio_floor_bytes
            and self.total_bytes > self.limits.max_ratio * self.archive_bytes
        ):
            raise ArchiveRejected(
                f"The archive expands more than {self.limits.max_ratio} times its size "
                "(max_ratio); it looks like a decompression bomb. Upload ordinary source files.",
                data={"limit": "max_ratio", "value": self.limits.max_ratio},
            )


def extract_archive(
    archive: Path, dest: Path, *, limits: ArchiveLimits, display_name: str = ""
) -> ExtractionReport:
    """Extract ``archive`` into the empty (or missing) directory ``dest``.

    ``display_name`` is how errors name the archive (the uploaded file's name, not the
    temporary file it was spooled to); the file's own name by default.

    Guarantee that nothing is written outside ``dest``, that no link and no special file is
    created, and that no file keeps setuid, setgid, sticky or others' permission bits. Hostile
    or oversized entries are skipped and listed in the report.

    Raise :class:`ArchiveRejected` when the format is not zip, tar or gzip-compressed tar, when
    the archive is corrupt, or when it exceeds ``max_files``, ``max_total_bytes`` or
    ``max_ratio``; in that case everything written so far is removed again. Raise
    :class:`IngestError` when ``dest`` exists and is not an empty directory.
    """
    label = display_name or archive.name
    archive_format = detect_archive_format(archive, display_name=label)
    dest_root = _prepare_destination(dest)
    report = ExtractionReport(archive_format=archive_format)
    budget = _Budget(limits=limits, archive_bytes=max(archive.stat().st_size, 1))

    try:
        if archive_format == "zip":
            _extract_zip(archive, dest_root, budget, report, label)
        else:
            _extract_tar(archive, dest_root, budget, report, label)
    except ArchiveRejected as exc:
        _empty_directory(dest_root)
        logger.warning(
            "search.ingest.archive.rejected",
            extra={"archive_format": archive_format, "limit": exc.data.get("limit")},
        )
        raise

    report.total_bytes = budget.total_bytes
    logger.info(
        "search.ingest.archive.extracted",
        extra={
            "archive_format": archive_format,
            "file_count": len(report.files),
            "skipped_count": len(report.skipped),
            "total_bytes": report.total_bytes,
        },
    )
    return report


def detect_archive_format(archive: Path, *, display_name: str = "") -> str:
    """Return "zip", "tar" or "tar.gz" from the file's leading bytes, whatever its name.

    Raise :class:`ArchiveRejected` for any other content, naming the archive
    ``display_name`` (its file name by default).
    """
    label = display_name or archive.name
    with archive.open("rb") as handle:
        head = handle.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if _looks_like_tar_header(head):
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(archive, "rb") as inner:
                inner_head = inner.read(512)
        except (OSError, EOFError, zlib.error) as exc:
            raise _unreadable(label) from exc
        if _looks_like_tar_header(inner_head):
            return "tar.gz"
    raise ArchiveRejected(
        f"{label} is not an accepted archive. Upload a {ACCEPTED_FORMATS} file.",
        data={"accepted": ACCEPTED_FORMATS},
    )


def safe_member_path(name: str) -> str:
    """Return the entry name as a clean relative posix path.

    Raise :class:`EntrySkipped` (reason absolute_path, path_traversal or invalid_name) for names
    that are absolute, carry a drive letter, contain ``..`` with either slash, or are empty.
    """
    if "\x00" in name:
        raise EntrySkipped(INVALID_NAME, "name contains a NUL byte")
    # Windows tools write backslashes; treat them as separators so "..\\..\\x" is caught.
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE_LETTER.match(unified):
        raise EntrySkipped(ABSOLUTE_PATH, "absolute paths are not allowed in archives")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise EntrySkipped(PATH_TRAVERSAL, "'..' components are not allowed in archives")
    if not parts:
        raise EntrySkipped(INVALID_NAME, "empty entry name")
    return "/".join(parts)


def _looks_like_tar_header(block: bytes) -> bool:
    # POSIX and GNU tar both put "ustar" at offset 257 of every header block.
    return len(block) >= 262 and block[257:262] == b"ustar"


def _unreadable(archive_name: str) -> ArchiveRejected:
    return ArchiveRejected(
        f"{archive_name} is corrupt or truncated. Re-create the archive and upload it again.",
        data={"limit": "corrupt"},
    )


def _prepare_destination(dest: Path) -> Path:
    if dest.is_symlink():
        raise IngestError(
            f"The extraction folder {dest} is a symbolic link; pass a real empty folder.",
            code="extraction_target_invalid",
        )
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise IngestError(
            f"The extraction folder {dest} is not empty; extract into a fresh folder.",
            code="extraction_target_invalid",
        )
    return dest.resolve()


def _empty_directory(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _extract_zip(
    archive: Path, root: Path, budget: _Budget, report: ExtractionReport, label: str
) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            # The zip directory lists every entry up front, so refuse before writing anything.
            budget.check_entry_count(len(infos))
            link_names: set[str] = set()
            for info in infos:
                budget.count_entry()
                _extract_zip_entry(zf, info, root, budget, report, link_names)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _unreadable(label) from exc


def _extract_zip_entry(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    root: Path,
    budget: _Budget,
    report: ExtractionReport,
    link_names: set[str],
) -> None:
    # Only unix-made archives carry a meaningful file type in the high attribute bits.
    mode = (info.external_attr >> 16) if info.create_system == 3 else 0
    try:
        rel = safe_member_path(info.filename)
        _refuse_under_link(rel, link_names)
        if stat.S_ISLNK(mode):
            link_names.add(rel)
            raise EntrySkipped(LINK, "symbolic links are never extracted")
        if info.is_dir() or stat.S_ISDIR(mode):
            _make_parents(root, rel + "/x")
            return
        # Some writers leave the type bits empty; a regular file is the only safe reading.
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            raise EntrySkipped(SPECIAL_FILE, "only regular files are extracted")
        if info.flag_bits & 0x1:
            raise EntrySkipped(ENCRYPTED, "encrypted entries cannot be read")
        try:
            source = zf.open(info)
        except NotImplementedError as exc:
            raise EntrySkipped(UNSUPPORTED_COMPRESSION, str(exc)) from exc
        with source:
            size = _write_file(source, root, rel, mode, budget, compressed_bytes=info.compress_size)
    except EntrySkipped as skip:
        _record_skip(report, info.filename, skip)
        return
    report.files.append(ExtractedFile(path=rel, size_bytes=size))


def _extract_tar(
    archive: Path, root: Path, budget: _Budget, report: ExtractionReport, label: str
) -> None:
    # Stream mode ("r|*") reads each member once, in order, so limits apply as bytes arrive.
    try:
        with tarfile.open(archive, mode="r|*") as tf:
            link_names: set[str] = set()
            for member in tf:
                budget.count_entry()
                _extract_tar_member(tf, member, root, budget, report, link_names)
    except (tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise _unreadable(label) from exc


def _extract_tar_member(
    tf: tarfile.TarFile,
    member: tarfile.TarInfo,
    root: Path,
    budget: _Budget,
    report: ExtractionReport,
    link_names: set[str],
) -> None:
    try:
        rel = safe_member_path(member.name)
        _refuse_under_link(rel, link_names)
        if member.issym() or member.islnk():
            link_names.add(rel)
            kind = "symbolic" if member.issym() else "hard"
            raise EntrySkipped(LINK, f"{kind} links are never extracted")
        if member.isdir():
            _make_parents(root, rel + "/x")
            return
        if not member.isfile():
            raise EntrySkipped(SPECIAL_FILE, "only regular files are extracted")
        source = tf.extractfile(member)
        if source is None:
            raise EntrySkipped(SPECIAL_FILE, "entry has no readable content")
        with source:
            size = _write_file(source, root, rel, member.mode, budget, compressed_bytes=None)
    except EntrySkipped as skip:
        _record_skip(report, member.name, skip)
        return
    report.files.append(ExtractedFile(path=rel, size_bytes=size))


def _refuse_under_link(rel: str, link_names: set[str]) -> None:
    # A later entry "link/file" was meant to be written through the link; keep it out even
    # though the link itself was never created.
    for prefix in _prefixes(rel):
        if prefix in link_names:
            raise EntrySkipped(LINK, f"entry is inside the link entry {prefix}")


def _prefixes(rel: str) -> Iterator[str]:
    parts = rel.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def _record_skip(report: ExtractionReport, name: str, skip: EntrySkipped) -> None:
    report.skipped.append(SkippedEntry(name=name, reason=skip.reason, detail=skip.detail))
    logger.info(
        "search.ingest.archive.entry_skipped",
        extra={"reason": skip.reason, "entry_name": name[:200]},
    )


def _make_parents(root: Path, rel: str) -> Path:
    """Create the directories above ``rel`` inside ``root``; return the target path."""
    target = root.joinpath(*rel.split("/"))
    # Belt and braces: safe_member_path already excludes every way out of root, and this
    # check runs before anything is created.
    if not Path(os.path.normpath(target)).is_relative_to(root):
        raise EntrySkipped(PATH_TRAVERSAL, "entry resolves outside the destination")
    current = root
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            os.mkdir(current, _DIR_MODE)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise EntrySkipped(
                    PATH_CONFLICT, f"{part} is already a file in this archive"
                ) from None
    return target


def _write_file(
    source: BinaryIO,
    root: Path,
    rel: str,
    mode: int,
    budget: _Budget,
    *,
    compressed_bytes: int | None,
) -> int:
    target = _make_parents(root, rel)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise EntrySkipped(DUPLICATE, "an entry with this name was already extracted") from None
    except IsADirectoryError:
        raise EntrySkipped(PATH_CONFLICT, "a directory with this name exists") from None

    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while block := source.read(_COPY_BLOCK_BYTES):
                written += len(block)
                _check_entry_size(written, compressed_bytes, budget.limits)
                budget.add_bytes(len(block))
                out.write(block)
            os.fchmod(out.fileno(), _FILE_MODE | (0o100 if mode & stat.S_IXUSR else 0))
    except EntrySkipped:
        # The partial bytes stay in the total: they were written, and the bomb check must see
        # them.
        target.unlink()
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        raise
    return written


def _check_entry_size(written: int, compressed_bytes: int | None, limits: ArchiveLimits) -> None:
    if written > limits.max_file_bytes:
        raise EntrySkipped(
            TOO_LARGE, f"file is larger than {limits.max_file_bytes} bytes (max_file_bytes)"
        )
    if (
        compressed_bytes is not None
        and written > limits.ratio_floor_bytes
        and written > limits.max_ratio * max(compressed_bytes, 1)
    ):
        raise EntrySkipped(
            COMPRESSION_RATIO,
            f"file expands more than {limits.max_ratio} times its compressed size (max_ratio)",
        )
