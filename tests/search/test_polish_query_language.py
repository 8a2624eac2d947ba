"""A ``lang:`` filter that can never match is a query error, not an empty result."""

from __future__ import annotations

import pytest

from search.exceptions import QueryInvalid
from search.query_language import KNOWN_LANGUAGES, parse_query


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("lang:python x", "python"),
        ("lang:PY x", "python"),
        ("lang:c++ x", "cpp"),
        ("lang:text x", "text"),
    ],
)
def test_known_languages_and_aliases_are_accepted(query, language):
    assert parse_query(query).languages == [language]


def test_unknown_language_is_refused_with_the_known_languages_listed():
    with pytest.raises(QueryInvalid) as caught:
        parse_query("lang:cobol parse header")

    message = caught.value.message
    assert "'cobol'" in message
    assert all(language in message for language in KNOWN_LANGUAGES)
    assert "py=python" in message
    assert caught.value.field == "q" and caught.value.status_code == 400


@pytest.mark.django_db
def test_api_answers_400_naming_the_languages(acme):
    response = acme.api().get("/api/v1/search/", {"q": "lang:klingon parse"})

    assert response.status_code == 400
    (message,) = response.json()["q"]
    assert "Unknown language 'klingon'" in message and "python" in message


@pytest.mark.django_db
def test_search_page_shows_the_error(acme):
    response = acme.client().get("/", {"q": "lang:klingon parse"})

    assert response.status_code == 400
    assert "Unknown language &#x27;klingon&#x27;" in response.content.decode()
