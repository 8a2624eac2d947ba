"""Jobs whose worker died, or whose message was lost, are sent to the workers again.

A stop that timed out, SIGKILL or an out-of-memory kill leaves a job "running" with its
message unacknowledged until the broker's visibility timeout (hours), holding the plan's job
slot. Beat's sweep (search.tasks.recover_stalled_index_jobs) resends such jobs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from tests.conftest import SAMPLE_SOURCE

pytestmark = pytest.mark.django_db


def _job(repository, *, status, started=None, heartbeat=None, enqueued=None, created=None):
    from search.models import IndexJob

    job = IndexJob.objects.create(repository=repository)
    IndexJob.objects.filter(pk=job.pk).update(
        status=status,
        started_at=started,
        heartbeat_at=heartbeat,
        enqueued_at=enqueued,
        created_at=created or timezone.now(),
    )
    return job.pk


def test_the_sweep_picks_dead_handed_back_and_lost_jobs_only_once(acme, monkeypatch):
    from search import tasks
    from search.models import IndexJob, Repository
    from search.services.indexing import recover_stalled_jobs

    sent: list[tuple[str, int]] = []
    # The broker is not what is tested here: record the sends instead of running them.
    monkeypatch.setattr(tasks.index_repository, "delay", lambda *args: sent.append(args))
    now = timezone.now()
    ago = lambda **kw: now - timedelta(**kw)  # noqa: E731
    running, queued = IndexJob.Status.RUNNING, IndexJob.Status.QUEUED
    with tenant_context(acme.tenant):
        repos = [
            Repository.objects.create(
                name=f"r{i}", source=Repository.Source.LOCAL, root_path=str(SAMPLE_SOURCE)
            )
            for i in range(6)
        ]
        dead = _job(
            repos[0],
            status=running,
            started=ago(hours=1),
            heartbeat=ago(minutes=6),
            enqueued=ago(hours=1),
        )
        alive = _job(
            repos[1],
            status=running,
            started=ago(hours=1),
            heartbeat=ago(seconds=10),
            enqueued=ago(hours=1),
        )
        handed_back = _job(
            repos[2], status=queued, started=ago(minutes=10), enqueued=ago(minutes=10)
        )
        still_finishing = _job(
            repos[3],
            status=queued,
            started=ago(minutes=10),
            heartbeat=ago(seconds=5),
            enqueued=ago(minutes=10),
        )
        lost = _job(repos[4], status=queued, enqueued=ago(minutes=20), created=ago(minutes=20))
        waiting = _job(repos[5], status=queued, enqueued=ago(minutes=5), created=ago(minutes=5))

        resent = recover_stalled_jobs(now=now)

        assert resent == sorted([dead, handed_back, lost])
        assert sorted(job_id for _, job_id in sent) == resent
        assert {schema for schema, _ in sent} == {acme.tenant.schema_name}
        assert alive not in resent and still_finishing not in resent and waiting not in resent
        # Sent again just now: the next sweep leaves them alone.
        assert recover_stalled_jobs(now=now + timedelta(seconds=30)) == []


def test_a_job_of_a_dead_worker_is_taken_over_and_finishes(
    acme, copy_tree, django_capture_on_commit_callbacks
):
    from search.models import IndexJob
    from search.services.repositories import create_local_repository
    from search.tasks import recover_stalled_index_jobs

    root = copy_tree(SAMPLE_SOURCE, "deadworker")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="deadworker", path=str(root))
        long_ago = timezone.now() - timedelta(minutes=30)
        job_id = _job(
            repository,
            status=IndexJob.Status.RUNNING,
            started=long_ago,
            heartbeat=long_ago,
            enqueued=long_ago,
        )

    # Celery runs eagerly in the tests: the resent message runs the job at once.
    assert recover_stalled_index_jobs() >= 1

    with tenant_context(acme.tenant):
        job = IndexJob.objects.get(pk=job_id)
        assert job.status == IndexJob.Status.SUCCEEDED
        assert job.attempts == 1 and job.chunks_indexed > 0


def test_a_first_index_records_its_model_before_it_embeds_so_a_resume_skips_stored_files(
    acme, copy_tree, django_capture_on_commit_callbacks, monkeypatch
):
    """A resent first index (its worker died half-way) must not take the files it already
    stored for ones of an unknown model and embed them all again."""
    from django.conf import settings

    from search.models import Repository
    from search.services import indexing
    from search.services.repositories import create_local_repository
    from search.sparse import TERM_SCHEME

    seen: list[tuple[str, int]] = []
    real_embed = indexing.embed_chunks

    def embed_and_look(embedder, chunks):
        seen.append(
            Repository.objects.values_list("embedding_model", "term_scheme").get(name="firstrun")
        )
        return real_embed(embedder, chunks)

    monkeypatch.setattr(indexing, "embed_chunks", embed_and_look)
    root = copy_tree(SAMPLE_SOURCE, "firstrun")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="firstrun", path=str(root))
        with django_capture_on_commit_callbacks(execute=True):
            indexing.start_index_job(repository=repository)

    assert seen and seen[0] == (settings.SEARCH["EMBEDDING_MODEL"], TERM_SCHEME)
