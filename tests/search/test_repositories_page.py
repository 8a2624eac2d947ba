"""The Repositories page while a repository's first index job runs."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from tests.conftest import SAMPLE_SOURCE

pytestmark = pytest.mark.django_db


def test_repositories_page_shows_a_first_jobs_counts_while_it_runs(acme):
    from search.models import IndexJob, Repository

    with tenant_context(acme.tenant):
        repository = Repository.objects.create(
            name="first-run", source=Repository.Source.LOCAL, root_path=str(SAMPLE_SOURCE)
        )
        IndexJob.objects.create(
            repository=repository,
            status=IndexJob.Status.RUNNING,
            files_total=40,
            files_done=12,
            files_indexed=9,
            chunks_indexed=321,
        )

    listing = acme.client().get("/repositories/").content.decode()

    # Not "0 / 0" until the job ends: the files and chunks stored so far.
    assert "<td>9 so far</td><td>321 so far</td>" in listing
