"""Tests of the packaged ONNX embedder (search/embeddings.py), run on the real model."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from portal.exceptions import PortalError
from search import embeddings
from search.embeddings import (
    DEFAULT_EMBEDDING_MODEL,
    Embedder,
    OnnxMiniLMEmbedder,
    clear_embedder_cache,
    document_text,
    get_cached_embedder,
    load_embedder,
)

CODE_SAMPLES = [
    "def read_config(path):\n    with open(path) as handle:\n        return json.load(handle)",
    "function debounce(fn, wait) {\n  let timer;\n  return (...args) => {\n"
    "    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), wait);\n  };\n}",
    "class Stack:\n    def push(self, item):\n        self._items.append(item)\n\n"
    "    def pop(self):\n        return self._items.pop()",
    "x = 1",
    "",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def original() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder(cache_dir=None, threads=2)


@pytest.fixture(scope="module")
def optimised(cache_dir: Path) -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder(cache_dir=cache_dir, threads=2)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    clear_embedder_cache()
    yield
    clear_embedder_cache()


def test_embedder_returns_unit_float32_rows_of_dimension_384_when_embedding_documents(
    original: OnnxMiniLMEmbedder,
) -> None:
    vectors = original.embed_documents(CODE_SAMPLES)

    assert isinstance(original, Embedder)
    assert original.dimension == 384
    assert vectors.shape == (len(CODE_SAMPLES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embedder_returns_identical_vectors_when_called_twice(
    original: OnnxMiniLMEmbedder,
) -> None:
    first = original.embed_documents(CODE_SAMPLES)
    second = original.embed_documents(CODE_SAMPLES)

    np.testing.assert_array_equal(first, second)


def test_embed_documents_matches_one_by_one_results_when_texts_are_batched(
    original: OnnxMiniLMEmbedder,
) -> None:
    # Lengths differ a lot, so sorting by length reorders the batch internally.
    texts = [*CODE_SAMPLES, "return None\n" * 200, "sort an array of numbers"]

    batched = original.embed_documents(texts)
    one_by_one = np.vstack([original.embed_query(text) for text in texts])

    cosines = np.sum(batched * one_by_one, axis=1)
    assert cosines.min() > 0.999


@pytest.mark.parametrize("embedder_name", ["original", "optimised"])
def test_embed_query_on_its_own_session_equals_the_document_vector_exactly(
    embedder_name: str, request: pytest.FixtureRequest
) -> None:
    # Queries run on a one-thread session of their own; the vectors must be bit-identical to
    # the document session's, or rankings would shift against what is stored.
    embedder: OnnxMiniLMEmbedder = request.getfixturevalue(embedder_name)
    texts = [*CODE_SAMPLES, "parse the accept language header", "TemplateSyntaxError", "a " * 300]

    queries = np.vstack([embedder.embed_query(text) for text in texts])
    documents = np.vstack([embedder.embed_documents([text])[0] for text in texts])

    np.testing.assert_array_equal(queries, documents)


def test_embed_query_creates_its_session_once_with_one_thread(
    original: OnnxMiniLMEmbedder,
) -> None:
    original.embed_query("first")
    session = original._query_runner()
    original.embed_query("second")

    assert original._query_runner() is session
    assert session is not original._session
    assert session.get_session_options().intra_op_num_threads == 1


def test_embed_documents_keeps_input_order_when_input_spans_several_sort_windows() -> None:
    # 40 texts in sort windows of 16 and batches of 2: three windows, twenty batches.
    small = OnnxMiniLMEmbedder(
        cache_dir=None, max_tokens=32, threads=1, batch_size=2, sort_window=16
    )
    texts = [f"def handler_{i}(event):\n" + "    pass\n" * (i % 7) for i in range(40)]

    batched = small.embed_documents(texts)
    one_by_one = np.vstack([small.embed_query(text) for text in texts])

    assert np.sum(batched * one_by_one, axis=1).min() > 0.999


def test_embed_documents_returns_empty_matrix_when_no_texts(
    original: OnnxMiniLMEmbedder,
) -> None:
    assert original.embed_documents([]).shape == (0, 384)


def test_code_query_ranks_matching_snippet_first_when_other_snippets_are_unrelated(
    original: OnnxMiniLMEmbedder,
) -> None:
    snippets = [
        document_text(
            path="util/html.py",
            context="",
            symbol="escape_html",
            text="def escape_html(s):\n    return s.replace('&', '&amp;').replace('<', '&lt;')",
        ),
        document_text(
            path="net/retry.py",
            context="",
            symbol="retry_with_backoff",
            text="def retry_with_backoff(call, attempts=5):\n"
            "    for attempt in range(attempts):\n"
            "        try:\n            return call()\n"
            "        except ConnectionError:\n            time.sleep(2 ** attempt)",
        ),
        document_text(
            path="geometry/shapes.py",
            context="Circle",
            symbol="area",
            text="def area(self):\n    return math.pi * self.radius ** 2",
        ),
    ]
    vectors = original.embed_documents(snippets)

    for query, expected in [
        ("retry a network call with exponential backoff", 1),
        ("compute the area of a circle", 2),
        ("escape special characters for html", 0),
    ]:
        scores = vectors @ original.embed_query(query)
        assert int(np.argmax(scores)) == expected, query


def test_embedder_truncates_input_when_text_exceeds_max_tokens() -> None:
    short = OnnxMiniLMEmbedder(cache_dir=None, max_tokens=16, threads=1)

    assert short.token_counts(["word " * 100, "word"]) == [16, 3]
    assert short.embed_documents(["word " * 100]).shape == (1, 384)


@pytest.mark.parametrize("max_tokens", [0, 1, 513])
def test_embedder_raises_invalid_option_when_max_tokens_is_out_of_range(max_tokens: int) -> None:
    with pytest.raises(PortalError) as caught:
        OnnxMiniLMEmbedder(cache_dir=None, max_tokens=max_tokens)

    assert caught.value.code == "invalid_embedding_option"
    assert caught.value.field == "max_tokens"


def test_optimised_copy_gives_same_vectors_as_original_when_loaded(
    original: OnnxMiniLMEmbedder, optimised: OnnxMiniLMEmbedder, cache_dir: Path
) -> None:
    assert optimised.optimised
    assert not original.optimised
    # Only the finished copy is left behind: the temporary file was renamed into place.
    assert [path.suffix for path in cache_dir.iterdir()] == [".onnx"]

    cosines = np.sum(
        original.embed_documents(CODE_SAMPLES) * optimised.embed_documents(CODE_SAMPLES), axis=1
    )
    assert cosines.min() > 0.999


def test_optimised_copy_is_reused_when_embedder_is_loaded_again(
    optimised: OnnxMiniLMEmbedder, cache_dir: Path
) -> None:
    before = {path: path.stat().st_mtime_ns for path in cache_dir.iterdir()}

    again = OnnxMiniLMEmbedder(cache_dir=cache_dir, threads=1)

    assert again.optimised
    assert {path: path.stat().st_mtime_ns for path in cache_dir.iterdir()} == before


def test_optimised_copy_is_rejected_when_vectors_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No cosine can exceed 1, so the copy must fail the equivalence check.
    monkeypatch.setattr(embeddings, "OPTIMISED_MIN_COSINE", 1.01)

    with caplog.at_level(logging.WARNING, logger="search.embeddings"):
        embedder = OnnxMiniLMEmbedder(cache_dir=tmp_path, threads=1)

    assert not embedder.optimised
    assert [r.getMessage() for r in caplog.records] == ["search.embeddings.optimised_copy_rejected"]
    assert caplog.records[0].min_cosine > 0.999
    np.testing.assert_allclose(np.linalg.norm(embedder.embed_query("x = 1")), 1.0, atol=1e-5)


def test_embedder_falls_back_to_original_when_cached_copy_is_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, original: OnnxMiniLMEmbedder
) -> None:
    OnnxMiniLMEmbedder(cache_dir=tmp_path, threads=1)
    (copy,) = tmp_path.iterdir()
    copy.write_bytes(b"not an onnx model")

    with caplog.at_level(logging.WARNING, logger="search.embeddings"):
        embedder = OnnxMiniLMEmbedder(cache_dir=tmp_path, threads=1)

    assert not embedder.optimised
    assert "search.embeddings.optimised_copy_failed" in [r.getMessage() for r in caplog.records]
    np.testing.assert_allclose(
        embedder.embed_documents(CODE_SAMPLES), original.embed_documents(CODE_SAMPLES), atol=1e-5
    )


def test_embedder_gives_serial_results_when_called_from_several_threads(
    optimised: OnnxMiniLMEmbedder,
) -> None:
    inputs = [[f"{text}\n# variant {i}" for text in CODE_SAMPLES] for i in range(8)]
    expected = [optimised.embed_documents(texts) for texts in inputs]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(optimised.embed_documents, inputs))

    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_load_embedder_raises_unknown_model_error_when_name_is_not_registered(
    tmp_path: Path,
) -> None:
    with pytest.raises(PortalError) as caught:
        load_embedder("text-embedding-3-large", cache_dir=tmp_path)

    assert caught.value.code == "unknown_embedding_model"
    assert DEFAULT_EMBEDDING_MODEL in str(caught.value)
    assert "text-embedding-3-large" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_get_cached_embedder_returns_one_instance_when_called_twice(
    fresh_cache: None, cache_dir: Path
) -> None:
    first = get_cached_embedder(cache_dir=cache_dir, threads=1)
    second = get_cached_embedder(DEFAULT_EMBEDDING_MODEL, cache_dir=cache_dir, threads=1)
    other_limit = get_cached_embedder(cache_dir=cache_dir, threads=1, max_tokens=64)

    assert first is second
    assert other_limit is not first
    assert first.name == DEFAULT_EMBEDDING_MODEL


@pytest.mark.parametrize(
    ("context", "symbol", "header"),
    [
        ("Context", "command_path", "click/core.py :: Context.command_path"),
        ("Context.command_path", "command_path", "click/core.py :: Context.command_path"),
        ("", "make_context", "click/core.py :: make_context"),
        ("Context", "", "click/core.py :: Context"),
        ("", "", "click/core.py"),
    ],
)
def test_document_text_starts_with_path_and_qualified_name_when_names_are_given(
    context: str, symbol: str, header: str
) -> None:
    text = document_text(path="click/core.py", context=context, symbol=symbol, text="pass")

    assert text == f"{header}\npass"
