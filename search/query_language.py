"""The search box's query language.

``repo:NAME``, ``path:GLOB``, ``-path:GLOB``, ``lang:LANGUAGE``, ``sym:NAME`` and
``"exact phrase"`` combine with free text, e.g.
``repo:web lang:python -path:tests/* "invalid token" parse header``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from search.exceptions import QueryInvalid
from search.ingest.languages import CODE_LANGUAGES, TEXT

FILTER_KEYS = ("repo", "path", "-path", "lang", "sym")
LANGUAGE_ALIASES = {
    "py": "python",
    "js": "javascript",
    "ts": "typescript",
    "golang": "go",
    "rs": "rust",
    "c++": "cpp",
    "rb": "ruby",
    "cc": "cpp",
}
# What ``lang:`` can match: the language names the indexer stores on chunks.
KNOWN_LANGUAGES = frozenset(CODE_LANGUAGES | {TEXT})
IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*(?:[.:]{1,2}[A-Za-z_$][\w$]*)*$")
MAX_QUERY_CHARS = 500


@dataclass
class ParsedQuery:
    text: str
    repositories: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    exclude_paths: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)

    @property
    def is_identifier(self) -> bool:
        """True when the free text is a single identifier such as ``cloneDeep`` or ``a.b``."""
        return bool(IDENTIFIER.match(self.text)) and " " not in self.text

    @property
    def has_filters(self) -> bool:
        return bool(self.repositories or self.paths or self.exclude_paths or self.languages)


def parse_query(raw: str) -> ParsedQuery:
    """Split a query into free text, filters and exact phrases.

    Raise :class:`QueryInvalid` with a message that shows the accepted syntax.
    """
    raw = (raw or "").strip()
    if not raw:
        raise QueryInvalid("Type something to search for.", field="q")
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryInvalid(
            f"Queries are at most {MAX_QUERY_CHARS} characters; shorten yours.", field="q"
        )
    try:
        lexer = shlex.shlex(raw, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        lexer.quotes = '"'
        lexer.escape = ""
        tokens = list(lexer)
    except ValueError as exc:
        raise QueryInvalid(
            'Unbalanced quote in the query; close the "exact phrase" with a second ".",',
            field="q",
        ) from exc

    quoted = set(re.findall(r'"([^"]*)"', raw))
    parsed = ParsedQuery(text="")
    words: list[str] = []
    for token in tokens:
        if token in quoted:
            if token.strip():
                parsed.phrases.append(token)
                words.append(token)
            continue
        key, sep, value = token.partition(":")
        if sep and key.lower() in FILTER_KEYS:
            if not value:
                raise QueryInvalid(
                    f"'{key}:' needs a value, e.g. {key}:{_example(key.lower())}.", field="q"
                )
            _add_filter(parsed, key.lower(), value)
            continue
        words.append(token)
    parsed.text = " ".join(words).strip()
    if not parsed.text and parsed.symbols:
        parsed.text = " ".join(parsed.symbols)
    if not parsed.text and not parsed.has_filters:
        raise QueryInvalid("The query has no search terms; add words to look for.", field="q")
    return parsed


def _example(key: str) -> str:
    return {
        "repo": "backend",
        "path": "src/*.py",
        "-path": "tests/*",
        "lang": "python",
        "sym": "parse_header",
    }[key]


def _add_filter(parsed: ParsedQuery, key: str, value: str) -> None:
    if key == "repo":
        parsed.repositories.append(value)
    elif key == "path":
        parsed.paths.append(value)
    elif key == "-path":
        parsed.exclude_paths.append(value)
    elif key == "lang":
        parsed.languages.append(_language(value))
    elif key == "sym":
        parsed.symbols.append(value)


def _language(value: str) -> str:
    """Return the stored language name for ``value``; refuse names no chunk can carry.

    An unknown language would filter out every result, which looks like an empty index.
    """
    language = LANGUAGE_ALIASES.get(value.lower(), value.lower())
    if language in KNOWN_LANGUAGES:
        return language
    known = ", ".join(sorted(KNOWN_LANGUAGES))
    aliases = ", ".join(f"{alias}={name}" for alias, name in sorted(LANGUAGE_ALIASES.items()))
    raise QueryInvalid(
        f"Unknown language {value!r} in lang:{value}. Use one of: {known} "
        f"(short forms: {aliases}).",
        field="q",
    )
