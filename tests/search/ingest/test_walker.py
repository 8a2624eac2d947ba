"""Repository walking: ignore rules, skips with reasons, sorted order, no link following."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from search.ingest.walker import FileEntry, FileLimits, SkippedFile, walk_repository

C10 = Path("/work/shared/cases/files/C10")


def _walk(root: Path, **limits) -> tuple[dict[str, FileEntry], dict[str, SkippedFile]]:
    entries: dict[str, FileEntry] = {}
    skipped: dict[str, SkippedFile] = {}
    for item in walk_repository(root, limits=FileLimits(**limits)):
        if isinstance(item, FileEntry):
            entries[item.path] = item
        else:
            skipped[item.path] = item
    return entries, skipped


def _write(root: Path, rel: str, content: str | bytes = "x = 1\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def test_walk_repository_skips_binaries_as_binary_when_given_the_c10_files(tmp_path):
    shutil.copytree(C10, tmp_path / "repo")

    entries, skipped = _walk(tmp_path / "repo")

    assert skipped["nul_bytes.py"].reason == "binary"
    assert skipped["fake_image.png"].reason == "binary"
    assert set(entries) == {
        "latin1_module.py",
        "unicode_idents.py",
        "utf16le_module.py",
        "utf8_bom_module.py",
    }
    assert entries["utf16le_module.py"].language == "python"


def test_walk_repository_yields_paths_in_sorted_order_when_names_sort_around_slash(tmp_path):
    for rel in ("a/x.py", "a-b.py", "a.py", "b/c/d.py", "B.py", "a/y/z.py"):
        _write(tmp_path, rel)

    paths = [item.path for item in walk_repository(tmp_path, limits=FileLimits())]

    assert paths == sorted(paths)
    assert set(paths) == {"a/x.py", "a-b.py", "a.py", "b/c/d.py", "B.py", "a/y/z.py"}


def test_walk_repository_honours_nested_gitignore_and_negation_when_patterns_conflict(tmp_path):
    _write(tmp_path, ".gitignore", "*.log\nbuild/\n/secret.py\n")
    _write(tmp_path, "app.log")
    _write(tmp_path, "build/out.py")
    _write(tmp_path, "secret.py")
    _write(tmp_path, "pkg/secret.py")
    _write(tmp_path, "pkg/.gitignore", "!keep.log\ngenerated_*.py\n")
    _write(tmp_path, "pkg/keep.log")
    _write(tmp_path, "pkg/generated_api.py")
    _write(tmp_path, "other/generated_api.py")

    entries, skipped = _walk(tmp_path)

    assert skipped["app.log"].reason == "gitignored"
    assert skipped["build/"].reason == "gitignored"
    assert skipped["secret.py"].reason == "gitignored"
    assert skipped["pkg/generated_api.py"].reason == "gitignored"
    assert "pkg/secret.py" in entries
    assert "pkg/keep.log" in entries
    assert "other/generated_api.py" in entries
    assert "build/out.py" not in entries and "build/out.py" not in skipped


def test_walk_repository_reports_vcs_and_vendored_folders_once_when_present(tmp_path):
    _write(tmp_path, ".git/config", "[core]\n")
    _write(tmp_path, "node_modules/left-pad/index.js")
    _write(tmp_path, "vendor/lib.go", "package lib\n")
    _write(tmp_path, "src/.venv/lib.py")
    _write(tmp_path, "src/main.py")

    entries, skipped = _walk(tmp_path)

    assert list(entries) == ["src/main.py"]
    assert skipped == {
        ".git/": SkippedFile(".git/", "vcs_dir", "version-control metadata"),
        "node_modules/": SkippedFile(
            "node_modules/", "vendored_dir", "vendored dependencies or tool cache"
        ),
        "src/.venv/": SkippedFile(
            "src/.venv/", "vendored_dir", "vendored dependencies or tool cache"
        ),
        "vendor/": SkippedFile("vendor/", "vendored_dir", "vendored dependencies or tool cache"),
    }


def test_walk_repository_skips_lockfiles_minified_and_oversized_files_with_reasons(tmp_path):
    _write(tmp_path, "package-lock.json", "{}\n")
    _write(tmp_path, "app.min.js", "var a=1;\n")
    _write(tmp_path, "bundle.js", "var a=1;" * 2000 + "\n")
    _write(tmp_path, "big.py", "x = 1\n" * 500)
    _write(tmp_path, "README.md", "word " * 1000 + "\n")

    _, skipped = _walk(tmp_path, max_file_bytes=2000)

    assert skipped["package-lock.json"].reason == "lockfile"
    assert skipped["app.min.js"].reason == "minified"
    assert skipped["big.py"].reason == "too_large"
    # bundle.js is over max_file_bytes too; check the minified rule with a larger limit.
    entries_large, skipped_large = _walk(tmp_path, max_file_bytes=1_000_000)
    assert skipped_large["bundle.js"].reason == "minified"
    # Long prose lines are normal in Markdown.
    assert entries_large["README.md"].language == "text"


def test_walk_repository_never_follows_symlinks_when_links_point_in_or_out(tmp_path):
    repo = tmp_path / "repo"
    outside = tmp_path / "outside"
    _write(outside, "secret.py", "TOKEN = 1\n")
    _write(repo, "real.py")
    os.symlink(outside / "secret.py", repo / "leak.py")
    os.symlink(outside, repo / "leakdir")
    os.symlink(repo / "real.py", repo / "alias.py")
    os.symlink(repo / "missing.py", repo / "dangling.py")

    entries, skipped = _walk(repo)

    assert list(entries) == ["real.py"]
    assert skipped["leak.py"].reason == "symlink_outside_root"
    assert skipped["leakdir"].reason == "symlink_outside_root"
    assert skipped["dangling.py"].reason == "symlink_outside_root"
    assert skipped["alias.py"] == SkippedFile("alias.py", "symlink", "link to real.py")


def test_walk_repository_keeps_utf16_files_when_they_contain_nul_bytes_after_a_bom(tmp_path):
    _write(tmp_path, "u16.py", "def f():\n    pass\n".encode("utf-16"))
    _write(tmp_path, "raw16.py", "def f():\n    pass\n".encode("utf-16-le"))

    entries, skipped = _walk(tmp_path)

    assert "u16.py" in entries
    assert skipped["raw16.py"].reason == "binary"
