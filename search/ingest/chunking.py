"""Cut a decoded source file into chunks: exact line spans with their symbol and context.

Chunk layout for a file with a grammar:

* every function, method and class is a chunk whose span is exactly the definition (Python:
  decorators included; JavaScript: the whole top-level statement);
* a class longer than ``max_chunk_lines`` gets a header chunk (class line up to its first
  member) plus chunks for the lines between its members, instead of one chunk for all of it;
* any unit longer than ``max_chunk_lines`` is cut into overlapping windows that keep its symbol;
* a file of at most ``max_chunk_lines`` lines also gets one "module" chunk covering the whole
  file; in a longer file the code between top-level units becomes "module" chunks.

Files without a grammar, and files tree-sitter cannot handle, are cut into overlapping "window"
chunks. Every non-blank line lands in at least one chunk, and every chunk's text is exactly the
lines ``start_line..end_line`` of the normalised text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from search.ingest.decoding import SourceFile
from search.ingest.units import CLASS, SUPPORTED_LANGUAGES, Unit, find_units

logger = logging.getLogger(__name__)

MODULE = "module"
WINDOW = "window"
# U+203A, as in "click/core.py \u203a Context \u203a invoke"; a ">" would read as code.
CONTEXT_SEPARATOR = " \u203a "

# When two chunks cover the same lines, keep the one that says more about them.
_KIND_RANK = {"method": 0, "function": 1, CLASS: 2, MODULE: 3, WINDOW: 4}


@dataclass(frozen=True)
class Chunk:
    """An exact line span of one file (1-based, inclusive) with its symbol and context."""

    path: str
    language: str
    start_line: int
    end_line: int
    kind: str  # "function", "method", "class", "module" or "window"
    symbol: str  # qualified name ("Class.method", "outer.inner", "Hash.prototype.clear")
    name: str  # bare identifier; "" for module and window chunks
    context: str  # path, classes and function joined by CONTEXT_SEPARATOR
    signature: str  # the definition's opening line(s), whitespace collapsed
    text: str
    chunk_index: int

    @property
    def line_count(self) -> int:
        """Return the number of lines the chunk spans."""
        return self.end_line - self.start_line + 1


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str
    symbol: str = ""
    name: str = ""
    scope: tuple[str, ...] = ()
    signature: str = ""


def chunk_source(
    source: SourceFile,
    *,
    max_chunk_lines: int = 80,
    window_lines: int = 40,
    overlap_lines: int = 10,
) -> list[Chunk]:
    """Return the chunks of ``source`` ordered by position, ``chunk_index`` counting from 0.

    Guarantee exact spans (text == lines start..end of ``source.text``), no chunk longer than
    ``max_chunk_lines``, and every non-blank line in at least one chunk. Never raise for file
    content: a grammar failure falls back to line windows. Raise ValueError for inconsistent
    sizes (overlap must be smaller than the window, the window at most ``max_chunk_lines``).
    """
    if not 0 <= overlap_lines < window_lines <= max_chunk_lines:
        raise ValueError(
            "Chunk sizes must satisfy 0 <= overlap_lines < window_lines <= max_chunk_lines; "
            f"got {overlap_lines}, {window_lines}, {max_chunk_lines}."
        )
    lines = source.lines
    if not lines:
        return []

    sizes = (max_chunk_lines, window_lines, overlap_lines)
    units = _units_or_none(source)
    if units is None:
        spans = list(_gap_spans(lines, 1, len(lines), [], WINDOW, sizes))
    else:
        spans = list(_file_spans(lines, units, sizes))
    return _to_chunks(source, lines, spans)


def defined_symbols(chunks: Iterable[Chunk]) -> list[str]:
    """Return the distinct symbols defined by the chunks, in order of first appearance."""
    seen: dict[str, None] = {}
    for chunk in chunks:
        if chunk.symbol:
            seen.setdefault(chunk.symbol, None)
    return list(seen)


def _units_or_none(source: SourceFile) -> list[Unit] | None:
    if source.language not in SUPPORTED_LANGUAGES:
        return None
    try:
        return find_units(source.text, source.language)
    except (ValueError, RuntimeError, KeyError):
        # A grammar that cannot load or parse must not lose the file: windows still index it.
        logger.warning(
            "search.ingest.chunking.parse_failed",
            extra={"path": source.path, "language": source.language},
            exc_info=True,
        )
        return None


def _file_spans(
    lines: list[str], units: list[Unit], sizes: tuple[int, int, int]
) -> Iterator[_Span]:
    max_chunk_lines = sizes[0]
    if len(lines) <= max_chunk_lines:
        trimmed = _trim_blank(lines, 1, len(lines))
        if trimmed is not None:
            yield _Span(trimmed[0], trimmed[1], MODULE)
    else:
        yield from _gap_spans(lines, 1, len(lines), units, MODULE, sizes)
    for unit in units:
        yield from _unit_spans(lines, unit, sizes)


def _unit_spans(lines: list[str], unit: Unit, sizes: tuple[int, int, int]) -> Iterator[_Span]:
    max_chunk_lines = sizes[0]
    template = _Span(
        unit.start_line,
        unit.end_line,
        unit.kind,
        unit.symbol,
        unit.name,
        tuple(unit.symbol.split(".")),
        unit.signature,
    )
    length = unit.end_line - unit.start_line + 1
    if unit.kind == CLASS and unit.children and length > max_chunk_lines:
        yield from _split_class(lines, unit, template, sizes)
    else:
        yield from _windowed(template, unit.start_line, unit.end_line, sizes)
    for child in unit.children:
        yield from _unit_spans(lines, child, sizes)


def _split_class(
    lines: list[str], unit: Unit, template: _Span, sizes: tuple[int, int, int]
) -> Iterator[_Span]:
    first_member = min(child.start_line for child in unit.children)
    header_end = max(unit.start_line, first_member - 1)
    trimmed = _trim_blank(lines, unit.start_line, header_end)
    header = trimmed[1] if trimmed is not None else unit.start_line
    yield from _windowed(template, unit.start_line, header, sizes)
    # The lines between members (class attributes, closing brace) stay findable too.
    for span in _gap_spans(lines, header + 1, unit.end_line, unit.children, CLASS, sizes):
        yield _replace_range(template, span.start, span.end)


def _gap_spans(
    lines: list[str],
    start: int,
    end: int,
    units: list[Unit],
    kind: str,
    sizes: tuple[int, int, int],
) -> Iterator[_Span]:
    """Yield spans for the runs of lines in start..end not covered by ``units``."""
    covered = [(u.start_line, u.end_line) for u in units]
    covered.sort()
    cursor = start
    runs: list[tuple[int, int]] = []
    for unit_start, unit_end in covered:
        if unit_start > cursor:
            runs.append((cursor, min(unit_start - 1, end)))
        cursor = max(cursor, unit_end + 1)
    if cursor <= end:
        runs.append((cursor, end))
    template = _Span(start, end, kind)
    for run_start, run_end in runs:
        trimmed = _trim_blank(lines, run_start, run_end)
        if trimmed is not None:
            yield from _windowed(template, trimmed[0], trimmed[1], sizes)


def _windowed(
    template: _Span, start: int, end: int, sizes: tuple[int, int, int]
) -> Iterator[_Span]:
    max_chunk_lines, window_lines, overlap_lines = sizes
    if end - start + 1 <= max_chunk_lines:
        yield _replace_range(template, start, end)
        return
    step = window_lines - overlap_lines
    window_start = start
    while True:
        window_end = min(window_start + window_lines - 1, end)
        yield _replace_range(template, window_start, window_end)
        if window_end >= end:
            return
        window_start += step


def _replace_range(template: _Span, start: int, end: int) -> _Span:
    return _Span(
        start, end, template.kind, template.symbol, template.name, template.scope,
        template.signature,
    )  # fmt: skip


def _trim_blank(lines: list[str], start: int, end: int) -> tuple[int, int] | None:
    while start <= end and not lines[start - 1].strip():
        start += 1
    while end >= start and not lines[end - 1].strip():
        end -= 1
    return (start, end) if start <= end else None


def _to_chunks(source: SourceFile, lines: list[str], spans: list[_Span]) -> list[Chunk]:
    best: dict[tuple[int, int], _Span] = {}
    for span in spans:
        key = (span.start, span.end)
        kept = best.get(key)
        if kept is None or _KIND_RANK[span.kind] < _KIND_RANK[kept.kind]:
            best[key] = span
    ordered = sorted(best.values(), key=lambda s: (s.start, -s.end, _KIND_RANK[s.kind]))
    return [
        Chunk(
            path=source.path,
            language=source.language,
            start_line=span.start,
            end_line=span.end,
            kind=span.kind,
            symbol=span.symbol,
            name=span.name,
            context=CONTEXT_SEPARATOR.join((source.path, *span.scope)),
            signature=span.signature,
            text="\n".join(lines[span.start - 1 : span.end]),
            chunk_index=index,
        )
        for index, span in enumerate(ordered)
    ]
