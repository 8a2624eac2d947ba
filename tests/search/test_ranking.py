from __future__ import annotations

import pytest

from search.query_language import parse_query
from search.ranking import path_allowed


@pytest.mark.parametrize(
    ("query", "path", "allowed"),
    [
        ("path:*/http/* cookie", "http/cookie.py", True),
        ("path:*/http/* cookie", "django/http/cookie.py", True),
        ("path:*/http/* cookie", "core/handlers.py", False),
        ("path:http cookie", "contrib/http/x.py", True),
        ("-path:tests/* cookie", "tests/test_cookie.py", False),
        ("-path:tests/* cookie", "http/cookie.py", True),
    ],
)
def test_path_filters_match_globs_and_bare_names(query, path, allowed):
    assert path_allowed(path, parse_query(query)) is allowed
