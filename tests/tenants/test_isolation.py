"""A tenant's session or token never reaches another tenant's data (issue: isolation).

Each case is attacked from acme against globex data: guessed ids, a changed Host header, a
token sent to another tenant's domain, and a session cookie replayed on another domain.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.conftest import SAMPLE_SOURCE

pytestmark = pytest.mark.django_db


@pytest.fixture
def globex_repository(globex):
    from search.models import IndexJob, Repository

    with schema_context(globex.tenant.schema_name):
        # An id far above anything acme creates, so a hit could only come from globex.
        repository = Repository.objects.create(
            pk=900_001,
            name="globex-secret",
            source="local",
            root_path=str(SAMPLE_SOURCE.resolve()),
        )
        job = IndexJob.objects.create(repository=repository)
    return repository, job


def test_token_of_one_tenant_is_rejected_on_another_tenants_domain(acme, globex):
    response = globex.api(token=acme.token).get("/api/v1/repositories/")
    assert response.status_code == 401
    assert "globex-secret" not in response.content.decode()


def test_guessed_repository_and_job_ids_of_another_tenant_are_not_found(
    acme, globex, globex_repository
):
    repository, job = globex_repository
    api = acme.api()
    assert api.get(f"/api/v1/repositories/{repository.pk}/").status_code == 404
    assert api.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert api.post(f"/api/v1/repositories/{repository.pk}/index/").status_code == 404
    listing = api.get("/api/v1/repositories/")
    assert listing.status_code == 200
    assert all(r["name"] != "globex-secret" for r in listing.json())


def test_session_cookie_replayed_on_another_domain_is_anonymous(acme, globex, globex_repository):
    from django.test import Client

    acme_client = acme.client()
    cookie = acme_client.cookies["sessionid"].value
    intruder = Client(HTTP_HOST=globex.host)
    intruder.cookies["sessionid"] = cookie
    page = intruder.get("/repositories/")
    assert page.status_code == 302 and "/login/" in page["Location"]
    api = intruder.get("/api/v1/repositories/")
    assert api.status_code == 401
    assert "globex-secret" not in api.content.decode()


def test_unknown_host_header_gets_404_not_a_tenant(acme):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="evil.localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme.token}")
    assert client.get("/api/v1/repositories/").status_code == 404


def test_search_results_never_include_another_tenants_chunks(acme_indexed, globex):
    # Acme has the sample repository indexed; globex never indexes it (other tests may give
    # globex other files, so the check is that none of acme's chunks come back).
    acme_hits = acme_indexed.api().get("/api/v1/search/", {"q": "wrap_text"}).json()["results"]
    assert any(hit["path"] == "click/formatting.py" for hit in acme_hits)
    globex_hits = globex.api().get("/api/v1/search/", {"q": "wrap_text", "limit": 50}).json()
    assert all(not hit["path"].startswith("click/") for hit in globex_hits["results"])
