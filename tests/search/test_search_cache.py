"""The response cache's own rules: real LRU, stable keys, version memo, buffered popularity."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from django.core.cache import cache

from search import search_cache
from search.search_cache import LRUCache, PopularityBuffer, VersionMemo


def test_lru_evicts_the_least_recently_used_entry_not_the_oldest():
    lru = LRUCache(max_entries=2)
    lru.set("a", 1)
    lru.set("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recently used
    lru.set("c", 3)
    assert lru.get("b") is None
    assert (lru.get("a"), lru.get("c")) == (1, 3)


def test_response_key_is_a_digest_that_other_processes_compute_identically(public_tenant):
    key = search_cache.response_key("acme", {"q": "parse url", "limit": 10})
    version = search_cache.index_version("acme")
    body = '{"limit":10,"q":"parse url"}'
    expected = hashlib.sha256(f"acme\x00{version}\x00{body}".encode()).hexdigest()
    assert key == f"search:response:acme:{expected}"
    # Python's hash() of a str differs per process; the digest must not.
    material = f"acme\x00{version}\x00{body}"
    program = f"import hashlib; print(hashlib.sha256({material!r}.encode()).hexdigest())"
    other = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert key.endswith(other.stdout.strip())


def test_a_bump_in_this_process_is_seen_at_once(public_tenant):
    before = search_cache.index_version("memo-tenant")
    search_cache.bump_index_version("memo-tenant")
    assert search_cache.index_version("memo-tenant") == before + 1


def test_a_bump_by_another_process_is_seen_once_the_memo_expires(public_tenant, monkeypatch):
    search_cache.bump_index_version("memo-other")
    seen = search_cache.index_version("memo-other")
    # Another process bumps the version: only Redis changes.
    cache.incr("search:version:memo-other")
    assert search_cache.index_version("memo-other") == seen  # still trusted from the memo
    assert search_cache.index_version("memo-other", fresh=True) == seen + 1

    monkeypatch.setattr(search_cache, "_versions", VersionMemo(max_age=0.0))
    cache.incr("search:version:memo-other")
    assert search_cache.index_version("memo-other") == seen + 2


def test_an_l1_hit_makes_no_redis_call(public_tenant, monkeypatch):
    key = search_cache.response_key("memo-l1", {"q": "x"})
    search_cache.set_response(key, {"answer": 1})

    def no_redis(*args, **kwargs):
        raise AssertionError("Redis was called for an in-process hit")

    monkeypatch.setattr(cache, "get", no_redis)
    monkeypatch.setattr(search_cache, "_redis", no_redis)
    assert search_cache.response_key("memo-l1", {"q": "x"}) == key
    assert search_cache.get_response(key) == ({"answer": 1}, "l1")


def test_popularity_counts_are_buffered_and_flushed_before_reading(public_tenant):
    buffer = PopularityBuffer(flush_seconds=3600)
    for _ in range(3):
        buffer.add("pop-tenant", "parse url")
    buffer.add("pop-tenant", "slugify")
    client = cache._cache.get_client()
    redis_key = cache.make_key("search:popular:pop-tenant")
    assert client.zscore(redis_key, "parse url") is None  # nothing written yet
    buffer.flush()
    assert client.zscore(redis_key, "parse url") == pytest.approx(3.0)
    assert search_cache.top_queries("pop-tenant", 2) == ["parse url", "slugify"]


def test_count_query_is_read_back_by_top_queries_in_the_same_process(public_tenant):
    for _ in range(2):
        search_cache.count_query("pop-same", "read config")
    search_cache.count_query("pop-same", "open file")
    assert search_cache.top_queries("pop-same", 5) == ["read config", "open file"]


def test_l2_entries_are_shared_with_the_django_cache_api(public_tenant):
    # The search path talks to Redis with its own client; entries must stay what
    # django.core.cache reads and writes (same key function, same serializer).
    key = search_cache.response_key("shared-l2", {"q": "x"})
    search_cache.set_response(key, {"answer": [1, "two"]})
    assert cache.get(key) == {"answer": [1, "two"]}

    cache.set(key, {"answer": "from django"}, timeout=60)
    search_cache.clear_local()
    assert search_cache.get_response(key) == ({"answer": "from django"}, "l2")

    search_cache.bump_index_version("shared-l2")
    search_cache.clear_local()
    assert search_cache.index_version("shared-l2") == cache.get("search:version:shared-l2")
