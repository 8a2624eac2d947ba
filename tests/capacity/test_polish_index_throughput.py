"""Indexing throughput is counted while a job runs, and adds up to the job's chunk count."""

from __future__ import annotations

import pytest
from django.conf import settings

from capacity import counters, recording

pytestmark = pytest.mark.django_db

MODULE = '''"""Helpers number {n}."""


def first_helper_{n}(value):
    return value + {n}


def second_helper_{n}(value):
    return value * {n}


class Holder{n}:
    def get(self):
        return {n}
'''


@pytest.fixture
def usage_writes(monkeypatch):
    """Record the increments of every tenant usage write, in order."""
    writes: list[dict[str, int]] = []
    original = counters.write_usage

    def spy(tenant_id, at, *, increments, **kwargs):
        writes.append(dict(increments))
        return original(tenant_id, at, increments=increments, **kwargs)

    monkeypatch.setattr(counters, "write_usage", spy)
    return writes


def test_a_jobs_chunks_are_counted_while_it_runs_and_add_up_to_its_chunk_count(
    acme,
    sources_root,
    counters_clean,
    usage_writes,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from django_tenants.utils import tenant_context

    from search.models import IndexJob
    from search.services import indexing
    from search.services.repositories import create_local_repository, delete_repository

    folder = sources_root / "throughput"
    folder.mkdir()
    for n in range(1, 7):
        (folder / f"helpers_{n}.py").write_text(MODULE.format(n=n))
    # Save progress after every file, and embed in small batches so chunks land in between.
    monkeypatch.setattr(indexing, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setitem(settings.SEARCH, "EMBED_BATCH_SIZE", 1)

    with tenant_context(acme.tenant):
        repository = create_local_repository(name="throughput", path=str(folder))
        try:
            with django_capture_on_commit_callbacks(execute=True):
                job = indexing.start_index_job(repository=repository)
            job.refresh_from_db()
        finally:
            delete_repository(repository_id=repository.pk)

    assert job.status == IndexJob.Status.SUCCEEDED, job.error
    assert job.chunks_indexed >= 12
    finished = [w for w in usage_writes if w.get("jobs") == 1]
    assert len(finished) == 1
    progress = [w for w in usage_writes if "jobs" not in w and w.get("chunks")]
    assert len(progress) >= 2, usage_writes
    assert sum(w.get("chunks", 0) for w in usage_writes) == job.chunks_indexed
    assert sum(w.get("files", 0) for w in usage_writes) == job.files_indexed == 6
    (minute,) = counters.peek_usage(acme.tenant.pk)
    assert minute.fields["chunks"] == job.chunks_indexed
    assert recording._job_progress == {}


class _Job:
    def __init__(self, pk: int, files: int, chunks: int) -> None:
        self.pk, self.files_indexed, self.chunks_indexed = pk, files, chunks


def test_progress_counts_only_work_done_since_the_run_started(acme, counters_clean, usage_writes):
    from django_tenants.utils import tenant_context

    job = _Job(pk=987_654, files=10, chunks=100)  # resumed: the earlier run counted these
    with tenant_context(acme.tenant):
        assert not recording.record_index_progress(job)
        job.files_indexed, job.chunks_indexed = 12, 130
        assert recording.record_index_progress(job)
        assert not recording.record_index_progress(job)  # nothing new
        counted = recording._take_counted_progress(acme.tenant.pk, job.pk)

    assert usage_writes == [{"files": 2, "chunks": 30}]
    assert counted == (12, 130)
    assert recording._take_counted_progress(acme.tenant.pk, job.pk) is None


def test_progress_is_not_counted_for_the_public_schema(public_tenant, usage_writes):
    assert not recording.record_index_progress(_Job(pk=1, files=5, chunks=50))
    assert usage_writes == []
