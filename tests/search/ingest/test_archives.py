"""Archive extraction against the hostile C12 archives and hand-made edge cases."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from search.ingest.archives import (
    ArchiveLimits,
    EntrySkipped,
    detect_archive_format,
    extract_archive,
    safe_member_path,
)
from search.ingest.exceptions import ArchiveRejected, IngestError

C12 = Path("/work/shared/cases/files/C12")
C12_NAMES = (
    "zipslip_C12_dotdot.txt",
    "zipslip_C12_nested.txt",
    "zipslip_C12_absolute.txt",
    "zipslip_C12_backslash.txt",
    "zipslip_C12_via_symlink.txt",
    "tarslip_C12_dotdot.txt",
    "tarslip_C12_absolute.txt",
    "tarslip_C12_via_symlink.txt",
)


def _escaped_copies(tmp_path: Path) -> list[Path]:
    """Return C12 payload files found outside the test's own folder."""
    places = {Path("/tmp"), Path("/"), Path.cwd(), *tmp_path.parents}
    found = []
    for place in places:
        for name in C12_NAMES:
            candidate = place / name
            if candidate.exists() and not candidate.is_relative_to(tmp_path):
                found.append(candidate)
    return found


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]


def _reasons(report) -> dict[str, str]:
    return {entry.name: entry.reason for entry in report.skipped}


def test_extract_archive_keeps_only_safe_entries_when_zip_is_a_zip_slip(tmp_path):
    dest = tmp_path / "out"

    report = extract_archive(C12 / "zipslip.zip", dest, limits=ArchiveLimits())

    assert [f.path for f in report.files] == ["repo/ok.py"]
    assert (dest / "repo" / "ok.py").read_text().startswith("def ok")
    assert _reasons(report) == {
        "../../zipslip_C12_dotdot.txt": "path_traversal",
        "repo/../../../zipslip_C12_nested.txt": "path_traversal",
        "/tmp/zipslip_C12_absolute.txt": "absolute_path",
        "..\\..\\zipslip_C12_backslash.txt": "path_traversal",
        "repo/evil_link": "link",
        "repo/evil_link/zipslip_C12_via_symlink.txt": "link",
        "repo/passwd_link.py": "link",
    }
    assert _escaped_copies(tmp_path) == []
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_extract_archive_never_exposes_etc_passwd_when_archive_links_to_it(tmp_path):
    for name in ("zipslip.zip", "tarslip.tar.gz"):
        dest = tmp_path / name
        extract_archive(C12 / name, dest, limits=ArchiveLimits())

        for path in _all_files(dest):
            assert not path.is_symlink()
            assert "root:x:0:0" not in path.read_text(errors="replace")


def test_extract_archive_skips_links_and_strips_setuid_when_tar_is_a_tar_slip(tmp_path):
    dest = tmp_path / "out"

    report = extract_archive(C12 / "tarslip.tar.gz", dest, limits=ArchiveLimits())

    assert report.archive_format == "tar.gz"
    assert sorted(f.path for f in report.files) == ["repo/ok.py", "repo/setuid_tool"]
    assert _reasons(report) == {
        "../../tarslip_C12_dotdot.txt": "path_traversal",
        "/tmp/tarslip_C12_absolute.txt": "absolute_path",
        "repo/evil_link": "link",
        "repo/evil_link/tarslip_C12_via_symlink.txt": "link",
        "repo/hard_passwd": "link",
    }
    tool_mode = (dest / "repo" / "setuid_tool").stat().st_mode
    assert tool_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IXOTH) == 0
    assert not (dest / "repo" / "hard_passwd").exists()
    assert _escaped_copies(tmp_path) == []


def test_extract_archive_stops_the_entry_early_when_zip_is_a_ratio_bomb(tmp_path):
    dest = tmp_path / "out"
    limits = ArchiveLimits()

    report = extract_archive(C12 / "ratio_bomb.zip", dest, limits=limits)

    assert report.files == []
    assert [(s.name, s.reason) for s in report.skipped] == [("repo/zeros.py", "compression_ratio")]
    assert not (dest / "repo" / "zeros.py").exists()
    # Stopped far before the 50 MiB the entry expands to.
    assert report.total_bytes <= limits.max_file_bytes
    assert sum(p.stat().st_size for p in _all_files(dest)) == 0


def test_extract_archive_skips_the_file_when_it_exceeds_max_file_bytes(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("big.py", b"x = 1\n" * 400)
        zf.writestr("small.py", b"y = 2\n")

    report = extract_archive(archive, tmp_path / "out", limits=ArchiveLimits(max_file_bytes=1000))

    assert [f.path for f in report.files] == ["small.py"]
    assert [(s.name, s.reason) for s in report.skipped] == [("big.py", "too_large")]


def test_extract_archive_rejects_and_cleans_up_when_total_bytes_exceed_the_limit(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for index in range(5):
            zf.writestr(f"f{index}.py", b"z" * 400)
    dest = tmp_path / "out"

    with pytest.raises(ArchiveRejected) as caught:
        extract_archive(archive, dest, limits=ArchiveLimits(max_total_bytes=1000))

    assert caught.value.code == "archive_rejected"
    assert caught.value.status_code == 400
    assert "max_total_bytes" in caught.value.message
    assert list(dest.iterdir()) == []


def test_extract_archive_rejects_before_writing_when_entry_count_exceeds_max_files(tmp_path):
    archive = tmp_path / "count.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for index in range(4):
            zf.writestr(f"f{index}.py", b"a = 1\n")
    dest = tmp_path / "out"

    with pytest.raises(ArchiveRejected, match="max_files"):
        extract_archive(archive, dest, limits=ArchiveLimits(max_files=3))

    assert list(dest.iterdir()) == []


def test_extract_archive_rejects_when_a_tar_stream_expands_past_max_ratio(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    payload = b"\0" * (3 * 1024 * 1024)
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("zeros.py")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))

    with pytest.raises(ArchiveRejected, match="max_ratio"):
        extract_archive(archive, tmp_path / "out", limits=ArchiveLimits())


def test_detect_archive_format_uses_content_when_the_name_lies(tmp_path):
    disguised = tmp_path / "upload.bin"
    with tarfile.open(disguised, "w:gz") as tf:
        info = tarfile.TarInfo("a.py")
        data = b"a = 1\n"
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))

    assert detect_archive_format(disguised) == "tar.gz"


def test_extract_archive_rejects_naming_accepted_formats_when_file_is_not_an_archive(tmp_path):
    fake = tmp_path / "source.zip"
    fake.write_bytes(b"def not_an_archive():\n    pass\n")

    with pytest.raises(ArchiveRejected) as caught:
        extract_archive(fake, tmp_path / "out", limits=ArchiveLimits())

    assert ".zip, .tar, .tar.gz or .tgz" in caught.value.message


def test_extract_archive_skips_entry_when_name_has_a_drive_letter(tmp_path):
    archive = tmp_path / "win.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("C:/Windows/evil.py", b"x = 1\n")
        zf.writestr("C:relative.py", b"x = 1\n")

    report = extract_archive(archive, tmp_path / "out", limits=ArchiveLimits())

    assert report.files == []
    assert {s.reason for s in report.skipped} == {"absolute_path"}


def test_extract_archive_skips_special_files_when_tar_holds_a_fifo(tmp_path):
    archive = tmp_path / "fifo.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("pipe")
        info.type = tarfile.FIFOTYPE
        tf.addfile(info)

    report = extract_archive(archive, tmp_path / "out", limits=ArchiveLimits())

    assert report.archive_format == "tar"
    assert [(s.name, s.reason) for s in report.skipped] == [("pipe", "special_file")]
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_archive_refuses_when_destination_is_not_empty(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "existing.py").write_text("a = 1\n")

    with pytest.raises(IngestError) as caught:
        extract_archive(C12 / "zipslip.zip", dest, limits=ArchiveLimits())

    assert caught.value.code == "extraction_target_invalid"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.py", "path_traversal"),
        ("a/../../x.py", "path_traversal"),
        ("a\\..\\..\\x.py", "path_traversal"),
        ("/etc/cron.d/x", "absolute_path"),
        ("\\\\server\\share\\x.py", "absolute_path"),
        ("D:\\x.py", "absolute_path"),
        ("./", "invalid_name"),
        ("a\x00b.py", "invalid_name"),
    ],
)
def test_safe_member_path_refuses_the_name_when_it_could_leave_the_destination(name, reason):
    with pytest.raises(EntrySkipped) as caught:
        safe_member_path(name)

    assert caught.value.reason == reason


def test_safe_member_path_normalises_separators_when_name_is_harmless():
    assert safe_member_path("./src\\pkg//mod.py") == "src/pkg/mod.py"
