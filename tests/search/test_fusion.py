"""Fusion of the dense, sparse and head rankings (search.ranking.fuse)."""

from __future__ import annotations

import pytest

from search.chunk_heads import head_text
from search.clients.vectorstore.base import SearchHit
from search.ranking import (
    DENSE_ONLY_WEIGHT,
    DENSE_WEIGHT,
    HEAD_WEIGHT,
    SPARSE_WEIGHT,
    SPARSE_WITHOUT_HEAD_WEIGHT,
    fuse,
)


def hits(*scored: tuple[str, float]) -> list[SearchHit]:
    return [SearchHit(id=hit_id, score=score, payload={"path": hit_id}) for hit_id, score in scored]


def test_weighted_sum_of_min_max_normalised_scores_with_heads():
    dense = hits(("a", 0.9), ("b", 0.5), ("c", 0.1))
    sparse = hits(("b", 12.0), ("c", 2.0))
    head = hits(("c", 0.8), ("a", 0.4))

    fused = {c.hit.id: c for c in fuse(dense, sparse, head)}

    # a: dense 1.0, head 0.0; b: dense 0.5, sparse 1.0; c: sparse 0.0, head 1.0.
    assert fused["a"].score == pytest.approx(DENSE_WEIGHT)
    assert fused["b"].score == pytest.approx(0.5 * DENSE_WEIGHT + SPARSE_WEIGHT)
    assert fused["c"].score == pytest.approx(HEAD_WEIGHT)
    assert (fused["b"].dense, fused["b"].sparse, fused["b"].head) == (0.5, 1.0, 0.0)


def test_a_chunk_found_only_by_its_head_becomes_a_candidate():
    fused = fuse(hits(("a", 0.9), ("b", 0.1)), [], hits(("named", 0.9), ("a", 0.2)))

    assert "named" in [c.hit.id for c in fused]


def test_without_a_head_list_the_two_signal_balance_applies():
    fused = {c.hit.id: c for c in fuse(hits(("a", 1.0), ("b", 0.0)), hits(("b", 3.0), ("a", 1.0)))}

    assert fused["a"].score == pytest.approx(DENSE_ONLY_WEIGHT)
    assert fused["b"].score == pytest.approx(SPARSE_WITHOUT_HEAD_WEIGHT)


@pytest.mark.parametrize(
    ("symbol", "signature", "path", "expected"),
    [
        (
            "TokenStream.push",
            "def push(self, token: Token) -> None:",
            "jinja2/lexer.py",
            "token stream tokenstream push. def push(self, token: Token) -> None:",
        ),
        ("", "", "lodash/_baseClamp.js", "lodash/_baseClamp.js."),
    ],
)
def test_head_text_names_the_chunk_in_words(symbol, signature, path, expected):
    assert head_text(path=path, symbol=symbol, signature=signature) == expected
