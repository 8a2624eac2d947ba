"""The "head" of a chunk: its name in plain words and its signature, embedded on their own.

A function's body dilutes what its name says: "push a token back to the stream" is close to
``TokenStream.push(self, token)`` but far less close to the twenty lines that implement it.
Each chunk therefore gets a second dense vector over just its name, split into words, and its
signature; search ranks with both (see :mod:`search.ranking`). On the shared relevance set this
lifted hybrid MRR@10 from 0.500 to 0.547 with 256-token embeddings and to 0.579 with the
default 128-token model (docs/benchmarks.md), at the cost of embedding one short extra text
per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.embeddings import Embedder, document_text
from search.ingest.chunking import Chunk
from search.sparse import tokenize_code


def head_text(*, path: str, symbol: str, signature: str) -> str:
    """Return the text embedded as the chunk's head vector.

    ``symbol`` is the qualified name (``TokenStream.push``); windows of top-level code have
    none and are named by their path instead.
    """
    words = " ".join(tokenize_code(symbol.replace(".", " ")))
    return f"{words or path}. {signature}".strip()


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    """Embed each chunk's document text and its head in one call; return (dense, heads).

    One call lets the embedder sort the short heads and the long bodies by length together,
    so batches carry little padding.
    """
    if not chunks:
        empty = np.zeros((0, embedder.dimension), dtype=np.float32)
        return empty, empty
    texts = [
        document_text(path=c.path, context=c.context, symbol=c.symbol, text=c.text) for c in chunks
    ]
    texts += [head_text(path=c.path, symbol=c.symbol, signature=c.signature) for c in chunks]
    vectors = embedder.embed_documents(texts)
    return vectors[: len(chunks)], vectors[len(chunks) :]
