"""Decoding and normalisation: encodings (C10), line endings (C13), Unicode NFC."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pytest

from search.ingest.decoding import SourceFile, count_lines, load_source, split_lines
from search.ingest.languages import detect_language
from search.ingest.walker import FileEntry, SkippedFile

C10 = Path("/work/shared/cases/files/C10")
C13 = Path("/work/shared/cases/files/C13")
C13_FILES = ("lf.py", "crlf.py", "cr_only.py", "mixed_no_final_newline.py")


def _load(root: Path, rel: str) -> SourceFile:
    size = (root / rel).stat().st_size
    loaded = load_source(root, FileEntry(rel, size, detect_language(rel)))
    assert isinstance(loaded, SourceFile)
    return loaded


@pytest.mark.parametrize("name", C13_FILES)
def test_load_source_puts_target_function_on_line_7_when_line_endings_vary(name):
    source = _load(C13, name)

    assert source.line_count == 8
    assert source.lines[6] == "def target_function():"
    assert source.lines[7].strip() == "return 2"
    assert "\r" not in source.text


def test_load_source_gives_identical_text_when_only_line_endings_differ():
    texts = {_load(C13, name).text.rstrip("\n") for name in C13_FILES}

    assert len(texts) == 1


def test_load_source_falls_back_to_cp1252_when_file_is_latin1():
    source = _load(C10, "latin1_module.py")

    assert source.decode_fallback is True
    assert source.encoding == "cp1252"
    assert "Façade résumé" in source.text
    assert "def parse_resume_fr(text):" in source.text


def test_load_source_strips_the_bom_when_file_starts_with_utf8_bom():
    source = _load(C10, "utf8_bom_module.py")

    assert source.lines[0] == "def bom_first_function():"
    assert "\ufeff" not in source.text
    assert source.decode_fallback is False


def test_load_source_decodes_utf16_when_file_has_a_utf16le_bom():
    source = _load(C10, "utf16le_module.py")

    assert source.encoding == "utf-16-le"
    assert source.lines[0] == "def utf16_function():"


def test_load_source_normalises_to_nfc_when_identifier_is_written_in_nfd():
    source = _load(C10, "unicode_idents.py")
    nfc_name = unicodedata.normalize("NFC", "cafe\u0301_menu")

    assert nfc_name == "caf\u00e9_menu"
    assert f"def {nfc_name}():" in source.text
    assert "e\u0301" not in source.text
    assert "größe_berechnen" in source.text


def test_load_source_hashes_raw_bytes_when_text_is_normalised():
    raw = (C13 / "crlf.py").read_bytes()

    source = _load(C13, "crlf.py")

    assert source.content_hash == hashlib.sha256(raw).hexdigest()
    assert source.size_bytes == len(raw)


def test_load_source_reports_binary_when_decoded_text_contains_nul(tmp_path):
    (tmp_path / "odd.py").write_bytes("a\x00b\n".encode("utf-16"))

    loaded = load_source(tmp_path, FileEntry("odd.py", 10, "python"))

    assert isinstance(loaded, SkippedFile)
    assert loaded.reason == "binary"


def test_load_source_reports_unreadable_when_path_became_a_symlink(tmp_path):
    (tmp_path / "target.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "target.py")

    loaded = load_source(tmp_path, FileEntry("link.py", 6, "python"))

    assert isinstance(loaded, SkippedFile)
    assert loaded.reason == "unreadable"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("a", 1), ("a\n", 1), ("a\nb", 2), ("a\n\n", 2), ("\u2028x\n", 1)],
)
def test_count_lines_matches_split_lines_when_text_ends_in_various_ways(text, expected):
    assert count_lines(text) == expected
    assert len(split_lines(text)) == expected
