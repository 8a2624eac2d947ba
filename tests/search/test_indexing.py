"""Index jobs through the real pipeline: cases C01, C10, C13, C22 and incremental re-index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

pytestmark = pytest.mark.django_db

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "files"


def _needs_cases(name: str) -> Path:
    path = CASES / name
    if not path.exists():
        pytest.skip("shared case files are not available")
    return path


def _index(tenant, root: Path, name: str, capture):
    """Register and index a folder; the job runs when the enqueue callback fires."""
    from search.models import IndexJob
    from search.services.indexing import start_index_job
    from search.services.repositories import create_local_repository

    with tenant_context(tenant):
        repository = create_local_repository(name=name, path=str(root))
        with capture(execute=True):
            start_index_job(repository=repository)
        return repository, IndexJob.objects.filter(repository=repository).latest("created_at")


def test_crlf_cr_and_missing_newline_files_report_identical_line_spans(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    """Case C13: def target_function() is on line 7 and `return 2` on line 8 in all four."""
    root = copy_tree(_needs_cases("C13"), "c13")
    _, job = _index(acme.tenant, root, "c13", django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    hits = acme.api().get("/api/v1/search/", {"q": "target_function", "limit": 20}).json()
    spans = {
        r["path"]: (r["start_line"], r["end_line"])
        for r in hits["results"]
        if r["symbol"] == "target_function"
    }
    assert spans == {
        "cr_only.py": (7, 8),
        "crlf.py": (7, 8),
        "lf.py": (7, 8),
        "mixed_no_final_newline.py": (7, 8),
    }
    assert all("\r" not in r["snippet"] for r in hits["results"])
    with tenant_context(acme.tenant):
        from search.models import IndexedFile

        counts = dict(
            IndexedFile.objects.filter(repository__name="c13").values_list("path", "chunk_count")
        )
    assert counts["lf.py"] == counts["crlf.py"]


def test_legacy_encodings_are_indexed_and_binaries_are_reported(
    globex, copy_tree, django_capture_on_commit_callbacks
):
    """Case C10: the job completes, decodable files are searchable, binaries are listed."""
    root = copy_tree(_needs_cases("C10"), "c10")
    _, job = _index(globex.tenant, root, "c10", django_capture_on_commit_callbacks)
    assert job.status == "completed_with_warnings"
    with tenant_context(globex.tenant):
        outcomes = {o.path: (o.kind, o.reason) for o in job.outcomes.all()}
    assert outcomes["nul_bytes.py"] == ("skipped", "binary")
    assert outcomes["fake_image.png"] == ("skipped", "binary")
    assert outcomes["latin1_module.py"][0] == "decode_fallback"
    assert job.files_decode_fallback == 1 and job.files_skipped == 2

    api = globex.api()
    for query, path in [
        ("parse_resume_fr", "latin1_module.py"),
        ("bom_first_function", "utf8_bom_module.py"),
        ("utf16_function", "utf16le_module.py"),
        ("café_menu", "unicode_idents.py"),
        ("größe_berechnen", "unicode_idents.py"),
    ]:
        first = api.get("/api/v1/search/", {"q": query}).json()["results"][0]
        assert first["path"] == path, (query, first["path"])
    bom = api.get("/api/v1/search/", {"q": "bom_first_function"}).json()["results"][0]
    assert bom["start_line"] == 1 and "\ufeff" not in bom["symbol"]


def test_reindex_of_unchanged_repository_embeds_nothing_and_keeps_point_count(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    from search.services.indexing import start_index_job
    from search.vector_store import get_vector_store, storage_target
    from tests.conftest import SAMPLE_SOURCE

    root = copy_tree(SAMPLE_SOURCE, "incremental")
    repository, first = _index(acme.tenant, root, "incremental", django_capture_on_commit_callbacks)
    target = storage_target(acme.tenant)
    points = get_vector_store().count(target, repository_id=repository.pk)
    assert points == first.chunks_indexed > 0

    with tenant_context(acme.tenant):
        with django_capture_on_commit_callbacks(execute=True):
            second = start_index_job(repository=repository)
        second.refresh_from_db()
    assert second.status == "succeeded"
    assert second.chunks_indexed == 0 and second.embed_seconds == 0
    assert second.files_unchanged == first.files_indexed
    assert get_vector_store().count(target, repository_id=repository.pk) == points

    # A changed file is replaced, a deleted one removed.
    (root / "click" / "parser.py").write_text("def brand_new_function():\n    return 42\n")
    (root / "click" / "utils.py").unlink()
    with tenant_context(acme.tenant):
        with django_capture_on_commit_callbacks(execute=True):
            third = start_index_job(repository=repository)
        third.refresh_from_db()
    assert (third.files_indexed, third.files_deleted) == (1, 1)
    hit = acme.api().get("/api/v1/search/", {"q": "brand_new_function"}).json()["results"][0]
    assert hit["path"] == "click/parser.py"
    with tenant_context(acme.tenant):
        from search.models import IndexedFile

        expected = sum(
            IndexedFile.objects.filter(repository=repository).values_list("chunk_count", flat=True)
        )
    assert get_vector_store().count(target, repository_id=repository.pk) == expected


def test_duplicate_delivery_of_a_job_is_a_no_op(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    """Case C22: a redelivered message for a finished or live job does no work twice."""
    from search.services.indexing import run_index_job
    from search.vector_store import get_vector_store, storage_target
    from tests.conftest import SAMPLE_SOURCE

    root = copy_tree(SAMPLE_SOURCE, "redelivered")
    repository, job = _index(acme.tenant, root, "redelivered", django_capture_on_commit_callbacks)
    count = get_vector_store().count(storage_target(acme.tenant), repository_id=repository.pk)
    with tenant_context(acme.tenant):
        assert run_index_job(job.pk) is None
        job.refresh_from_db()
    assert job.attempts == 1
    assert (
        get_vector_store().count(storage_target(acme.tenant), repository_id=repository.pk) == count
    )


def test_tenant_task_without_a_tenant_fails_loudly():
    """Case C01: a task message with no tenant schema never runs against public."""
    from portal.celery import MissingTenant
    from search.tasks import index_repository

    with pytest.raises(MissingTenant):
        index_repository.apply(args=["public", 1], throw=True)
    with pytest.raises(MissingTenant):
        index_repository.apply(args=[], throw=True)


def test_search_cache_is_invalidated_by_a_reindex(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    from search.services.indexing import start_index_job

    root = copy_tree(Path(__file__).parent, "cachecheck")
    shutil.rmtree(root)
    root.mkdir()
    (root / "a.py").write_text("def zebra_crossing():\n    return 1\n")
    repository, _ = _index(acme.tenant, root, "cachecheck", django_capture_on_commit_callbacks)
    api = acme.api()
    first = api.get("/api/v1/search/", {"q": "repo:cachecheck zebra_crossing"}).json()
    again = api.get("/api/v1/search/", {"q": "repo:cachecheck zebra_crossing"}).json()
    assert first["cache"] == "miss" and again["cache"] in ("l1", "l2")
    (root / "a.py").write_text("def zebra_crossing_v2():\n    return 2\n")
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        start_index_job(repository=repository)
    fresh = api.get("/api/v1/search/", {"q": "repo:cachecheck zebra_crossing"}).json()
    assert fresh["cache"] == "miss"
    assert fresh["results"][0]["symbol"] == "zebra_crossing_v2"


def test_job_handed_back_at_worker_shutdown_is_resumed_without_duplicates(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    """A worker stopped mid-job (case C22): the redelivery resumes at once, no duplicates."""
    from search.models import IndexedFile, IndexJob
    from search.services import indexing
    from search.vector_store import get_vector_store, storage_target
    from tests.conftest import SAMPLE_SOURCE

    root = copy_tree(SAMPLE_SOURCE, "handback")
    repository, first = _index(acme.tenant, root, "handback", django_capture_on_commit_callbacks)
    with tenant_context(acme.tenant):
        # The state a worker leaves behind when it dies inside a job: running, fresh heartbeat.
        job = IndexJob.objects.create(repository=repository)
        IndexJob.objects.filter(pk=job.pk).update(
            status=IndexJob.Status.RUNNING, heartbeat_at=first.finished_at
        )
        (root / "click" / "parser.py").write_text("def resumed_function():\n    return 1\n")
        assert indexing.run_index_job(job.pk) is None  # a live-looking job is not taken over
        indexing._active_jobs.add((acme.tenant.schema_name, job.pk))
        try:
            assert indexing.requeue_active_jobs() == 1
        finally:
            indexing._active_jobs.discard((acme.tenant.schema_name, job.pk))
        resumed = indexing.run_index_job(job.pk)
        assert resumed is not None and resumed.status == "succeeded"
        expected = sum(
            IndexedFile.objects.filter(repository=repository).values_list("chunk_count", flat=True)
        )
    count = get_vector_store().count(storage_target(acme.tenant), repository_id=repository.pk)
    assert count == expected


def test_deleting_a_repository_removes_it_from_cached_answers(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    root = copy_tree(Path(__file__).parent / "ingest", "todelete")
    shutil.rmtree(root)
    root.mkdir()
    (root / "cart.py").write_text("def cart_total_for_deletion(items):\n    return sum(items)\n")
    repository, _ = _index(acme.tenant, root, "todelete", django_capture_on_commit_callbacks)
    api = acme.api()
    first = api.get("/api/v1/search/", {"q": "cart_total_for_deletion"}).json()
    again = api.get("/api/v1/search/", {"q": "cart_total_for_deletion"}).json()
    assert first["results"][0]["repository"] == "todelete" and again["cache"] != "miss"
    assert api.delete(f"/api/v1/repositories/{repository.pk}/").status_code == 204
    after = api.get("/api/v1/search/", {"q": "cart_total_for_deletion"}).json()
    assert after["cache"] == "miss"
    assert all(hit["repository"] != "todelete" for hit in after["results"])


def test_quoted_phrase_puts_exact_matches_first(
    globex, copy_tree, django_capture_on_commit_callbacks
):
    root = copy_tree(Path(__file__).parent / "ingest", "phrases")
    shutil.rmtree(root)
    root.mkdir()
    for index in range(6):
        (root / f"valid_{index}.py").write_text(
            f"def is_valid_{index}(value):\n    # valid valid valid value is valid\n"
            f"    return value is not None and valid(value)\n"
        )
    (root / "uuid_field.py").write_text(
        "def to_uuid(value):\n    raise ValueError('%s is not a valid UUID.' % value)\n"
    )
    _index(globex.tenant, root, "phrases", django_capture_on_commit_callbacks)
    hits = globex.api().get("/api/v1/search/", {"q": 'repo:phrases "is not a valid"'}).json()
    assert hits["results"][0]["path"] == "uuid_field.py"


def test_job_progress_can_leave_out_per_file_outcomes(acme_indexed):
    from search.models import IndexJob

    with tenant_context(acme_indexed.tenant):
        job = IndexJob.objects.filter(repository__name="sample").first()
    api = acme_indexed.api()
    full = api.get(f"/api/v1/jobs/{job.pk}/").json()
    light = api.get(f"/api/v1/jobs/{job.pk}/", {"outcomes": "none"}).json()
    assert "outcomes" in full and "outcomes" not in light
    assert light["status"] == full["status"] == "succeeded"


@pytest.mark.django_db
def test_searches_during_a_long_job_stop_seeing_answers_cached_before_it(
    acme, copy_tree, django_capture_on_commit_callbacks, monkeypatch
):
    """A first index of a big repository takes minutes; an answer cached at its start (say,
    no results) must not outlive the points stored since. Batches bump the tenant's index
    version, at most every CACHE_BUMP_EVERY_SECONDS, and the job's end bumps it once more."""
    from search import search_cache
    from search.services import indexing
    from tests.conftest import SAMPLE_SOURCE

    bumps: list[str] = []
    real_bump = search_cache.bump_index_version
    monkeypatch.setattr(
        search_cache, "bump_index_version", lambda key: (bumps.append(key), real_bump(key))
    )
    # One chunk per embedding batch: every file or two is its own flush.
    monkeypatch.setitem(settings.SEARCH, "EMBED_BATCH_SIZE", 1)

    monkeypatch.setattr(indexing, "CACHE_BUMP_EVERY_SECONDS", 0.0)
    _, job = _index(
        acme.tenant, copy_tree(SAMPLE_SOURCE, "bumps"), "bumps", django_capture_on_commit_callbacks
    )
    assert job.files_indexed >= 3
    in_job = len(bumps) - 1
    assert in_job >= 2 and set(bumps) == {acme.tenant.schema_name}

    # Throttled: only the first batch of the job bumps, then the job's end.
    bumps.clear()
    monkeypatch.setattr(indexing, "CACHE_BUMP_EVERY_SECONDS", 3600.0)
    _index(
        acme.tenant,
        copy_tree(SAMPLE_SOURCE, "bumps-throttled"),
        "bumps-throttled",
        django_capture_on_commit_callbacks,
    )
    assert len(bumps) == 2
