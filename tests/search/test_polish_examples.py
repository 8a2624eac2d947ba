"""The search page's example queries come from the tenant's own index."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from search import examples
from search.examples import GENERIC_EXAMPLES, IndexSample, build_examples, words_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("parse_accept_header", "parse accept header"),
        ("parseAcceptHeader", "parse accept header"),
        ("HTTPResponse", "http response"),
        ("open_file2", "open file 2"),
    ],
)
def test_words_of_splits_snake_and_camel_case(identifier, words):
    assert words_of(identifier) == words


def test_nothing_indexed_gives_the_generic_examples():
    empty = IndexSample(definitions=(), languages=(), repositories=(), top_folder="")

    assert build_examples(empty) == list(GENERIC_EXAMPLES)


def test_examples_name_the_tenants_definitions_languages_and_repositories():
    sample = IndexSample(
        definitions=(("Ledger", "python"), ("post_entry", "python"), ("totalDue", "go")),
        languages=("python", "go"),
        repositories=("billing", "web"),
        top_folder="src",
    )

    assert build_examples(sample) == [
        "post entry",
        "sym:totalDue",
        "lang:python ledger",
        "repo:billing ledger",
    ]


def test_one_repository_gets_a_path_example_instead_of_repo():
    sample = IndexSample(
        definitions=(("make_parser", "python"),),
        languages=("python",),
        repositories=("only",),
        top_folder="click",
    )

    assert build_examples(sample)[-1] == "path:click/* parser"


def test_examples_of_an_indexed_tenant_each_find_something(acme_indexed):
    from search.services.querying import search_code

    with tenant_context(acme_indexed.tenant):
        queries = examples.example_queries()
        results = {query: search_code(query=query, limit=3).results for query in queries}

    assert len(queries) == examples.EXAMPLE_COUNT
    assert not set(queries) & set(GENERIC_EXAMPLES)
    assert any(query.startswith("sym:") for query in queries)
    assert "lang:python" in " ".join(queries)
    assert all(results.values()), results


def test_examples_are_cached_until_the_index_changes(acme_indexed, monkeypatch):
    from django.core.cache import cache

    from search import search_cache

    calls: list[int] = []
    original = examples.sample_index

    def counting_sample():
        calls.append(1)
        return original()

    monkeypatch.setattr(examples, "sample_index", counting_sample)
    with tenant_context(acme_indexed.tenant):
        schema = acme_indexed.tenant.schema_name
        cache.delete(f"search:examples:{schema}:{search_cache.index_version(schema)}")
        first = examples.example_queries()
        assert examples.example_queries() == first
        assert len(calls) == 1
        search_cache.bump_index_version(schema)
        assert examples.example_queries() == first
    assert len(calls) == 2


def test_search_page_shows_generic_examples_without_an_index_and_own_ones_with(
    acme_indexed, globex
):
    own = acme_indexed.client().get("/").content.decode()
    empty = globex.client().get("/").content.decode()

    assert "slugify" not in own and "slugify" not in empty
    assert "<code>sym:main</code>" in empty
    assert "<code>sym:main</code>" not in own
    assert "<code>lang:python " in own
