"""Answer a search in the current tenant: parse, retrieve, fuse, highlight, cache."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from capacity.recording import measured_search
from portal import after_response
from search import search_cache
from search.clients.vectorstore.base import SearchFilter
from search.embeddings import get_cached_embedder
from search.exceptions import QueryInvalid
from search.models import Repository, SearchQuery
from search.query_language import ParsedQuery, parse_query
from search.retrieval import retrieve
from search.sparse import tokenize_code
from search.vector_store import get_vector_store, storage_target

logger = logging.getLogger(__name__)

MAX_LIMIT = 50
ERROR_WORDS = re.compile(
    r"\b(error|exception|invalid|cannot|can't|could not|failed|must be|expected|not found|"
    r"unsupported|missing)\b",
    re.IGNORECASE,
)


@dataclass
class Highlight:
    line: int
    start: int
    end: int


@dataclass
class SearchResult:
    repository: str
    repository_id: int
    path: str
    start_line: int
    end_line: int
    language: str
    symbol: str
    kind: str
    snippet: str
    score: float
    highlights: list[Highlight] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "repository_id": self.repository_id,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "language": self.language,
            "symbol": self.symbol,
            "kind": self.kind,
            "snippet": self.snippet,
            "score": self.score,
            "highlights": [
                {"line": h.line, "start": h.start, "end": h.end} for h in self.highlights
            ],
        }


@dataclass
class SearchResponse:
    query: str
    query_type: str
    results: list[SearchResult]
    took_ms: float
    cache: str = "miss"

    def as_dict(self) -> dict[str, Any]:
        """The response as plain data (what the cache stores and the API serialises).

        Written out rather than ``dataclasses.asdict``, which deep-copies every value through
        a recursive generic walk: ~2.5 ms per 10-result response under the profiler.
        """
        return {
            "query": self.query,
            "query_type": self.query_type,
            "results": [result.as_dict() for result in self.results],
            "took_ms": self.took_ms,
            "cache": self.cache,
        }


def detect_query_type(parsed: ParsedQuery) -> str:
    """Classify the query: symbol, class, function, error, import or semantic."""
    text = parsed.text
    if parsed.symbols:
        return "symbol"
    if re.match(r"^class\s+\w+$", text):
        return "class"
    if re.match(r"^(def|function|func|fn)\s+[\w$]+$", text):
        return "function"
    if re.match(r"^(import|from|require|use|#include)\b", text):
        return "import"
    if parsed.is_identifier:
        return "symbol"
    if parsed.phrases or (
        ERROR_WORDS.search(text) and len(text.split()) >= 3 and not text.islower()
    ):
        return "error"
    return "semantic"


@measured_search
def search_code(*, query: str, limit: int = 10, record: bool = True) -> SearchResponse:
    """Search the current tenant's repositories.

    Raise :class:`QueryInvalid` for bad syntax or an unknown ``repo:``; never return another
    tenant's chunks (the store applies the tenant filter).
    """
    started = time.perf_counter()
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryInvalid(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    parsed = parse_query(query)
    tenant = connection.tenant
    key = search_cache.response_key(tenant.schema_name, {"q": query, "limit": limit})
    cached, level = search_cache.get_response(key)
    if record:
        search_cache.count_query(tenant.schema_name, query)
    if cached is not None:
        response = SearchResponse(**{**cached, "results": []})
        response.results = [
            SearchResult(**{**r, "highlights": [Highlight(**h) for h in r["highlights"]]})
            for r in cached["results"]
        ]
        response.took_ms = round((time.perf_counter() - started) * 1000, 2)
        response.cache = level
        return response

    results = _retrieve(parsed, limit)
    response = SearchResponse(
        query=query,
        query_type=detect_query_type(parsed),
        results=results,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    search_cache.set_response(key, response.as_dict())
    if record:
        after_response.defer(
            _log_search,
            tenant.schema_name,
            query=query,
            result_count=len(results),
            took_ms=response.took_ms,
        )
    return response


def _log_search(schema_name: str, *, query: str, result_count: int, took_ms: float) -> None:
    """Keep the search in the tenant's log (runs after the response; see after_response)."""
    with schema_context(schema_name):
        SearchQuery.objects.create(query=query[:500], result_count=result_count, took_ms=took_ms)


def _search_filter(parsed: ParsedQuery) -> SearchFilter:
    repository_ids: list[int] = []
    if parsed.repositories:
        found = dict(
            Repository.objects.filter(name__in=parsed.repositories).values_list("name", "pk")
        )
        missing = [name for name in parsed.repositories if name not in found]
        if missing:
            raise QueryInvalid(
                f"No repository named {', '.join(missing)} here; check the name on the "
                "Repositories page.",
                field="q",
            )
        repository_ids = list(found.values())
    return SearchFilter(
        repository_ids=tuple(repository_ids),
        languages=tuple(parsed.languages),
        symbols=(),
    )


def _retrieve(parsed: ParsedQuery, limit: int) -> list[SearchResult]:
    candidates = retrieve(
        store=get_vector_store(),
        target=storage_target(connection.tenant),
        embedder=get_cached_embedder(
            settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
        ),
        parsed=parsed,
        search_filter=_search_filter(parsed),
        limit=limit,
    )
    terms = _highlight_terms(parsed)
    return [_result(c.hit.payload, c.score, terms) for c in candidates]


# Words too common to be worth marking in a snippet.
HIGHLIGHT_STOPWORDS = frozenset(
    {
        "the",
        "and",
        "for",
        "with",
        "from",
        "into",
        "that",
        "this",
        "are",
        "was",
        "not",
        "but",
        "all",
        "any",
        "can",
        "has",
        "have",
        "its",
        "of",
        "to",
        "in",
        "on",
        "by",
        "or",
        "an",
        "a",
        "is",
        "it",
        "be",
        "as",
        "at",
    }
)


def _highlight_terms(parsed: ParsedQuery) -> list[str]:
    terms = {t for t in tokenize_code(parsed.text) if len(t) >= 3 and t not in HIGHLIGHT_STOPWORDS}
    terms.update(p.lower() for p in parsed.phrases if p.strip())
    terms.update(s.lower() for s in parsed.symbols)
    return sorted(terms, key=len, reverse=True)


def _result(payload: dict[str, Any], score: float, terms: list[str]) -> SearchResult:
    snippet = str(payload.get("text") or "")
    return SearchResult(
        repository=str(payload.get("repository", "")),
        repository_id=int(payload.get("repository_id", 0)),
        path=str(payload.get("path", "")),
        start_line=int(payload.get("start_line", 0)),
        end_line=int(payload.get("end_line", 0)),
        language=str(payload.get("language", "")),
        symbol=str(payload.get("symbol", "")),
        kind=str(payload.get("kind", "")),
        snippet=snippet,
        score=round(float(score), 4),
        highlights=find_highlights(snippet, terms, first_line=int(payload.get("start_line", 1))),
    )


def find_highlights(snippet: str, terms: list[str], *, first_line: int) -> list[Highlight]:
    """Return non-overlapping case-insensitive matches of the terms, by file line number."""
    if not terms:
        return []
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    highlights = []
    for offset, line in enumerate(snippet.split("\n")):
        for match in pattern.finditer(line):
            highlights.append(
                Highlight(line=first_line + offset, start=match.start(), end=match.end())
            )
    return highlights[:200]
