"""Which embedding model built each index, and what happens when EMBEDDING_MODEL changes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_tenants.utils import tenant_context

from search.embeddings import DEFAULT_EMBEDDING_MODEL, KNOWN_MODELS
from search.sparse import TERM_SCHEME
from tests.conftest import SAMPLE_SOURCE

# A second real registered model: the same network at 256 tokens, so it loads quickly and
# has the same dimension, yet it is another model name with other vectors.
OTHER_MODEL = "minilm-l6-int8"


@pytest.fixture(autouse=True)
def _default_model(monkeypatch):
    """Start every test from the portal's default model; a test switches it explicitly."""
    assert OTHER_MODEL in KNOWN_MODELS and OTHER_MODEL != DEFAULT_EMBEDDING_MODEL
    monkeypatch.setitem(settings.SEARCH, "EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL)


def _run_job(tenant, repository, capture):
    from search.services.indexing import start_index_job

    with tenant_context(tenant):
        with capture(execute=True):
            job = start_index_job(repository=repository)
        job.refresh_from_db()
        repository.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


def _model_changed_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "search.index_job.model_changed"]


@pytest.mark.django_db
def test_index_job_reembeds_every_file_after_a_model_change_and_records_the_model(
    acme, copy_tree, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from search.services.repositories import create_local_repository
    from search.vector_store import get_vector_store, storage_target

    caplog.set_level(logging.INFO, logger="search.services.indexing")
    capture = django_capture_on_commit_callbacks
    root = copy_tree(SAMPLE_SOURCE, "modelchange")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="modelchange", path=str(root))
    assert repository.embedding_model == ""

    first = _run_job(acme.tenant, repository, capture)
    assert repository.embedding_model == DEFAULT_EMBEDDING_MODEL
    assert first.files_indexed > 0 and first.chunks_indexed > 0
    target = storage_target(acme.tenant)
    points = get_vector_store().count(target, repository_id=repository.pk)
    assert points == first.chunks_indexed

    # Same model: the content-hash shortcut holds, nothing is embedded.
    same = _run_job(acme.tenant, repository, capture)
    assert same.chunks_indexed == 0 and same.embed_seconds == 0
    assert same.files_unchanged == first.files_indexed
    assert _model_changed_records(caplog) == []

    # Another model: every unchanged file is embedded again and its points replaced.
    monkeypatch.setitem(settings.SEARCH, "EMBEDDING_MODEL", OTHER_MODEL)
    changed = _run_job(acme.tenant, repository, capture)
    assert changed.files_unchanged == 0
    assert changed.files_indexed == first.files_indexed
    assert changed.chunks_indexed == first.chunks_indexed and changed.embed_seconds > 0
    assert get_vector_store().count(target, repository_id=repository.pk) == points
    assert repository.embedding_model == OTHER_MODEL
    (record,) = _model_changed_records(caplog)
    assert (record.old_model, record.new_model) == (DEFAULT_EMBEDDING_MODEL, OTHER_MODEL)
    assert record.tenant_id == acme.tenant.pk and record.repository_id == repository.pk

    # The new model is recorded, so the next run is incremental again.
    again = _run_job(acme.tenant, repository, capture)
    assert again.chunks_indexed == 0 and again.files_unchanged == first.files_indexed
    assert len(_model_changed_records(caplog)) == 1


@pytest.mark.django_db
def test_repository_indexed_before_models_were_recorded_is_reembedded(
    acme, copy_tree, django_capture_on_commit_callbacks, caplog
):
    from search.models import Repository
    from search.services.repositories import create_local_repository

    caplog.set_level(logging.INFO, logger="search.services.indexing")
    root = copy_tree(SAMPLE_SOURCE, "legacymodel")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="legacymodel", path=str(root))
    first = _run_job(acme.tenant, repository, django_capture_on_commit_callbacks)
    with tenant_context(acme.tenant):
        Repository.objects.filter(pk=repository.pk).update(embedding_model="")

    legacy = _run_job(acme.tenant, repository, django_capture_on_commit_callbacks)
    assert legacy.files_unchanged == 0 and legacy.chunks_indexed == first.chunks_indexed
    assert repository.embedding_model == DEFAULT_EMBEDDING_MODEL
    (record,) = _model_changed_records(caplog)
    assert record.old_model == "unrecorded"


@pytest.mark.django_db
def test_repository_indexed_with_older_keyword_terms_is_flagged_and_reindexed(
    acme, copy_tree, django_capture_on_commit_callbacks, caplog
):
    """Same model, older term scheme: stored keyword vectors lack the stemmed terms queries
    now send, so the repository is flagged and its next job rebuilds every file."""
    from search.models import Repository
    from search.services.repositories import create_local_repository

    caplog.set_level(logging.INFO, logger="search.services.indexing")
    root = copy_tree(SAMPLE_SOURCE, "oldterms")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="oldterms", path=str(root))
    first = _run_job(acme.tenant, repository, django_capture_on_commit_callbacks)
    assert repository.term_scheme == TERM_SCHEME and not repository.needs_reindex
    with tenant_context(acme.tenant):
        Repository.objects.filter(pk=repository.pk).update(term_scheme=TERM_SCHEME - 1)
        repository.refresh_from_db()
    assert repository.needs_reindex and not repository.model_is_stale

    page = acme.client().get(f"/repositories/{repository.pk}/").content.decode()
    assert f"Indexed with keyword terms v{TERM_SCHEME - 1}" in page

    rebuilt = _run_job(acme.tenant, repository, django_capture_on_commit_callbacks)
    assert rebuilt.files_unchanged == 0 and rebuilt.chunks_indexed == first.chunks_indexed
    assert repository.term_scheme == TERM_SCHEME and not repository.needs_reindex
    (record,) = _model_changed_records(caplog)
    assert (record.old_term_scheme, record.new_term_scheme) == (TERM_SCHEME - 1, TERM_SCHEME)


def _repository(name: str, *, model: str, indexed: bool = True, term_scheme: int = TERM_SCHEME):
    from search.models import Repository

    return Repository.objects.create(
        name=name,
        source=Repository.Source.LOCAL,
        root_path=str(SAMPLE_SOURCE.resolve()),
        embedding_model=model,
        term_scheme=term_scheme,
        last_indexed_at=timezone.now() if indexed else None,
    )


@pytest.mark.django_db
def test_repository_page_tells_to_reindex_with_the_configured_model(acme):
    with tenant_context(acme.tenant):
        stale = _repository("stale-page", model=OTHER_MODEL)
        current = _repository("current-page", model=DEFAULT_EMBEDDING_MODEL)
    client = acme.client()

    page = client.get(f"/repositories/{stale.pk}/").content.decode()
    assert f"Indexed with <code>{OTHER_MODEL}</code>, the portal now uses" in page
    assert f"re-index to search it with <code>{DEFAULT_EMBEDDING_MODEL}</code>" in page
    assert f'action="/repositories/{stale.pk}/index/"' in page
    assert f"Re-index with {DEFAULT_EMBEDDING_MODEL}" in page

    page = client.get(f"/repositories/{current.pk}/").content.decode()
    assert f"Embedding model: <code>{DEFAULT_EMBEDDING_MODEL}</code>" in page
    assert 'id="model-notice"' not in page

    listing = client.get("/repositories/").content.decode()
    assert 'id="model-notice"' in listing
    assert "Re-index stale-page" in listing and "Re-index current-page" not in listing


@pytest.mark.django_db
def test_repositories_api_exposes_the_model_and_whether_a_reindex_is_needed(acme):
    with tenant_context(acme.tenant):
        ids = {
            "stale": _repository("stale-api", model=OTHER_MODEL).pk,
            "legacy": _repository("legacy-api", model="").pk,
            "current": _repository("current-api", model=DEFAULT_EMBEDDING_MODEL).pk,
            "never": _repository("never-api", model="", indexed=False).pk,
        }
    api = acme.api()
    fields = {
        name: (body["embedding_model"], body["needs_reindex"])
        for name, pk in ids.items()
        for body in [api.get(f"/api/v1/repositories/{pk}/").json()]
    }
    assert fields == {
        "stale": (OTHER_MODEL, True),
        "legacy": ("", True),
        "current": (DEFAULT_EMBEDDING_MODEL, False),
        "never": ("", False),
    }
    listed = {r["name"]: r["needs_reindex"] for r in api.get("/api/v1/repositories/").json()}
    assert listed["stale-api"] is True and listed["current-api"] is False


@pytest.mark.django_db
def test_embedding_model_cannot_be_set_through_the_api(globex):
    response = globex.api().post(
        "/api/v1/repositories/",
        {
            "name": "claims",
            "path": str(SAMPLE_SOURCE.resolve()),
            "embedding_model": OTHER_MODEL,
            "index": False,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["embedding_model"], response.json()["needs_reindex"]) == ("", False)


@pytest.mark.django_db
def test_reindex_stale_models_queues_jobs_for_stale_repositories_only(
    acme, globex, django_capture_on_commit_callbacks, capsys
):
    from search.models import IndexJob

    with tenant_context(acme.tenant):
        acme_stale = {
            _repository("stale-cmd", model=OTHER_MODEL).pk,
            _repository("legacy-cmd", model="").pk,
        }
        acme_fresh = {
            _repository("current-cmd", model=DEFAULT_EMBEDDING_MODEL).pk,
            _repository("never-cmd", model="", indexed=False).pk,
        }
    with tenant_context(globex.tenant):
        globex_stale = {_repository("globex-stale-cmd", model=OTHER_MODEL).pk}

    with django_capture_on_commit_callbacks() as enqueued:
        call_command("reindex_stale_models", dry_run=True)
    out = capsys.readouterr().out
    assert enqueued == []
    assert "acme: 2 of" in out and "would queue" in out
    assert f"stale-cmd: indexed with {OTHER_MODEL}" in out
    assert "legacy-cmd: indexed with unrecorded model" in out
    assert "current-cmd" not in out and "never-cmd" not in out
    with tenant_context(acme.tenant):
        assert not IndexJob.objects.filter(repository_id__in=acme_stale | acme_fresh).exists()

    with django_capture_on_commit_callbacks() as enqueued:
        call_command("reindex_stale_models")
    out = capsys.readouterr().out
    with tenant_context(acme.tenant):
        queued = set(
            IndexJob.objects.filter(status=IndexJob.Status.QUEUED).values_list(
                "repository_id", flat=True
            )
        )
    assert acme_stale <= queued and not acme_fresh & queued
    with tenant_context(globex.tenant):
        assert (
            set(
                IndexJob.objects.filter(repository_id__in=globex_stale).values_list(
                    "repository_id", flat=True
                )
            )
            == globex_stale
        )
    assert len(enqueued) >= 3
    assert "stale-cmd: indexed with" in out and "queued job" in out
    assert "globex-stale-cmd" in out

    # Run again: the queued jobs are reported, not queued twice.
    with django_capture_on_commit_callbacks() as enqueued:
        call_command("reindex_stale_models", tenant="acme")
    assert enqueued == []
    assert "is already queued or running" in capsys.readouterr().out


@pytest.mark.django_db
def test_reindex_stale_models_fails_when_a_job_cannot_be_queued(
    acme, django_capture_on_commit_callbacks, capsys
):
    from search.models import IndexJob

    with tenant_context(acme.tenant):
        busy = _repository("busy-cmd", model=DEFAULT_EMBEDDING_MODEL)
        stale = _repository("blocked-cmd", model=OTHER_MODEL)
        # The free plan runs one job at a time, and one is running.
        IndexJob.objects.create(repository=busy, status=IndexJob.Status.RUNNING)
    with pytest.raises(CommandError, match="run the command again"):
        call_command("reindex_stale_models", tenant="acme")
    assert "blocked-cmd: indexed with" in capsys.readouterr().out
    with tenant_context(acme.tenant):
        assert not IndexJob.objects.filter(repository=stale).exists()


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "money.py").write_text("def convert_currency(amount, rate):\n    return amount\n")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"id": "q1", "query": "convert_currency"}) + "\n")
    return corpus, queries


def test_evaluate_search_refuses_an_index_dir_built_with_another_model(
    tmp_path, monkeypatch, capsys
):
    corpus, queries = _corpus(tmp_path)
    index_dir = tmp_path / "index"
    options = {"corpus": corpus, "queries": queries, "out": tmp_path / "r.jsonl"}

    call_command("evaluate_search", index_dir=index_dir, **options)
    assert (index_dir / "embedding_model.txt").read_text().strip() == (
        f"{DEFAULT_EMBEDDING_MODEL}, terms v{TERM_SCHEME}"
    )
    call_command("evaluate_search", index_dir=index_dir, **options)
    assert "Reusing the index" in capsys.readouterr().out

    monkeypatch.setitem(settings.SEARCH, "EMBEDDING_MODEL", OTHER_MODEL)
    with pytest.raises(CommandError) as refused:
        call_command("evaluate_search", index_dir=index_dir, **options)
    message = str(refused.value)
    assert f"built with {DEFAULT_EMBEDDING_MODEL}" in message
    assert f"delete {index_dir} or pass another --index-dir" in message

    # An index without a marker (older, or a build that stopped half-way) is refused too.
    (index_dir / "embedding_model.txt").unlink()
    monkeypatch.setitem(settings.SEARCH, "EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL)
    with pytest.raises(CommandError, match="no marker file"):
        call_command("evaluate_search", index_dir=index_dir, **options)

    # Another folder is built afresh with the other model.
    monkeypatch.setitem(settings.SEARCH, "EMBEDDING_MODEL", OTHER_MODEL)
    call_command("evaluate_search", index_dir=tmp_path / "other", **options)
    assert (tmp_path / "other" / "embedding_model.txt").read_text().strip() == (
        f"{OTHER_MODEL}, terms v{TERM_SCHEME}"
    )


@pytest.mark.django_db
def test_search_page_names_repositories_that_need_a_reindex(acme):
    with tenant_context(acme.tenant):
        _repository("current-search", model=DEFAULT_EMBEDDING_MODEL)
    client = acme.client()
    assert 'id="stale-notice"' not in client.get("/").content.decode()

    with tenant_context(acme.tenant):
        _repository("old-terms-search", model=DEFAULT_EMBEDDING_MODEL, term_scheme=0)
    page = client.get("/").content.decode()
    assert 'id="stale-notice"' in page
    assert "old-terms-search was indexed with another embedding model" in page
    assert "current-search" not in page.split('id="stale-notice"')[1].split("</div>")[0]
