"""Fuse dense, head and sparse candidates into one ranking, with boosts for exact matches.

Dense similarity and BM25 scores live on different scales, so each list is min-max normalised
before a weighted sum. Plain reciprocal-rank fusion loses to dense alone on natural-language
queries in our measurements (docs/benchmarks.md); a weighted sum keeps the embeddings in the
lead while sparse lifts exact identifiers and error strings. The head list ranks chunks by how
close their name and signature alone are to the query (:mod:`search.chunk_heads`). Words of
the query that name a chunk weigh in through the sparse terms, where the chunk's name counts
twice (:mod:`search.sparse`); a separate name-match boost measured no better on top of that.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from search.clients.vectorstore.base import SearchHit
from search.query_language import ParsedQuery

# Weights when the head list is present, from a coarse global grid on the shared relevance set
# (each of dense/sparse/head in steps of 0.1; docs/benchmarks.md): the two embeddings together
# keep 0.7, as dense alone had before heads existed.
DENSE_WEIGHT = 0.3
SPARSE_WEIGHT = 0.3
HEAD_WEIGHT = 0.4
# Weights for points stored before head vectors existed (no head list at all).
DENSE_ONLY_WEIGHT = 0.7
SPARSE_WITHOUT_HEAD_WEIGHT = 0.3
# A chunk that defines the identifier the user typed goes first; a chunk containing the exact
# quoted phrase or error string comes next.
DEFINITION_BOOST = 1.0
PHRASE_BOOST = 0.5
# A phrase the user put in quotes is a requirement more than a hint: chunks containing it go
# ahead of every chunk that does not.
QUOTED_PHRASE_BOOST = 2.0
# An unquoted query of this many words that appears verbatim in a chunk is almost always a
# pasted error message or log line: treat it like a quoted phrase.
VERBATIM_MIN_WORDS = 3


@dataclass
class Candidate:
    hit: SearchHit
    dense: float = 0.0
    sparse: float = 0.0
    head: float = 0.0
    score: float = 0.0


def _normalise(hits: Sequence[SearchHit]) -> dict[str, float]:
    if not hits:
        return {}
    scores = [hit.score for hit in hits]
    low, high = min(scores), max(scores)
    span = high - low
    if span <= 0:
        return {hit.id: 1.0 for hit in hits}
    return {hit.id: (hit.score - low) / span for hit in hits}


def fuse(
    dense_hits: Sequence[SearchHit],
    sparse_hits: Sequence[SearchHit],
    head_hits: Sequence[SearchHit] = (),
    *,
    dense_weight: float | None = None,
    sparse_weight: float | None = None,
    head_weight: float = HEAD_WEIGHT,
) -> list[Candidate]:
    """Return the union of the lists, best first by the weighted sum of normalised scores.

    Without a head list (points stored before heads existed, or a single-signal measurement)
    the dense and sparse weights default to the two-signal balance.
    """
    if dense_weight is None:
        dense_weight = DENSE_WEIGHT if head_hits else DENSE_ONLY_WEIGHT
    if sparse_weight is None:
        sparse_weight = SPARSE_WEIGHT if head_hits else SPARSE_WITHOUT_HEAD_WEIGHT
    candidates: dict[str, Candidate] = {}
    for hits, signal in ((dense_hits, "dense"), (sparse_hits, "sparse"), (head_hits, "head")):
        by_id = {hit.id: hit for hit in hits}
        for hit_id, value in _normalise(hits).items():
            candidate = candidates.setdefault(hit_id, Candidate(hit=by_id[hit_id]))
            setattr(candidate, signal, value)
    for candidate in candidates.values():
        candidate.score = (
            dense_weight * candidate.dense
            + sparse_weight * candidate.sparse
            + head_weight * candidate.head
        )
    return sorted(candidates.values(), key=lambda c: c.score, reverse=True)


def _matches_definition(candidate: Candidate, names: Iterable[str]) -> bool:
    payload = candidate.hit.payload
    symbol = str(payload.get("symbol") or "")
    name = str(payload.get("name") or "")
    for wanted in names:
        if not wanted:
            continue
        if wanted in (name, symbol) or symbol.endswith(f".{wanted}"):
            return True
    return False


def apply_boosts(candidates: list[Candidate], parsed: ParsedQuery) -> list[Candidate]:
    names = list(parsed.symbols)
    if parsed.is_identifier:
        names.append(parsed.text.split(".")[-1])
        names.append(parsed.text)
    definition_words = re.match(r"^(?:def|class|function|func|fn)\s+([\w$]+)$", parsed.text)
    if definition_words:
        names.append(definition_words.group(1))
    phrases = [_spaced_pattern(p.lower()) for p in parsed.phrases]
    verbatim = None
    if not parsed.phrases and len(parsed.text.split()) >= VERBATIM_MIN_WORDS:
        verbatim = _spaced_pattern(parsed.text.lower())
    for candidate in candidates:
        if names and _matches_definition(candidate, names):
            candidate.score += DEFINITION_BOOST
        if phrases or verbatim:
            text = str(candidate.hit.payload.get("text") or "").lower()
            if phrases and all(phrase.search(text) for phrase in phrases):
                candidate.score += QUOTED_PHRASE_BOOST
            elif verbatim and verbatim.search(text):
                candidate.score += PHRASE_BOOST
    return sorted(candidates, key=lambda c: c.score, reverse=True)


def _spaced_pattern(phrase: str) -> re.Pattern[str]:
    """Match the phrase's words in order with any run of whitespace between them.

    One compiled pattern per query, instead of collapsing the whitespace of every candidate's
    text: the same answer, at a third of the boosting time (bench/search_latency.py).
    """
    return re.compile(r"\s+".join(re.escape(word) for word in phrase.split()))


def path_allowed(path: str, parsed: ParsedQuery) -> bool:
    if parsed.paths and not any(_glob(path, pattern) for pattern in parsed.paths):
        return False
    return not any(_glob(path, pattern) for pattern in parsed.exclude_paths)


def _glob(path: str, pattern: str) -> bool:
    # A bare directory or file name matches anywhere in the path, like most code hosts do.
    if not any(ch in pattern for ch in "*?["):
        return pattern in path
    candidates = [pattern, f"*/{pattern}"]
    if pattern.startswith(("*/", "**/")):
        # "*/http/*" should also match "http/cookie.py" at the repository root.
        candidates.append(pattern.split("/", 1)[1])
    return any(fnmatch.fnmatchcase(path, candidate) for candidate in candidates)
