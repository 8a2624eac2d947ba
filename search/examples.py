"""Example queries for the search page, taken from what the tenant has indexed.

Examples that name the tenant's own definitions, languages and repositories show the query
language on code the reader knows, and every one of them finds something. They are cached per
tenant and index version, so a re-index or a deleted repository refreshes them.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from redis.exceptions import RedisError

from portal.exceptions import PortalError
from search.ingest.languages import TEXT
from search.models import IndexedFile, Repository
from search.query_language import IDENTIFIER
from search.search_cache import index_version
from search.vector_store import get_vector_store, storage_target

logger = logging.getLogger(__name__)

# Shown while nothing is indexed: they illustrate the syntax without naming any codebase.
GENERIC_EXAMPLES = (
    "read the configuration file",
    "sym:main",
    'lang:python "not found"',
    "path:src/* retry on timeout",
)
EXAMPLE_COUNT = 4
CACHE_SECONDS = 600
# Points read from the vector store to find definitions; one page, whatever the index size.
SAMPLED_POINTS = 128
# Paths read to find the busiest top-level folder; enough to see the layout.
SAMPLED_PATHS = 2000
DEFINITION_KINDS = frozenset({"function", "method", "class"})
_WORD_BOUNDARY = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True)
class IndexSample:
    """What the examples are built from: a few definitions and the index's shape."""

    definitions: tuple[tuple[str, str], ...]  # (name, language)
    languages: tuple[str, ...]  # most files first, without "text"
    repositories: tuple[str, ...]
    top_folder: str


def example_queries() -> list[str]:
    """Return up to ``EXAMPLE_COUNT`` queries for the current tenant's search page.

    Built from the tenant's index (cached per index version), or ``GENERIC_EXAMPLES`` when
    nothing is indexed. Never raises for an unreachable cache or vector store: the page must
    render without them.
    """
    schema = connection.schema_name
    key = f"search:examples:{schema}:{index_version(schema)}"
    try:
        cached = cache.get(key)
    except (RedisError, OSError):
        cached = None
    if cached is not None:
        return list(cached)
    examples = build_examples(sample_index())
    try:
        cache.set(key, examples, CACHE_SECONDS)
    except (RedisError, OSError):
        logger.warning("search.examples.cache_unavailable")
    return examples


def sample_index() -> IndexSample:
    """Read a small sample of the current tenant's index (database and one vector page)."""
    languages = tuple(
        row["language"]
        for row in IndexedFile.objects.exclude(language=TEXT)
        .values("language")
        .annotate(files=Count("id"))
        .order_by("-files", "language")
    )
    repositories = tuple(
        Repository.objects.filter(files__isnull=False)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )
    folders = Counter(
        path.split("/", 1)[0]
        for path in IndexedFile.objects.values_list("path", flat=True)[:SAMPLED_PATHS]
        if "/" in path
    )
    top_folder = min(folders.items(), key=lambda item: (-item[1], item[0]))[0] if folders else ""
    return IndexSample(
        definitions=_sample_definitions() if repositories else (),
        languages=languages,
        repositories=repositories,
        top_folder=top_folder,
    )


def _sample_definitions() -> tuple[tuple[str, str], ...]:
    try:
        page = get_vector_store().scroll(storage_target(connection.tenant), limit=SAMPLED_POINTS)
    except PortalError:
        # Examples are a nicety: without the vector store they come from the database alone.
        logger.warning("search.examples.vector_store_unavailable")
        return ()
    found: dict[str, str] = {}
    for point in page.points:
        name = str(point.payload.get("name") or "")
        if point.payload.get("kind") in DEFINITION_KINDS and _is_example_name(name):
            found.setdefault(name, str(point.payload.get("language") or ""))
    return tuple(sorted(found.items()))


def _is_example_name(name: str) -> bool:
    return bool(IDENTIFIER.match(name)) and not name.startswith("_") and len(name) >= 4


def words_of(identifier: str) -> str:
    """Split ``parseAcceptHeader`` or ``parse_accept_header`` into ``parse accept header``."""
    return " ".join(part.lower() for part in _WORD_BOUNDARY.findall(identifier))


def build_examples(sample: IndexSample) -> list[str]:
    """Turn an index sample into example queries, one per feature of the query language."""
    if not sample.repositories:
        return list(GENERIC_EXAMPLES)
    # Multi-word names read like a description of the code, which is what free text is for.
    described = [name for name, _ in sample.definitions if len(words_of(name).split()) >= 2]
    names = [name for name, _ in sample.definitions]
    examples: list[str] = []
    if described:
        examples.append(words_of(described[0]))
    if names:
        examples.append(f"sym:{names[-1]}")
    word = words_of(names[0]).split()[-1] if names else "error"
    if sample.languages:
        examples.append(f"lang:{sample.languages[0]} {word}")
    if len(sample.repositories) > 1:
        examples.append(f"repo:{sample.repositories[0]} {word}")
    elif sample.top_folder:
        examples.append(f"path:{sample.top_folder}/* {word}")
    for generic in GENERIC_EXAMPLES:
        if len(examples) >= EXAMPLE_COUNT:
            break
        if ":" not in generic and generic not in examples:
            examples.append(generic)
    return examples[:EXAMPLE_COUNT]
