"""A refused archive upload leaves nothing behind and says what to do (snag 2)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django_tenants.utils import tenant_context

from search.exceptions import INDEX_JOB_LIMIT_RETRY_SECONDS

pytestmark = pytest.mark.django_db


def _zip(name: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/money.py", b"def convert(amount, rate):\n    return amount * rate\n")
    buffer.seek(0)
    buffer.name = name
    return buffer


def _extracted_folders(settings, schema: str, name: str) -> list[Path]:
    base = settings.SEARCH["CHECKOUT_DIR"] / schema
    return sorted(base.glob(f"{name}-*")) if base.exists() else []


def _occupy_the_only_job_slot(acme, sources_root: Path) -> None:
    """Free plan: one index job at a time. Leave one RUNNING (rolled back after the test)."""
    from search.models import IndexJob
    from search.services.repositories import create_local_repository

    folder = sources_root / "busy-slot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.py").write_text("x = 1\n")
    with tenant_context(acme.tenant):
        repository = create_local_repository(name="busy-slot", path=str(folder))
        IndexJob.objects.create(repository=repository, status=IndexJob.Status.RUNNING)


def test_upload_refused_by_the_job_limit_removes_its_folder_and_says_when_to_retry(
    acme, sources_root, settings
):
    _occupy_the_only_job_slot(acme, sources_root)

    response = acme.api().post(
        "/api/v1/repositories/",
        {"name": "refused-upload", "archive": _zip("refused.zip")},
        format="multipart",
    )

    assert response.status_code == 429, response.content
    assert response.json()["code"] == "quota_concurrent_index_jobs"
    assert response["Retry-After"] == str(INDEX_JOB_LIMIT_RETRY_SECONDS)
    assert _extracted_folders(settings, acme.tenant.schema_name, "refused-upload") == []
    from search.models import Repository

    with tenant_context(acme.tenant):
        assert not Repository.objects.filter(name="refused-upload").exists()


def test_re_index_refused_by_the_job_limit_also_carries_retry_after(acme, sources_root):
    from search.models import Repository

    _occupy_the_only_job_slot(acme, sources_root)
    with tenant_context(acme.tenant):
        busy = Repository.objects.get(name="busy-slot")
        # A second repository asks for a job while the slot is taken.
        waiting = Repository.objects.create(
            name="waiting", source=Repository.Source.LOCAL, root_path=busy.root_path
        )

    response = acme.api().post(f"/api/v1/repositories/{waiting.pk}/index/")

    assert response.status_code == 429
    assert response["Retry-After"] == str(INDEX_JOB_LIMIT_RETRY_SECONDS)


def test_accepted_upload_without_indexing_keeps_its_folder(acme, settings):
    response = acme.api().post(
        "/api/v1/repositories/",
        {"name": "kept-upload", "archive": _zip("kept.zip"), "index": False},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    (folder,) = _extracted_folders(settings, acme.tenant.schema_name, "kept-upload")
    assert (folder / "pkg" / "money.py").is_file()
    assert response.json()["root_path"] == str(folder)
    assert "job" not in response.json()


def test_a_file_that_is_no_archive_is_named_as_uploaded(acme, settings):
    upload = io.BytesIO(b"just some notes, not an archive\n" * 20)
    upload.name = "meeting-notes.txt"

    response = acme.api().post(
        "/api/v1/repositories/", {"name": "notes", "archive": upload}, format="multipart"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "archive_rejected"
    assert body["detail"].startswith("meeting-notes.txt is not an accepted archive.")
    assert ".upload" not in body["detail"]
    assert _extracted_folders(settings, acme.tenant.schema_name, "notes") == []


def test_a_corrupt_zip_is_named_as_uploaded(acme):
    upload = io.BytesIO(b"PK\x03\x04" + b"\x00" * 200)
    upload.name = "release-1.2.zip"

    response = acme.api().post(
        "/api/v1/repositories/", {"name": "corrupt", "archive": upload}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("release-1.2.zip is corrupt or truncated.")


def test_upload_on_the_web_page_refused_by_the_job_limit_leaves_nothing(
    acme, sources_root, settings
):
    from search.models import Repository

    _occupy_the_only_job_slot(acme, sources_root)

    response = acme.client().post(
        "/repositories/", {"name": "refused-page-upload", "archive": _zip("page.zip")}
    )

    assert response.status_code == 429
    assert _extracted_folders(settings, acme.tenant.schema_name, "refused-page-upload") == []
    with tenant_context(acme.tenant):
        assert not Repository.objects.filter(name="refused-page-upload").exists()
