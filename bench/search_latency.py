"""Search latency and throughput, printed as figures (not a test).

In-process part (needs a tenant with an indexed repository):
  uncached    search_code with the response cache emptied before each query, timed to the
              answer; the writes a request does after its response (L2 cache fill; with
              record=True also the search log and usage counters, see
              portal.after_response) run after the timer stops, as they do in a request
  recorded    the same, with record=True as the API and the search page call it
  l2-cached   search_code after the query was cached, with the in-process LRU emptied
  l1-cached   search_code straight from the in-process LRU
  bare        the vector store's dense query and sparse query with precomputed vectors
  batch       the very batch search_code sent for that query (dense + head + sparse, plus
              definitions for identifiers), captured and replayed: the engine work the
              product cannot avoid
  +embed      the row above with the query embedding (same embedder, uncached) in front
With ``--owner`` the rows are measured a second time with the vector store behind its owner
process (``manage.py run_vector_store``, started here), as the web processes of script/server
reach it: every batch then crosses a unix socket and is pickled both ways.
HTTP part (optional, against a running portal): GET /api/v1/search/ at 1, 4 and 16
concurrent clients over loopback.

  PORTAL_VAR_DIR=var .venv/bin/python bench/search_latency.py --tenant demo \
      [--url http://127.0.0.1:8000 --host demo.localhost --token csp_...]

Self-contained: ``--corpus DIR`` starts throwaway embedded servers in a temporary folder,
signs up a team tenant, indexes DIR into it (Celery eager) and measures that tenant; the folder
is removed afterwards.

  .venv/bin/python bench/search_latency.py --corpus ../shared/eval/dev/corpus/jinja2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throwaway import close_throwaway_portal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

QUERIES = [
    "parse the accept language header",
    "convert a string to a slug",
    "validate an email address",
    "escape html special characters",
    "read the request body as json",
    "compare two passwords in constant time",
    "format a date according to a pattern",
    "send a signal to all receivers",
    "compile a url pattern into a regex",
    "cache the result of a method on the instance",
    "split a header value on commas",
    "build an absolute uri for the request",
    "load a template from the filesystem",
    "quote a sql identifier",
    "serialize queryset to json",
    "check whether a host is allowed",
    "lazy translation of a string",
    "generate a random secret key",
    "parse an http date",
    "strip tags from html",
]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"n={len(ordered):4d} p50={pick(0.50):8.2f} ms  p95={pick(0.95):8.2f} ms  "
        f"p99={pick(0.99):8.2f} ms  mean={statistics.fmean(ordered):8.2f} ms"
    )


def in_process(tenant_slug: str, rounds: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django_tenants.utils import tenant_context

    from portal import after_response
    from search import search_cache
    from search.clients.vectorstore.base import VectorQuery
    from search.embeddings import get_cached_embedder
    from search.services.querying import search_code
    from search.sparse import query_sparse_vector
    from search.vector_store import get_vector_store, storage_target
    from search.warming import clear_query_vectors
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=tenant_slug)
    embedder = get_cached_embedder(
        settings.SEARCH["EMBEDDING_MODEL"], cache_dir=settings.SEARCH["MODEL_CACHE_DIR"]
    )
    store = get_vector_store()
    target = storage_target(tenant)
    sent: list[list[VectorQuery]] = []
    send = store.query_many

    def capture(to: object, queries: list[VectorQuery]) -> object:
        sent.append(list(queries))
        return send(to, queries)  # type: ignore[arg-type]

    store.query_many = capture  # type: ignore[method-assign]
    timings: dict[str, list[float]] = {
        "uncached": [],
        "recorded": [],
        "l2": [],
        "l1": [],
        "bare": [],
        "bare+embed": [],
        "batch": [],
        "batch+embed": [],
    }
    with tenant_context(tenant):
        search_code(query="warm up the model", limit=10, record=False)
        for round_number in range(rounds):
            for query in QUERIES:
                text = f"{query} {round_number}"
                for row, record in (("uncached", False), ("recorded", True)):
                    search_cache.bump_index_version(tenant.schema_name)
                    clear_query_vectors()
                    sent.clear()
                    with after_response.response_scope():
                        started = time.perf_counter()
                        search_code(query=text, limit=10, record=record)
                        timings[row].append((time.perf_counter() - started) * 1000)
                batch = sent[0]
                search_cache.clear_local()
                started = time.perf_counter()
                response = search_code(query=text, limit=10, record=False)
                timings["l2"].append((time.perf_counter() - started) * 1000)
                _expect_cache(response.cache, "l2")
                started = time.perf_counter()
                response = search_code(query=text, limit=10, record=False)
                timings["l1"].append((time.perf_counter() - started) * 1000)
                _expect_cache(response.cache, "l1")
                embed_started = time.perf_counter()
                dense = [float(x) for x in embedder.embed_query(text)]
                sparse = query_sparse_vector(text)
                started = time.perf_counter()
                store.query(target, dense=dense, limit=100)
                store.query(target, sparse=sparse, limit=100)
                finished = time.perf_counter()
                timings["bare"].append((finished - started) * 1000)
                timings["bare+embed"].append((finished - embed_started) * 1000)
                started = time.perf_counter()
                send(target, batch)
                timings["batch"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                embedder.embed_query(text)
                query_sparse_vector(text)
                send(target, batch)
                timings["batch+embed"].append((time.perf_counter() - started) * 1000)
    store.query_many = send  # type: ignore[method-assign]
    for name, samples in timings.items():
        print(f"{name:11s} {percentiles(samples)}")
    uncached_p95 = _p95(timings["uncached"])
    for name in ("l2", "l1"):
        print(f"{name} p95 / uncached p95 = {_p95(timings[name]) / uncached_p95:.4f}")
    for name in ("bare+embed", "batch+embed"):
        print(
            f"uncached p95 / {name} p95 = {uncached_p95 / _p95(timings[name]):.2f}  "
            f"(p50 {_p50(timings['uncached']) / _p50(timings[name]):.2f})"
        )


def _p95(samples: list[float]) -> float:
    return sorted(samples)[int(0.95 * len(samples))]


def _p50(samples: list[float]) -> float:
    return sorted(samples)[int(0.50 * len(samples))]


def through_owner(tenant_slug: str, rounds: int) -> None:
    """Measure again with the store served by an owner process started for the purpose."""
    from django.conf import settings

    from search.clients.vectorstore import RemoteVectorStore
    from search.clients.vectorstore.base import VectorStoreUnavailable
    from search.vector_store import get_vector_store, owner_authkey, reset_vector_store

    reset_vector_store()  # release the engine's folder lock for the owner
    owner = subprocess.Popen(
        [sys.executable, "manage.py", "run_vector_store"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = RemoteVectorStore(settings.VECTOR_STORE_SOCKET, owner_authkey())
        deadline = time.monotonic() + 60
        while True:
            try:
                probe.health()
                break
            except VectorStoreUnavailable:
                if owner.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the vector store owner did not start") from None
                time.sleep(0.2)
        probe.close()
        reset_vector_store()
        if not isinstance(get_vector_store(), RemoteVectorStore):
            raise SystemExit("expected to reach the store through its owner process")
        print("through the owner process (unix socket):")
        in_process(tenant_slug, rounds)
    finally:
        reset_vector_store()
        owner.terminate()
        owner.wait(timeout=60)


def _expect_cache(level: str, wanted: str) -> None:
    if level != wanted:
        raise SystemExit(f"expected a {wanted} cache hit, got {level}")


def _load(url: str, host: str, token: str, clients: int, seconds: float) -> None:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        nonlocal errors
        n = 0
        while time.monotonic() < deadline:
            query = QUERIES[(index + n) % len(QUERIES)]
            n += 1
            request = urllib.request.Request(  # noqa: S310 -- the URL given on the command line
                f"{url}/api/v1/search/?" + urllib.parse.urlencode({"q": query}),
                headers={"Host": host, "Authorization": f"Bearer {token}"},
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
            except OSError:
                with lock:
                    errors += 1
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    print(
        f"http clients={clients:2d} {len(latencies) / elapsed:7.1f} req/s errors={errors} "
        f"{percentiles(latencies) if latencies else ''}"
    )


def over_http(url: str, host: str, token: str, seconds: float) -> None:
    for clients in (1, 4, 16):
        _load(url, host, token, clients, seconds)


def throwaway_tenant(corpus: Path, *, index: bool = True) -> tuple[str, Callable[[], None]]:
    """Index ``corpus`` into a new tenant in a throwaway data folder; return (slug, clean-up).

    With ``index=False`` the tenant is only signed up (REPOSITORY_ALLOWED_ROOTS already admits
    ``corpus``), for callers that time the indexing themselves.
    """
    var_dir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    os.environ["PORTAL_VAR_DIR"] = str(var_dir)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ["REPOSITORY_ALLOWED_ROOTS"] = str(corpus.resolve())
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository
    from tenants.models import Domain, Tenant
    from tenants.services.signup import sign_up

    call_command("migrate_schemas", "--shared", verbosity=0)
    call_command("tenant_template", verbosity=0)
    public, _ = Tenant.objects.get_or_create(
        schema_name="public",
        defaults={"name": "Public", "slug": "public", "status": Tenant.Status.READY},
    )
    Domain.objects.get_or_create(domain="localhost", defaults={"tenant": public})
    result = sign_up(
        name="Latency",
        slug="latency",
        admin_email="admin@latency.example.com",
        password="Bench-Password-123",  # noqa: S106 -- throwaway tenant
        tier="team",
    )

    def clean_up() -> None:
        close_throwaway_portal(var_dir)

    if not index:
        return "latency", clean_up
    started = time.perf_counter()
    with tenant_context(result.tenant):
        repository = create_local_repository(name=corpus.name, path=str(corpus.resolve()))
        job = start_index_job(repository=repository)
        job.refresh_from_db()
        if job.status == IndexJob.Status.FAILED:
            raise SystemExit(f"indexing failed: {job.error}")
        print(
            f"indexed {corpus}: {job.chunks_indexed} chunks in "
            f"{time.perf_counter() - started:.1f} s"
        )
    return "latency", clean_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--corpus", type=Path, help="Index this folder into a throwaway tenant.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--owner", action="store_true", help="Also measure through the owner process."
    )
    parser.add_argument("--url")
    parser.add_argument("--host")
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    tenant, clean_up = args.tenant, None
    if args.corpus is not None:
        tenant, clean_up = throwaway_tenant(args.corpus)
    try:
        in_process(tenant, args.rounds)
        if args.owner:
            through_owner(tenant, args.rounds)
    finally:
        if clean_up is not None:
            clean_up()
    if args.url:
        over_http(args.url, args.host, args.token, args.seconds)


if __name__ == "__main__":
    main()
