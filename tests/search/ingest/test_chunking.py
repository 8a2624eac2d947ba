"""Chunk boundaries, symbols and coverage (cases C10 and C13, one sample per grammar)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from search.ingest.chunking import CONTEXT_SEPARATOR, Chunk, chunk_source, defined_symbols
from search.ingest.decoding import SourceFile, count_lines, load_source, normalise_text
from search.ingest.languages import detect_language
from search.ingest.walker import FileEntry

C10 = Path("/work/shared/cases/files/C10")
C13 = Path("/work/shared/cases/files/C13")


def _source(path: str, text: str) -> SourceFile:
    text = normalise_text(textwrap.dedent(text).lstrip("\n"))
    return SourceFile(
        path=path,
        language=detect_language(path),
        text=text,
        content_hash="",
        size_bytes=len(text.encode()),
        encoding="utf-8",
        decode_fallback=False,
        line_count=count_lines(text),
    )


def _load(root: Path, rel: str) -> SourceFile:
    loaded = load_source(root, FileEntry(rel, (root / rel).stat().st_size, detect_language(rel)))
    assert isinstance(loaded, SourceFile)
    return loaded


def _spans(chunks: list[Chunk]) -> dict[str, tuple[int, int, str]]:
    """Map symbol -> (start, end, kind) for definition chunks that are not windows."""
    return {c.symbol: (c.start_line, c.end_line, c.kind) for c in chunks if c.symbol}


def _assert_exact_and_covering(source: SourceFile, chunks: list[Chunk]) -> None:
    lines = source.lines
    covered: set[int] = set()
    for index, chunk in enumerate(chunks):
        assert chunk.chunk_index == index
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        covered.update(range(chunk.start_line, chunk.end_line + 1))
    non_blank = {n for n, line in enumerate(lines, start=1) if line.strip()}
    assert non_blank <= covered


# --- Cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lf.py", "crlf.py", "cr_only.py", "mixed_no_final_newline.py"])
def test_chunk_source_reports_target_function_on_lines_7_to_8_when_line_endings_vary(name):
    chunks = chunk_source(_load(C13, name))

    target = [c for c in chunks if c.symbol == "target_function"]
    assert [(c.start_line, c.end_line, c.kind) for c in target] == [(7, 8, "function")]
    assert target[0].signature == "def target_function():"
    assert max(c.end_line for c in chunks) <= 8
    assert not any("\r" in c.text for c in chunks)


def test_chunk_source_gives_equal_chunk_counts_when_only_crlf_differs():
    lf = chunk_source(_load(C13, "lf.py"))
    crlf = chunk_source(_load(C13, "crlf.py"))

    assert len(lf) == len(crlf)
    assert [(c.start_line, c.end_line) for c in lf] == [(c.start_line, c.end_line) for c in crlf]


def test_chunk_source_puts_bom_function_on_line_1_without_bom_in_symbol():
    chunks = chunk_source(_load(C10, "utf8_bom_module.py"))

    (chunk,) = [c for c in chunks if c.name == "bom_first_function"]
    assert chunk.symbol == "bom_first_function"
    assert (chunk.start_line, chunk.end_line) == (1, 2)
    assert all("\ufeff" not in c.text for c in chunks)


def test_chunk_source_finds_utf16_function_when_file_is_utf16le():
    chunks = chunk_source(_load(C10, "utf16le_module.py"))

    assert "utf16_function" in defined_symbols(chunks)


def test_chunk_source_chunks_latin1_function_when_decoding_fell_back():
    source = _load(C10, "latin1_module.py")

    chunks = chunk_source(source)

    assert source.decode_fallback is True
    assert _spans(chunks)["parse_resume_fr"] == (4, 5, "function")


def test_chunk_source_defines_nfc_symbol_when_source_is_written_in_nfd():
    chunks = chunk_source(_load(C10, "unicode_idents.py"))

    symbols = defined_symbols(chunks)
    assert "caf\u00e9_menu" in symbols
    assert "größe_berechnen" in symbols
    assert "Ωmega" in symbols


# --- Python ---------------------------------------------------------------------------------

PYTHON_CLASS = """
import functools


class Greeter:
    \"\"\"Say hello.\"\"\"

    greeting = "hi"

    @staticmethod
    @functools.cache
    def make(name):
        return Greeter()

    def greet(self):
        def inner():
            return self.greeting

        return inner()
"""


def test_chunk_source_includes_decorators_and_nests_symbols_when_python_class_has_methods():
    source = _source("pkg/greet.py", PYTHON_CLASS)

    chunks = chunk_source(source)

    assert _spans(chunks) == {
        "Greeter": (4, 18, "class"),
        "Greeter.make": (9, 12, "method"),
        "Greeter.greet": (14, 18, "method"),
        "Greeter.greet.inner": (15, 16, "function"),
    }
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["Greeter.make"].signature == "def make(name):"
    assert by_symbol["Greeter.greet.inner"].context == CONTEXT_SEPARATOR.join(
        ["pkg/greet.py", "Greeter", "greet", "inner"]
    )
    assert chunks[0].kind == "module" and (chunks[0].start_line, chunks[0].end_line) == (1, 18)
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_splits_long_class_into_header_and_members_when_over_the_limit():
    body = "\n".join(f"    def m{i}(self):\n        return {i}\n" for i in range(40))
    source = _source("big.py", f"class Big:\n    LIMIT = 3\n\n{body}")

    chunks = chunk_source(source, max_chunk_lines=80)

    class_chunks = [c for c in chunks if c.kind == "class"]
    assert [(c.start_line, c.end_line) for c in class_chunks] == [(1, 2)]
    assert _spans(chunks)["Big.m0"] == (4, 5, "method")
    assert _spans(chunks)["Big.m39"] == (121, 122, "method")
    assert all(c.line_count <= 80 for c in chunks)
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_windows_a_long_function_with_overlap_when_it_exceeds_max_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(299))
    source = _source("long.py", f"def long_one():\n{body}\n")

    chunks = chunk_source(source, max_chunk_lines=80, window_lines=40, overlap_lines=10)

    parts = [c for c in chunks if c.symbol == "long_one"]
    assert [(c.start_line, c.end_line) for c in parts] == [
        (1, 40), (31, 70), (61, 100), (91, 130), (121, 160), (151, 190), (181, 220),
        (211, 250), (241, 280), (271, 300),
    ]  # fmt: skip
    assert {c.kind for c in parts} == {"function"}
    assert {c.signature for c in parts} == {"def long_one():"}
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_puts_code_between_units_in_module_chunks_when_file_is_long():
    functions = "\n\n".join(f"def f{i}():\n    return {i}" for i in range(30))
    source = _source("mod.py", f"import os\nimport sys\n\n{functions}\n\nMAIN = f0()\n")

    chunks = chunk_source(source)

    modules = [(c.start_line, c.end_line) for c in chunks if c.kind == "module"]
    # 30 two-line functions with a blank line between them span lines 4-92.
    assert modules == [(1, 2), (94, 94)]
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_windows_markdown_when_language_has_no_grammar():
    text = "\n".join(f"Paragraph {i} of the guide." for i in range(100)) + "\n"
    source = _source("docs/guide.md", text)

    chunks = chunk_source(source, max_chunk_lines=80, window_lines=40, overlap_lines=10)

    assert source.language == "text"
    assert [(c.start_line, c.end_line) for c in chunks] == [
        (1, 40), (31, 70), (61, 100)
    ]  # fmt: skip
    assert {c.kind for c in chunks} == {"window"}
    assert {c.symbol for c in chunks} == {""}
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_rejects_sizes_when_overlap_is_not_below_the_window():
    with pytest.raises(ValueError, match="overlap_lines"):
        chunk_source(_source("a.py", "x = 1\n"), window_lines=10, overlap_lines=10)


def test_chunk_source_returns_nothing_when_file_is_empty():
    assert chunk_source(_source("empty.py", "")) == []


# --- One sample per grammar -----------------------------------------------------------------

SAMPLES = {
    "lib/add.js": (
        """
        var curry = require('./curry');

        var add = curry(function(a, b) {
          return a + b;
        });

        function Hash(entries) {
          this.size = 0;
        }

        Hash.prototype.clear = function() {
          this.size = 0;
        };

        class Stack {
          push(value) {
            return value;
          }
        }

        module.exports = add;
        """,
        {
            "add": (3, 5, "function"),
            "Hash": (7, 9, "function"),
            "Hash.prototype.clear": (11, 13, "method"),
            "Stack": (15, 19, "class"),
            "Stack.push": (16, 18, "method"),
        },
    ),
    "src/shape.ts": (
        """
        export interface Shape {
          area(): number;
        }

        export class Circle implements Shape {
          constructor(private r: number) {}

          area(): number {
            return Math.PI * this.r ** 2;
          }
        }

        export const double = (x: number): number => x * 2;
        """,
        {
            "Shape": (1, 3, "class"),
            "Circle": (5, 11, "class"),
            "Circle.constructor": (6, 6, "method"),
            "Circle.area": (8, 10, "method"),
            "double": (13, 13, "function"),
        },
    ),
    "src/button.tsx": (
        """
        import React from "react";

        export function Button(props: { label: string }) {
          return <button>{props.label}</button>;
        }

        const List = ({ items }: { items: string[] }) => (
          <ul>{items.map((i) => <li>{i}</li>)}</ul>
        );
        """,
        {"Button": (3, 5, "function"), "List": (7, 9, "function")},
    ),
    "shapes/point.go": (
        """
        package shapes

        type Point struct {
        \tX int
        }

        func (p *Point) Move(dx int) {
        \tp.X += dx
        }

        func Origin() Point {
        \treturn Point{}
        }
        """,
        {"Point": (3, 5, "class"), "Point.Move": (7, 9, "method"), "Origin": (11, 13, "function")},
    ),
    "demo/Account.java": (
        """
        package demo;

        public class Account {
            private int balance;

            @Override
            public String toString() {
                return "Account";
            }

            public Account(int start) {
                balance = start;
            }
        }
        """,
        {
            "Account": (3, 14, "class"),
            "Account.toString": (6, 9, "method"),
            "Account.Account": (11, 13, "method"),
        },
    ),
    "src/meters.rs": (
        """
        use std::fmt;

        #[derive(Debug)]
        pub struct Meters(f64);

        impl fmt::Display for Meters {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{}m", self.0)
            }
        }

        fn main() {
            println!("{}", Meters(1.0));
        }
        """,
        {"Meters": (6, 10, "class"), "Meters.fmt": (7, 9, "method"), "main": (12, 14, "function")},
    ),
    "src/find.c": (
        """
        #include <stdio.h>

        struct point {
            int x;
        };

        static int *find(int *items, int n)
        {
            return items + n;
        }
        """,
        {"point": (3, 5, "class"), "find": (7, 10, "function")},
    ),
    "src/geo.cpp": (
        """
        namespace geo {

        class Shape {
         public:
          virtual double area() const { return 0; }
        };

        template <typename T>
        T twice(T value) {
          return value * 2;
        }

        }  // namespace geo
        """,
        {"Shape": (3, 6, "class"), "Shape.area": (5, 5, "method"), "twice": (8, 11, "function")},
    ),
    "lib/invoice.rb": (
        """
        module Billing
          class Invoice
            def total(items)
              items.sum
            end

            def self.build
              new
            end
          end
        end
        """,
        {
            "Billing": (1, 11, "class"),
            "Billing.Invoice": (2, 10, "class"),
            "Billing.Invoice.total": (3, 5, "method"),
            "Billing.Invoice.build": (7, 9, "method"),
        },
    ),
}


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_chunk_source_finds_exact_definition_spans_when_language_has_a_grammar(path):
    text, expected = SAMPLES[path]
    source = _source(path, text)

    chunks = chunk_source(source)

    # Rust's struct Meters and impl Meters share a symbol; the impl is the later chunk.
    assert _spans(chunks) == expected
    _assert_exact_and_covering(source, chunks)


def test_chunk_source_includes_rust_attributes_when_they_precede_an_item():
    text, _ = SAMPLES["src/meters.rs"]

    chunks = chunk_source(_source("src/meters.rs", text))

    struct = [c for c in chunks if c.symbol == "Meters" and c.start_line == 3]
    assert [(c.end_line, c.signature) for c in struct] == [(4, "pub struct Meters")]


def test_chunk_source_keeps_signature_and_context_when_js_statement_wraps_a_function():
    text, _ = SAMPLES["lib/add.js"]

    chunks = chunk_source(_source("lib/add.js", text))

    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["add"].signature == "var add = curry(function(a, b) {"
    assert by_symbol["Hash.prototype.clear"].name == "clear"
    assert by_symbol["Hash.prototype.clear"].context == CONTEXT_SEPARATOR.join(
        ["lib/add.js", "Hash", "prototype", "clear"]
    )
    assert by_symbol["Stack.push"].context == CONTEXT_SEPARATOR.join(
        ["lib/add.js", "Stack", "push"]
    )
    assert CONTEXT_SEPARATOR == " \u203a "


def test_defined_symbols_lists_each_symbol_once_in_file_order():
    chunks = chunk_source(_source("pkg/greet.py", PYTHON_CLASS))

    assert defined_symbols(chunks) == [
        "Greeter",
        "Greeter.make",
        "Greeter.greet",
        "Greeter.greet.inner",
    ]


def test_chunk_source_gives_identical_chunks_when_called_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    sources = [_source(path, text) for path, (text, _) in sorted(SAMPLES.items())] * 4
    expected = [chunk_source(source) for source in sources]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(chunk_source, sources))

    assert results == expected
