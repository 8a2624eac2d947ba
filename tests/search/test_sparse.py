"""Tests of the identifier-aware BM25 sparse vectors (search/sparse.py)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from search.clients.vectorstore.base import SparseVector
from search.sparse import (
    DEFAULT_AVG_LEN,
    INDEX_SPACE,
    K1,
    B,
    document_sparse_vector,
    query_sparse_vector,
    search_terms,
    token_index,
    tokenize_code,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
C08_FILES = REPO_ROOT.parent / "shared" / "cases" / "files" / "C08"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parseHTTPResponse", ["parse", "http", "response", "parsehttpresponse"]),
        ("frobnicate_widget", ["frobnicate", "widget", "frobnicate_widget"]),
        ("cloneDeep", ["clone", "deep", "clonedeep"]),
        ("XMLHttpRequest", ["xml", "http", "request", "xmlhttprequest"]),
        ("getHTTP2Server", ["get", "http", "server", "gethttp2server"]),
        ("sha256_digest", ["sha", "256", "digest", "sha256_digest"]),
        ("größe_berechnen", ["größe", "berechnen", "größe_berechnen"]),
        ("__init__", ["init"]),
        ("value", ["value"]),
        ("x = a + b", []),
        ("self.value = self.value", ["self", "value", "self", "value"]),
    ],
)
def test_tokenize_code_splits_identifiers_and_keeps_whole_when_compound(
    text: str, expected: list[str]
) -> None:
    assert tokenize_code(text) == expected


def test_tokenize_code_gives_same_tokens_when_text_is_decomposed_unicode() -> None:
    composed = "def café_menu(): pass"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed

    assert tokenize_code(decomposed) == tokenize_code(composed)
    assert "café_menu" in tokenize_code(decomposed)


def test_token_index_is_stable_when_computed_in_other_processes() -> None:
    tokens = ["self", "frobnicate_widget", "größe", "clonedeep", "http"]
    here = [token_index(token) for token in tokens]
    script = (
        "import json, sys; from search.sparse import token_index; "
        "print(json.dumps([token_index(t) for t in json.loads(sys.argv[1])]))"
    )

    # A fixed hash seed in the child (ours is random) shows Python's salted hash() plays no part.
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", script, json.dumps(tokens)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO_ROOT,
    )

    assert json.loads(completed.stdout) == here


def test_token_index_keeps_published_value_when_code_changes() -> None:
    # Stored vectors depend on this mapping; changing it silently breaks every index.
    assert token_index("self") == 220100249
    assert token_index("frobnicate_widget") == 646919008
    assert token_index("größe") == 553044056


def test_document_sparse_vector_has_sorted_unique_indices_when_tokens_repeat() -> None:
    vector = document_sparse_vector("self.value = self.value\nreturn self.other_value")

    assert vector.indices == sorted(set(vector.indices))
    assert len(vector.values) == len(vector.indices)
    assert all(0 <= index < INDEX_SPACE for index in vector.indices)
    assert isinstance(vector, SparseVector)


def test_document_sparse_vector_applies_bm25_saturation_when_term_repeats() -> None:
    text = "alpha " * 3 + "beta"
    vector = document_sparse_vector(text)
    values = dict(zip(vector.indices, vector.values, strict=True))

    length_norm = K1 * (1 - B + B * 4 / DEFAULT_AVG_LEN)
    assert values[token_index("alpha")] == pytest.approx(3 * (K1 + 1) / (3 + length_norm))
    assert values[token_index("beta")] == pytest.approx(1 * (K1 + 1) / (1 + length_norm))


def test_document_sparse_vector_saturates_below_k1_plus_one_when_term_is_frequent() -> None:
    def weight(repeats: int) -> float:
        vector = document_sparse_vector("gamma " * repeats)
        return vector.values[vector.indices.index(token_index("gamma"))]

    weights = [weight(n) for n in (1, 2, 10, 1000)]

    # In a document of only this term the value still grows, but ever more slowly.
    assert weights == sorted(weights)
    assert weights[1] - weights[0] > weights[3] - weights[2]
    assert weights[-1] < K1 + 1


def test_document_sparse_vector_weights_term_lower_when_document_is_longer() -> None:
    short = document_sparse_vector("delta epsilon")
    long = document_sparse_vector("delta " + "filler " * 300)
    index = token_index("delta")

    short_value = short.values[short.indices.index(index)]
    long_value = long.values[long.indices.index(index)]
    assert long_value < short_value


def test_query_sparse_vector_has_unit_weights_when_tokens_repeat() -> None:
    vector = query_sparse_vector("self self frobnicate_widget")

    # Words are stemmed (Porter2: frobnicate -> frobnic); whole identifiers stay exact.
    expected = sorted({token_index(t) for t in ("self", "frobnic", "widget", "frobnicate_widget")})
    assert vector.indices == expected
    assert vector.values == [1.0] * len(expected)


def test_sparse_vectors_are_empty_when_text_has_no_tokens() -> None:
    assert document_sparse_vector("  + - = ; ").indices == []
    assert query_sparse_vector("").values == []


def _windows(path: Path, lines_per_window: int = 40) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        (path.name, "\n".join(lines[start : start + lines_per_window]))
        for start in range(0, len(lines), lines_per_window)
    ]


def _rank_with_idf(chunks: list[tuple[str, str]], query: str) -> list[tuple[str, str]]:
    """Rank chunks as Qdrant does for a sparse vector declared with the ``idf`` modifier."""
    documents = [document_sparse_vector(f"{name}\n{text}") for name, text in chunks]
    frequencies = Counter(index for doc in documents for index in doc.indices)
    total = len(documents)

    def idf(index: int) -> float:
        df = frequencies[index]
        return math.log(1 + (total - df + 0.5) / (df + 0.5))

    vector = query_sparse_vector(query)
    scores = []
    for doc in documents:
        values = dict(zip(doc.indices, doc.values, strict=True))
        scores.append(
            sum(
                idf(i) * w * values.get(i, 0.0)
                for i, w in zip(vector.indices, vector.values, strict=True)
            )
        )
    order = sorted(range(total), key=lambda row: -scores[row])
    return [chunks[row] for row in order]


@pytest.mark.parametrize("files", [("a.py", "b.py", "c.py"), ("a.py", "c.py")])
def test_rare_identifier_chunk_ranks_first_when_idf_is_applied(files: tuple[str, ...]) -> None:
    assert C08_FILES.is_dir(), f"case files missing: {C08_FILES}"
    chunks = [chunk for name in files for chunk in _windows(C08_FILES / name)]

    ranked = _rank_with_idf(chunks, "frobnicate_widget self")

    top_name, top_text = ranked[0]
    assert top_name == "a.py"
    assert "def frobnicate_widget(self)" in top_text


def test_query_sparse_vector_drops_english_function_words_when_query_has_content() -> None:
    vector = query_sparse_vector("merge the defaults into a config")

    assert token_index("the") not in vector.indices
    assert token_index("into") not in vector.indices
    # Words go in stemmed (Porter2: merge -> merg).
    assert token_index("merg") in vector.indices
    assert token_index("config") in vector.indices


def test_query_sparse_vector_keeps_function_words_when_query_has_nothing_else() -> None:
    vector = query_sparse_vector("this")

    assert vector.indices == [token_index("this")]


def test_document_sparse_vector_keeps_function_words_when_they_are_code() -> None:
    vector = document_sparse_vector("if this.is_ready: return this")

    assert token_index("this") in vector.indices
    assert token_index("is_ready") in vector.indices


def test_inflected_query_words_meet_the_code_words_they_come_from() -> None:
    document = document_sparse_vector("def flatten(values):\n    return iterate(values)")
    query = query_sparse_vector("flattening a value while iterating")

    shared = set(document.indices) & set(query.indices)
    assert shared == {token_index(t) for t in ("flatten", "valu", "iter")}


def test_identifiers_and_non_english_words_are_not_stemmed() -> None:
    assert search_terms("parse_args größe_berechnen HTTP2Errors") == [
        "pars",
        "arg",
        "parse_args",
        "größe",
        "berechnen",
        "größe_berechnen",
        "http",
        "error",
        "http2errors",
    ]


def test_the_chunks_own_name_counts_twice() -> None:
    text = "lodash/baseFlatten.js baseFlatten function baseFlatten(array) { return array }"
    plain = document_sparse_vector(text)
    named = document_sparse_vector(text, name="baseFlatten")

    def weight(vector, term):
        return dict(zip(vector.indices, vector.values, strict=True))[token_index(term)]

    # Name terms gain weight against the body's terms: "flatten" over "array".
    assert weight(named, "flatten") / weight(named, "array") > (
        weight(plain, "flatten") / weight(plain, "array")
    )


def test_a_chunks_vector_indexes_its_path_name_and_code_with_the_name_counted_twice() -> None:
    from search.ingest.chunking import Chunk
    from search.sparse import chunk_sparse_vector

    chunk = Chunk(
        path="jinja2/lexer.py",
        language="python",
        start_line=10,
        end_line=11,
        kind="method",
        symbol="TokenStream.push",
        name="push",
        context="jinja2/lexer.py > TokenStream > push",
        signature="def push(self, token):",
        text="def push(self, token):\n    self.pushed.append(token)",
        chunk_index=0,
    )

    vector = chunk_sparse_vector(chunk)
    weights = dict(zip(vector.indices, vector.values, strict=True))

    # Path, name and code terms are all indexed.
    assert {token_index(t) for t in ("lexer", "stream", "push", "append")} <= set(weights)
    # "stream" appears once in the name only, "append" once in the code only: counted twice,
    # the name's term weighs more.
    assert weights[token_index("stream")] > weights[token_index("append")]
