"""Read a walked file and turn its bytes into normalised text with exact line numbers.

Normalisation rules, each chosen so that what users type matches what is indexed:

* Encodings: a UTF-8 BOM is dropped; UTF-16 with a BOM is decoded; otherwise strict UTF-8; and
  if that fails, cp1252 (or latin-1 for the bytes cp1252 leaves undefined), flagged with
  ``decode_fallback=True`` so the job report can count it (case C10).
* Unicode is normalised to NFC, so an identifier written with combining accents (NFD) is found
  when typed with precomposed letters.
* CRLF and lone CR become LF, one line break for one line break, so line numbers are those an
  editor shows (case C13). Other Unicode separators (U+2028, NEL, form feed) are kept as they
  are: git and most editors do not count them as line breaks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from search.ingest.languages import detect_language
from search.ingest.walker import BINARY, DECODE_FAILED, UNREADABLE, FileEntry, SkippedFile

logger = logging.getLogger(__name__)

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_LE_BOM = b"\xff\xfe"
_UTF16_BE_BOM = b"\xfe\xff"


@dataclass(frozen=True)
class SourceFile:
    """A decoded file: ``text`` uses "\\n" line breaks only and is NFC-normalised."""

    path: str
    language: str
    text: str
    content_hash: str
    size_bytes: int
    encoding: str
    decode_fallback: bool
    line_count: int

    @property
    def lines(self) -> list[str]:
        """Return the lines without their "\\n"; ``len(lines) == line_count``."""
        return split_lines(self.text)


@dataclass(frozen=True)
class DecodedText:
    """The outcome of decoding raw bytes."""

    text: str
    encoding: str
    decode_fallback: bool


def load_source(root: Path, entry: FileEntry) -> SourceFile | SkippedFile:
    """Read ``entry`` under ``root`` and return it decoded and normalised.

    Return a SkippedFile (reason unreadable, binary or decode_failed) instead of raising when
    the file cannot be read, turned out to be binary after decoding, or is not text. The file
    is opened without following a symbolic link swapped in after the walk.
    """
    try:
        raw = _read_no_follow(root / entry.path)
    except OSError as exc:
        return SkippedFile(entry.path, UNREADABLE, f"cannot read file: {exc.strerror}")

    decoded = decode_bytes(raw)
    if decoded is None:
        return SkippedFile(entry.path, DECODE_FAILED, "UTF-16 content that does not decode")
    text = normalise_text(decoded.text)
    if "\x00" in text:
        return SkippedFile(entry.path, BINARY, "NUL character after decoding")
    if decoded.decode_fallback:
        logger.info(
            "search.ingest.decode.fallback",
            extra={"path": entry.path, "encoding": decoded.encoding},
        )

    return SourceFile(
        path=entry.path,
        language=detect_language(entry.path),
        text=text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        size_bytes=len(raw),
        encoding=decoded.encoding,
        decode_fallback=decoded.decode_fallback,
        line_count=count_lines(text),
    )


def decode_bytes(raw: bytes) -> DecodedText | None:
    """Decode raw file bytes by BOM, then strict UTF-8, then cp1252/latin-1.

    Return None only for BOM-marked UTF-16 that is malformed; any other bytes decode.
    """
    if raw.startswith(_UTF8_BOM):
        try:
            return DecodedText(raw[3:].decode("utf-8"), "utf-8-sig", decode_fallback=False)
        except UnicodeDecodeError:
            return _legacy(raw[3:])
    for bom, codec in ((_UTF16_LE_BOM, "utf-16-le"), (_UTF16_BE_BOM, "utf-16-be")):
        if raw.startswith(bom):
            try:
                return DecodedText(raw[2:].decode(codec), codec, decode_fallback=False)
            except UnicodeDecodeError:
                return None
    try:
        return DecodedText(raw.decode("utf-8"), "utf-8", decode_fallback=False)
    except UnicodeDecodeError:
        return _legacy(raw)


def normalise_text(text: str) -> str:
    """Return ``text`` in NFC with CRLF and lone CR turned into LF, and no leading BOM."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    # A second BOM can survive when a BOM-marked file was re-saved with another BOM.
    return text.removeprefix("\ufeff")


def split_lines(text: str) -> list[str]:
    """Split normalised text into lines; a final "\\n" does not start an extra line."""
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def count_lines(text: str) -> int:
    """Return how many lines an editor shows for ``text`` (no phantom line after a final \\n)."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _legacy(raw: bytes) -> DecodedText:
    # cp1252 is what Windows editors wrote for Western text; five byte values are undefined in
    # it, and latin-1 maps every byte, so it is the last resort.
    try:
        return DecodedText(raw.decode("cp1252"), "cp1252", decode_fallback=True)
    except UnicodeDecodeError:
        return DecodedText(raw.decode("latin-1"), "latin-1", decode_fallback=True)


def _read_no_follow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
