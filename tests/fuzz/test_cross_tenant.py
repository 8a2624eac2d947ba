"""Thousands of mixed requests with ids, hosts and credentials swapped across three tenants.

Each tenant indexes a tiny repository whose name, paths and code all carry one made-up word
that exists nowhere else. Whatever a request asks for, its answer may only ever carry the word of
the tenant its Host header routes to: finding another tenant's word in a body is a leak. Words the
request itself supplied (a query that names another tenant's repository, a file path) are echoed
back by error messages, so those exact strings are removed from the body before it is scanned.
"""

from __future__ import annotations

import dataclasses
import html
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import TenantFixture, _create_tenant

pytestmark = pytest.mark.django_db

REQUEST_COUNT = 2000
SEED = 20261204

# One word per tenant; each appears in that tenant's repository name, paths and code only.
MARKERS = {"acme": "quokkabrine", "globex": "narwhalpeat", "initechfuzz": "ocelotflint"}

SOURCE_TEMPLATE = '''"""Ledger helpers kept by the {word} team."""


def reconcile_{word}_ledger(entries):
    """Sum the ledger entries and report the ones that do not balance."""
    total = 0
    unbalanced = []
    for entry in entries:
        total += entry.amount
        if entry.amount != entry.expected:
            unbalanced.append(entry)
    return total, unbalanced


class {title}Invoice:
    """An invoice with a due date and a list of lines."""

    def __init__(self, lines, due):
        self.lines = lines
        self.due = due

    def outstanding_{word}_amount(self):
        return sum(line.amount for line in self.lines if not line.paid)
'''

# Queries mix plain language, symbols and filters; several name other tenants' objects.
QUERY_TEMPLATES = (
    "reconcile the ledger entries",
    "sum invoice lines that are not paid",
    "sym:reconcile_{word}_ledger",
    "reconcile_{word}_ledger",
    "outstanding_{word}_amount",
    "repo:{word}-vault ledger",
    "path:{word}_pkg invoice",
    '"Sum the ledger entries"',
    "lang:python due date",
    "class {title}Invoice",
    "wrap text to a width",
)


@dataclass
class Corpus:
    """One tenant's side of the fuzz: its credentials, ids and the word nobody else has."""

    fixture: TenantFixture
    word: str
    repository_id: int
    job_id: int
    path: str
    session: Client

    @property
    def slug(self) -> str:
        return self.fixture.slug


def _write_repository(root: Path, word: str) -> Path:
    folder = root / f"fuzz-{word}"
    package = folder / f"{word}_pkg"
    package.mkdir(parents=True)
    (package / f"{word}_ledger.py").write_text(
        SOURCE_TEMPLATE.format(word=word, title=word.title())
    )
    (folder / "README.md").write_text(f"# {word}\n\nBook-keeping scripts of the {word} team.\n")
    return folder


def _index(fixture: TenantFixture, name: str, folder: Path) -> tuple[int, int]:
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    with tenant_context(fixture.tenant):
        repository = create_local_repository(name=name, path=str(folder))
        start_index_job(repository=repository)
        job = IndexJob.objects.get(repository=repository)
        assert job.status == IndexJob.Status.SUCCEEDED, job.error
        assert job.chunks_indexed > 0
        return repository.pk, job.pk


@pytest.fixture(scope="module")
def corpora(
    acme_indexed: TenantFixture,
    globex: TenantFixture,
    sources_root: Path,
    django_db_blocker: object,
) -> Iterator[dict[str, Corpus]]:
    """Index one marked repository per tenant; remove them again afterwards.

    The free plan allows three repositories and acme and globex are shared with the rest of the
    suite, so the limit is lifted while these are added, and they are deleted at the end.
    """
    from django_tenants.utils import tenant_context

    from search.services.repositories import delete_repository
    from tenants.tiers import TIERS

    free = TIERS["free"]
    made: dict[str, Corpus] = {}
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        third = _create_tenant("initechfuzz", tier="enterprise")
        TIERS["free"] = dataclasses.replace(free, max_repositories=free.max_repositories + 10)
        try:
            for fixture in (acme_indexed, globex, third):
                word = MARKERS[fixture.slug]
                folder = _write_repository(sources_root, word)
                repository_id, job_id = _index(fixture, f"{word}-vault", folder)
                made[fixture.slug] = Corpus(
                    fixture=fixture,
                    word=word,
                    repository_id=repository_id,
                    job_id=job_id,
                    path=f"{word}_pkg/{word}_ledger.py",
                    session=fixture.client(),
                )
        finally:
            TIERS["free"] = free
        yield made
        for corpus in made.values():
            with tenant_context(corpus.fixture.tenant):
                delete_repository(repository_id=corpus.repository_id)


@dataclass
class Probe:
    """One request: where it goes, whose credentials it carries, what it supplied."""

    kind: str
    host_slug: str | None
    host: str
    credential_slug: str | None
    path: str
    params: dict[str, str]
    headers: dict[str, str]

    @property
    def is_api(self) -> bool:
        return self.kind.startswith("api_")


def _host_variant(rng: random.Random, host: str) -> str:
    """Mostly the plain host; sometimes forms a proxy or a client may send.

    django-tenants matches domains case-sensitively, so an upper-case Host finds no tenant
    (404); it may never find the wrong one.
    """
    roll = rng.random()
    if roll < 0.85:
        return host
    if roll < 0.92:
        return f"{host}:80"
    return host.upper()


def _make_probe(rng: random.Random, corpora: dict[str, Corpus], ids: dict[str, list]) -> Probe:
    slugs = sorted(corpora)
    host_slug: str | None = rng.choice(slugs)
    host = _host_variant(rng, corpora[host_slug].fixture.host)
    if rng.random() < 0.03:
        host_slug, host = None, "nobody.localhost"
    # Half the requests carry the host tenant's own credentials, the rest another tenant's.
    credential_slug: str | None = host_slug if rng.random() < 0.5 else rng.choice(slugs)
    if credential_slug is None:
        credential_slug = rng.choice(slugs)
    kind = rng.choice(
        [
            "api_search",
            "api_search",
            "api_repositories",
            "api_repository",
            "api_job",
            "page_search",
            "page_repository",
            "page_job",
            "page_file",
            "page_file",
        ]
    )
    source = corpora[rng.choice(slugs)]
    repository_id = rng.choice(ids["repositories"])
    params: dict[str, str] = {}
    if kind in {"api_search", "page_search"}:
        template = rng.choice(QUERY_TEMPLATES)
        params["q"] = template.format(word=source.word, title=source.word.title())
        if kind == "api_search":
            params["limit"] = str(rng.choice([1, 5, 10, 50]))
        path = "/api/v1/search/" if kind == "api_search" else "/"
    elif kind == "api_repositories":
        path = "/api/v1/repositories/"
    elif kind == "api_repository":
        path = f"/api/v1/repositories/{repository_id}/"
    elif kind == "api_job":
        path = f"/api/v1/jobs/{rng.choice(ids['jobs'])}/"
    elif kind == "page_repository":
        path = f"/repositories/{repository_id}/"
    elif kind == "page_job":
        path = f"/jobs/{rng.choice(ids['jobs'])}/"
    else:
        path = f"/repositories/{repository_id}/file/"
        params["path"] = rng.choice([source.path, "click/formatting.py", f"{source.word}_pkg"])
        params["start"] = str(rng.randint(1, 12))
    headers = {}
    if rng.random() < 0.1:
        # Not a trusted header here: the tenant must still come from Host alone.
        headers["HTTP_X_FORWARDED_HOST"] = corpora[rng.choice(slugs)].fixture.host
    return Probe(kind, host_slug, host, credential_slug, path, params, headers)


def _send(api: Client, corpora: dict[str, Corpus], probe: Probe) -> tuple[int, str]:
    headers = {"HTTP_HOST": probe.host, **probe.headers}
    if probe.is_api:
        token = corpora[probe.credential_slug].fixture.token  # type: ignore[index]
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        response = api.get(probe.path, probe.params, **headers)
    else:
        session = corpora[probe.credential_slug].session  # type: ignore[index]
        response = session.get(probe.path, probe.params, **headers)
    return response.status_code, response.content.decode(errors="replace")


def _echoes(probe: Probe) -> list[str]:
    """Strings the request supplied, in the forms a JSON or HTML answer repeats them."""
    pieces: set[str] = set()
    for value in probe.params.values():
        pieces.add(value)
        for word in value.split():
            pieces.add(word)
            pieces.add(word.split(":", 1)[-1])
    forms = {form for piece in pieces for form in (piece, html.escape(piece), json.dumps(piece))}
    # Longest first, so a whole query goes before the words inside it.
    return sorted((form for form in forms if form), key=len, reverse=True)


def _leaked_words(probe: Probe, body: str, corpora: dict[str, Corpus]) -> list[str]:
    for echo in _echoes(probe):
        body = body.replace(echo, "")
    return [
        corpus.word
        for slug, corpus in corpora.items()
        if slug != probe.host_slug and corpus.word in body
    ]


def test_mixed_requests_never_show_another_tenants_repositories_paths_or_snippets(
    corpora: dict[str, Corpus],
) -> None:
    from django_tenants.utils import schema_context

    from search.models import IndexJob, Repository

    ids: dict[str, list] = {"repositories": [0, 7, 10**9], "jobs": [0, 9, 10**9]}
    for corpus in corpora.values():
        with schema_context(corpus.fixture.tenant.schema_name):
            ids["repositories"] += list(Repository.objects.values_list("pk", flat=True))
            ids["jobs"] += list(IndexJob.objects.values_list("pk", flat=True))
    rng = random.Random(SEED)  # noqa: S311 -- a seeded, repeatable request mix, not a secret
    api = Client()
    statuses: Counter[tuple[str, bool, int]] = Counter()
    own_word_seen: Counter[str] = Counter()
    failures: list[str] = []

    for number in range(REQUEST_COUNT):
        probe = _make_probe(rng, corpora, ids)
        status, body = _send(api, corpora, probe)
        is_own = probe.credential_slug == probe.host_slug
        statuses[(probe.kind, is_own, status)] += 1
        where = f"#{number} {probe.kind} {probe.host} {probe.path} {probe.params} as "
        where += f"{probe.credential_slug} -> {status}"
        if status >= 500:
            failures.append(f"server error: {where}")
        leaked = _leaked_words(probe, body, corpora)
        if leaked:
            failures.append(f"leaked {leaked}: {where}")
        if probe.host_slug is None:
            if status != 404:
                failures.append(f"unknown host answered: {where}")
        elif not is_own:
            refusals = {401 if probe.is_api else 302}
            if probe.host != probe.host.lower():
                refusals.add(404)
            if status not in refusals:
                failures.append(f"foreign credentials not refused with {refusals}: {where}")
        if is_own and probe.host_slug and corpora[probe.host_slug].word in body:
            own_word_seen[probe.host_slug] += 1

    assert not failures, "\n".join(failures[:20])
    # The scan is only meaningful if tenants really did get their own marked content back.
    assert set(own_word_seen) == set(corpora), own_word_seen
    assert all(count >= 20 for count in own_word_seen.values()), own_word_seen
    refused = sum(n for (_, is_own, status), n in statuses.items() if status in {401, 302})
    assert refused >= REQUEST_COUNT // 4, statuses
