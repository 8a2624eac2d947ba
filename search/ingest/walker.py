"""List the files of a repository checkout that are worth indexing, and say why others are not.

The walk is deterministic (sorted posix paths) and never follows symbolic links. Every file or
folder left out is reported as a :class:`SkippedFile` with a stable reason code, so an index
job can show exactly what it did not index (case C10: nothing may be dropped silently).
Whole folders that are never descended (VCS metadata, vendored dependencies, gitignored
folders) are reported once, with a trailing "/" on the path, instead of once per file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from search.ingest.languages import detect_language, has_binary_extension, is_prose

logger = logging.getLogger(__name__)

# Reason codes for SkippedFile; job reports and the UI group by them.
GITIGNORED = "gitignored"
VCS_DIR = "vcs_dir"
VENDORED_DIR = "vendored_dir"
LOCKFILE = "lockfile"
MINIFIED = "minified"
TOO_LARGE = "too_large"
BINARY = "binary"
SYMLINK = "symlink"
SYMLINK_OUTSIDE_ROOT = "symlink_outside_root"
SPECIAL_FILE = "special_file"
UNREADABLE = "unreadable"
DECODE_FAILED = "decode_failed"

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".jj"})

# Third-party code and tool caches. "dist" and "build" are deliberately absent: they are
# normally gitignored when generated, and when committed they are often real source (for
# example a package named build/), so .gitignore decides for them.
VENDORED_DIRS = frozenset(
    {
        "node_modules",
        "bower_components",
        "jspm_packages",
        "vendor",
        "third_party",
        "Pods",
        "Carthage",
        ".venv",
        "venv",
        "site-packages",
        "__pycache__",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)

LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "Cargo.lock",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "composer.lock",
        "Gemfile.lock",
        "go.sum",
        "mix.lock",
        "flake.lock",
        "Podfile.lock",
        "packages.lock.json",
    }
)

_MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.css", "-min.js", ".bundle.min.js")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class FileLimits:
    """Per-file bounds applied while walking a checkout."""

    # Larger files are generated code or data far more often than hand-written source.
    max_file_bytes: int = 1024 * 1024
    # Git's own binary heuristic looks for a NUL in the first 8000 bytes; we use 8 KiB.
    sniff_bytes: int = 8 * 1024
    # How much of a file the minified-code heuristic looks at.
    minified_sample_bytes: int = 64 * 1024
    # Hand-written code averages well under 100 characters a line; minified bundles run to
    # thousands. 300 leaves room for data tables and long string literals.
    max_average_line_length: int = 300
    # The heuristic needs enough text to be meaningful; a short one-line file is fine.
    minified_min_sample_bytes: int = 2 * 1024
    extra_excluded_dirs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FileEntry:
    """A file to index: posix path relative to the root, size on disk and language."""

    path: str
    size_bytes: int
    language: str


@dataclass(frozen=True)
class SkippedFile:
    """A file or folder left out of the index, with a stable reason code and a detail."""

    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class _IgnoreRules:
    base: str  # posix folder the .gitignore lives in, "" for the root
    spec: pathspec.GitIgnoreSpec


def walk_repository(root: Path, *, limits: FileLimits) -> Iterator[FileEntry | SkippedFile]:
    """Yield every file under ``root`` as a FileEntry or a SkippedFile, in sorted path order.

    Honour root and nested .gitignore files (gitwildmatch, negations, deeper files win). Never
    follow symbolic links and never descend VCS or vendored folders. Raise ``NotADirectoryError``
    when ``root`` is not a directory.
    """
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    real_root = Path(os.path.realpath(root))
    yield from _walk_dir(real_root, real_root, "", [], limits)


def _walk_dir(
    real_root: Path,
    directory: Path,
    rel_dir: str,
    inherited: list[_IgnoreRules],
    limits: FileLimits,
) -> Iterator[FileEntry | SkippedFile]:
    rules = [*inherited, *_load_gitignore(directory, rel_dir)]
    try:
        with os.scandir(directory) as scan:
            entries = list(scan)
    except OSError as exc:
        yield SkippedFile(rel_dir + "/", UNREADABLE, f"cannot list folder: {exc.strerror}")
        return

    # Sorting children by name + "/" for folders makes the depth-first order equal to the
    # sorted order of the full paths ("a-b" sorts before "a/x").
    def order(entry: os.DirEntry[str]) -> str:
        is_dir = entry.is_dir(follow_symlinks=False)
        return entry.name + "/" if is_dir else entry.name

    for entry in sorted(entries, key=order):
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if entry.is_symlink():
            yield _skip_symlink(real_root, Path(entry.path), rel)
        elif entry.is_dir(follow_symlinks=False):
            yield from _visit_dir(real_root, entry, rel, rules, limits)
        elif entry.is_file(follow_symlinks=False):
            yield _classify_file(Path(entry.path), rel, rules, limits)
        else:
            yield SkippedFile(rel, SPECIAL_FILE, "not a regular file (device, socket or FIFO)")


def _visit_dir(
    real_root: Path,
    entry: os.DirEntry[str],
    rel: str,
    rules: list[_IgnoreRules],
    limits: FileLimits,
) -> Iterator[FileEntry | SkippedFile]:
    if entry.name in VCS_DIRS:
        yield SkippedFile(rel + "/", VCS_DIR, "version-control metadata")
    elif entry.name in VENDORED_DIRS or entry.name in limits.extra_excluded_dirs:
        yield SkippedFile(rel + "/", VENDORED_DIR, "vendored dependencies or tool cache")
    elif entry.name.endswith(".egg-info"):
        yield SkippedFile(rel + "/", VENDORED_DIR, "packaging metadata")
    elif _is_ignored(rules, rel, is_dir=True):
        yield SkippedFile(rel + "/", GITIGNORED, "folder matches a .gitignore pattern")
    else:
        yield from _walk_dir(real_root, Path(entry.path), rel, rules, limits)


def _skip_symlink(real_root: Path, link: Path, rel: str) -> SkippedFile:
    target = Path(os.path.realpath(link))
    if not target.is_relative_to(real_root) or not target.exists():
        return SkippedFile(rel, SYMLINK_OUTSIDE_ROOT, "link target is outside the repository")
    # The target is inside the repository and is indexed under its own path; indexing the link
    # too would only duplicate results.
    return SkippedFile(rel, SYMLINK, f"link to {target.relative_to(real_root).as_posix()}")


def _classify_file(
    path: Path, rel: str, rules: list[_IgnoreRules], limits: FileLimits
) -> FileEntry | SkippedFile:
    name = path.name
    if _is_ignored(rules, rel, is_dir=False):
        return SkippedFile(rel, GITIGNORED, "file matches a .gitignore pattern")
    if name in LOCKFILES:
        return SkippedFile(rel, LOCKFILE, "dependency lockfile")
    if name.lower().endswith(_MINIFIED_SUFFIXES):
        return SkippedFile(rel, MINIFIED, "minified file name")
    if has_binary_extension(rel):
        return SkippedFile(rel, BINARY, f"binary file type {path.suffix.lower()}")
    try:
        size = path.stat(follow_symlinks=False).st_size
        if size > limits.max_file_bytes:
            return SkippedFile(
                rel, TOO_LARGE, f"{size} bytes is over the {limits.max_file_bytes}-byte limit"
            )
        with path.open("rb") as handle:
            head = handle.read(max(limits.sniff_bytes, limits.minified_sample_bytes))
    except OSError as exc:
        return SkippedFile(rel, UNREADABLE, f"cannot read file: {exc.strerror}")

    if looks_binary(head[: limits.sniff_bytes]):
        return SkippedFile(rel, BINARY, "NUL byte in the first bytes of the file")
    if not is_prose(rel) and _looks_minified(head, limits):
        return SkippedFile(
            rel, MINIFIED, f"average line length over {limits.max_average_line_length}"
        )
    return FileEntry(path=rel, size_bytes=size, language=detect_language(rel))


def looks_binary(head: bytes) -> bool:
    """Return True when the leading bytes hold a NUL and the file is not BOM-marked UTF-16."""
    return b"\x00" in head and not head.startswith(_UTF16_BOMS)


def _looks_minified(head: bytes, limits: FileLimits) -> bool:
    if len(head) < limits.minified_min_sample_bytes or head.startswith(_UTF16_BOMS):
        return False
    line_count = head.count(b"\n") + 1
    return len(head) / line_count > limits.max_average_line_length


def _load_gitignore(directory: Path, rel_dir: str) -> list[_IgnoreRules]:
    gitignore = directory / ".gitignore"
    if gitignore.is_symlink() or not gitignore.is_file():
        return []
    try:
        lines = gitignore.read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        logger.warning("search.ingest.gitignore.unreadable", extra={"folder": rel_dir or "."})
        return []
    return [_IgnoreRules(base=rel_dir, spec=pathspec.GitIgnoreSpec.from_lines(lines))]


def _is_ignored(rules: list[_IgnoreRules], rel: str, *, is_dir: bool) -> bool:
    # Like git, the deepest .gitignore with a matching pattern decides; within one file the
    # last matching pattern wins, which GitIgnoreSpec already applies.
    for rule in reversed(rules):
        sub = rel[len(rule.base) + 1 :] if rule.base else rel
        result = rule.spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return result.include
    return False
