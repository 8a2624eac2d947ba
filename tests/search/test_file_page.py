from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db


def _repository_id(fixture, name="sample"):
    from search.models import Repository

    with schema_context(fixture.tenant.schema_name):
        return Repository.objects.get(name=name).pk


def test_search_result_opens_the_file_at_its_lines(acme_indexed):
    client = acme_indexed.client()
    results = client.get("/", {"q": "join_options"})
    repository_id = _repository_id(acme_indexed)
    link = f"/repositories/{repository_id}/file/?path=click/formatting.py&amp;start=302"
    assert link.encode() in results.content
    page = client.get(
        f"/repositories/{repository_id}/file/",
        {"path": "click/formatting.py", "start": 302, "end": 320},
    )
    assert page.status_code == 200
    assert b'id="L302" class="line marked"><span class="ln">302</span>def join_options' in (
        page.content
    )
    assert b'id="L301" class="line">' in page.content


@pytest.mark.parametrize(
    "path", ["../../../../etc/passwd", "/etc/passwd", "click/missing.py", "click/../README.md"]
)
def test_file_page_serves_only_indexed_files(acme_indexed, path):
    page = acme_indexed.client().get(
        f"/repositories/{_repository_id(acme_indexed)}/file/", {"path": path}
    )
    assert page.status_code == 404
    assert b"root:x:0:0" not in page.content


def test_file_page_of_another_tenants_repository_is_not_found(acme_indexed, globex):
    from django.test import Client

    client = Client(HTTP_HOST=globex.host)
    with schema_context(globex.tenant.schema_name):
        assert client.login(username=globex.email, password=globex.password)
    page = client.get(
        f"/repositories/{_repository_id(acme_indexed)}/file/", {"path": "click/formatting.py"}
    )
    assert page.status_code == 404
