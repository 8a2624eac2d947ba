"""Identifier-aware BM25 sparse vectors for Qdrant sparse vectors with the IDF modifier.

BM25 has two halves. The engine supplies the inverse document frequency at query time, and
only when the sparse vector is declared with ``modifier: idf`` (without it, ubiquitous tokens
such as ``self`` outweigh the rare identifier a user typed). The document side must therefore
carry the other half, the saturated term frequency::

    tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avg_len))

``avg_len`` would be the corpus's mean document length. The engine does not expose it, and a
per-tenant value would change every stored vector as the corpus grows, so it is a fixed
constant (:data:`DEFAULT_AVG_LEN`), measured as the mean token count of function-sized chunks
on the eval corpus. The query side is 1.0 per distinct token, so a chunk's score is the sum of
``idf(token) * saturated_tf(token)`` over the query's tokens.

Terms are the tokens of :func:`tokenize_code` with English words reduced to their Snowball
(Porter2) stem, so "flattening" finds ``flatten`` and "values" finds ``value``; whole
identifiers (``parse_args``, ``cloneDeep``) stay exact. A chunk's own name counts twice
(:data:`NAME_REPEAT`), a cheap form of BM25F field weighting: "push a token back to the stream"
is about ``TokenStream.push`` more than about the chunks that merely call it. Stored vectors
depend on both, so :data:`TERM_SCHEME` numbers the scheme; repositories record it and a change
re-indexes them.

Token indices are a 31-bit slice of BLAKE2b over the UTF-8 token, identical in every process
and release (Python's ``hash()`` is salted per process). Two tokens can share an index: with
100,000 distinct tokens in one collection about two pairs collide, which merely merges their
statistics.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable

import Stemmer

from search.clients.vectorstore.base import SparseVector
from search.ingest.chunking import Chunk

K1 = 1.2
B = 0.75
# Tokens (as tokenize_code counts them, whole identifiers included) in a chunk of
# "path :: qualified name" + code: mean 51.5, median 30 over the eval corpus's 4,144 chunks of
# click, jinja2 and lodash. Keyword-only MRR@10 on that set: 0.349 with 30, 0.334 with 50,
# 0.311 with 100 (bm25s, with the true average: 0.322). 50 follows the mean; the gap to 30 is
# within the set's noise (~0.03), so it is not tuned further against the dev split.
DEFAULT_AVG_LEN = 50.0
INDEX_SPACE = 2**31
# Version of the document-side terms (tokenizer, stemming, name weight). Bump it whenever a
# change would give an already stored chunk other sparse indices or values: repositories
# indexed under another scheme are flagged and fully re-indexed (search.models.Repository).
# 0: before schemes were recorded; 1: identifier tokens; 2: Porter2 stems, name counted twice.
TERM_SCHEME = 2
# How often the chunk's qualified name counts. On the shared dev split (docs/benchmarks.md)
# stems plus a doubled name raised keyword-only MRR@10 from 0.355 to 0.40 and the hybrid
# ranking by about 0.01; three did no better in the hybrid.
NAME_REPEAT = 2

# English function words dropped from queries only. On the eval set (avg_len 100) this raised
# keyword MRR@10 from 0.237 to 0.309 (natural-language queries: 0.173 to 0.253); dropping them
# from documents as well (0.295), or adding def/self/return/function (0.303), did no better.
# Documents keep every token, so a change of this list needs no re-index.
# fmt: off
QUERY_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "has", "have", "how",
    "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their", "then",
    "there", "these", "this", "to", "was", "were", "what", "when", "where", "which", "while",
    "will", "with", "would",
})
# fmt: on

# \w is Unicode-aware: identifiers such as größe_berechnen stay one match.
_WORD = re.compile(r"\w+")


def tokenize_code(text: str) -> list[str]:
    """Split text into lowercased search tokens, identifier parts and whole identifiers.

    ``parseHTTPResponse`` gives ``parse``, ``http``, ``response`` and ``parsehttpresponse``;
    ``größe_berechnen`` gives ``größe``, ``berechnen`` and ``größe_berechnen``. Text is
    NFC-normalised first, so composed and decomposed spellings give the same tokens.
    One-character tokens are dropped. Order follows the text; repeats are kept.
    """
    tokens: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFC", text)):
        word = match.group()
        parts = [part.lower() for part in _identifier_parts(word)]
        tokens.extend(part for part in parts if len(part) > 1)
        # The whole identifier is its own token so an exact name (frobnicate_widget,
        # cloneDeep) outranks chunks that merely share its parts.
        whole = word.strip("_").lower()
        if len(parts) > 1 and len(whole) > 1:
            tokens.append(whole)
    return tokens


def search_terms(text: str) -> list[str]:
    """Return the sparse terms of a text: :func:`tokenize_code` tokens, words stemmed."""
    return [_stem(token) for token in tokenize_code(text)]


def document_sparse_vector(
    text: str,
    *,
    name: str = "",
    avg_len: float = DEFAULT_AVG_LEN,
    k1: float = K1,
    b: float = B,
) -> SparseVector:
    """Return the BM25 document vector of a chunk: saturated term frequencies, no IDF.

    ``text`` is everything indexed for the chunk (path, name, signature, code); ``name`` is
    its qualified name, whose terms are counted :data:`NAME_REPEAT` times in all. Tokens whose
    indices collide are counted as one term. Indices are sorted and unique.
    """
    tokens = search_terms(text)
    if name:
        tokens += search_terms(name) * (NAME_REPEAT - 1)
    counts = Counter(token_index(token) for token in tokens)
    length_norm = k1 * (1.0 - b + b * len(tokens) / avg_len)
    indices = sorted(counts)
    values = [counts[i] * (k1 + 1.0) / (counts[i] + length_norm) for i in indices]
    return SparseVector(indices=indices, values=values)


def chunk_sparse_vector(chunk: Chunk) -> SparseVector:
    """Return the document vector of a chunk as index jobs and the offline evaluation store
    it: its path, qualified name, signature and code, with the name counted again."""
    return document_sparse_vector(
        " ".join((chunk.path, chunk.symbol, chunk.signature, chunk.text)), name=chunk.symbol
    )


def query_sparse_vector(text: str) -> SparseVector:
    """Return the query vector: 1.0 for each distinct token index, sorted.

    English function words (:data:`QUERY_STOPWORDS`) are left out unless the query has
    nothing else, so a search for ``this`` alone still matches.
    """
    tokens = tokenize_code(text)
    kept = [token for token in tokens if token not in QUERY_STOPWORDS] or tokens
    indices = sorted({token_index(_stem(token)) for token in kept})
    return SparseVector(indices=indices, values=[1.0] * len(indices))


def token_index(token: str) -> int:
    """Map a token to its stable sparse index in ``0 .. INDEX_SPACE - 1``."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % INDEX_SPACE


_stemmers = threading.local()


@functools.lru_cache(maxsize=131_072)
def _stem(token: str) -> str:
    """Stem an English word; leave identifiers with digits or underscores, and non-ASCII
    words, as they are (a stemmer for English would only mangle them)."""
    if not (token.isascii() and token.isalpha()):
        return token
    # PyStemmer objects must not be shared between threads; the cache above is thread-safe.
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = Stemmer.Stemmer("english")
    return stemmer.stemWord(token)


def _identifier_parts(word: str) -> Iterable[str]:
    for piece in word.split("_"):
        if piece:
            yield from _split_case_and_digits(piece)


def _split_case_and_digits(piece: str) -> list[str]:
    """Split camelCase, PascalCase, acronyms and digit runs (``HTTPResponse2`` -> 3 parts)."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(piece)):
        previous, current = piece[i - 1], piece[i]
        following = piece[i + 1] if i + 1 < len(piece) else ""
        if (
            previous.isdigit() != current.isdigit()
            or (not previous.isupper() and not previous.isdigit() and current.isupper())
            # The last capital of an acronym starts the next word: HTTPResponse -> HTTP|Response.
            or (previous.isupper() and current.isupper() and following.islower())
        ):
            parts.append(piece[start:i])
            start = i
    parts.append(piece[start:])
    return parts
