from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "files"


def test_local_path_outside_allowed_roots_is_rejected(acme):
    response = acme.api().post(
        "/api/v1/repositories/", {"name": "etc", "path": "/etc"}, format="json"
    )
    assert response.status_code == 400
    assert "outside the allowed roots" in response.json()["path"][0]


def test_relative_and_missing_paths_are_rejected(acme, sources_root):
    api = acme.api()
    relative = api.post("/api/v1/repositories/", {"name": "r", "path": "src"}, format="json")
    assert relative.status_code == 400 and "absolute" in relative.json()["path"][0]
    missing = api.post(
        "/api/v1/repositories/",
        {"name": "m", "path": str(sources_root / "nope")},
        format="json",
    )
    assert missing.status_code == 400 and "not an existing directory" in missing.json()["path"][0]


def test_path_and_archive_together_or_neither_is_rejected(acme):
    response = acme.api().post("/api/v1/repositories/", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert "Give exactly one source: 'path'" in str(response.json())


def test_member_cannot_add_repository(acme, django_capture_on_commit_callbacks):
    from tenants.accounts.services import create_api_token, create_member

    with schema_context(acme.tenant.schema_name):
        member = create_member(email="dev@acme.example.com", role="member", password="x" * 12)
        _, token = create_api_token(user=member, name="dev")
    api = acme.api(token=token)
    response = api.post("/api/v1/repositories/", {"name": "x", "path": "/tmp"}, format="json")
    assert response.status_code == 403
    assert api.get("/api/v1/repositories/").status_code == 200


def _zip(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "upload.zip"
    return buffer


def test_archive_upload_is_extracted_indexed_and_searchable(
    acme, django_capture_on_commit_callbacks
):
    upload = _zip(
        {
            "pkg/__init__.py": b"",
            "pkg/money.py": b"def convert_currency(amount, rate):\n    return amount * rate\n",
            "pkg/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
        }
    )
    api = acme.api()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/repositories/", {"name": "uploaded", "archive": upload}, format="multipart"
        )
    assert response.status_code == 201, response.content
    job = api.get(f"/api/v1/jobs/{response.json()['job']['id']}/").json()
    assert job["status"] == "succeeded"
    skipped = {o["path"]: o["reason"] for o in job["outcomes"]}
    assert skipped.get("pkg/logo.png") == "binary"
    hits = api.get("/api/v1/search/", {"q": "convert_currency"}).json()["results"]
    assert hits[0]["path"] == "pkg/money.py" and hits[0]["start_line"] == 1


@pytest.mark.parametrize("name", ["zipslip.zip", "tarslip.tar.gz"])
def test_hostile_archive_never_writes_outside_its_folder(acme, name, tmp_path, settings):
    """Case C12: traversal, absolute and link entries are refused or skipped, never followed."""
    source = CASES / "C12" / name
    if not source.exists():
        pytest.skip("shared case files are not available")
    api = acme.api()
    with source.open("rb") as handle:
        response = api.post(
            "/api/v1/repositories/",
            {"name": f"slip-{name[:3]}", "archive": handle, "index": False},
            format="multipart",
        )
    assert response.status_code in (201, 400), response.content
    assert not list(Path("/tmp").glob("zipslip_C12*"))
    assert not list(Path("/tmp").glob("tarslip_C12*"))
    checkouts = settings.SEARCH["CHECKOUT_DIR"]
    for path in checkouts.rglob("*"):
        assert not path.is_symlink()
        if path.is_file():
            assert b"root:x:0:0" not in path.read_bytes()
            assert not path.stat().st_mode & 0o6000


def test_zip_bomb_is_rejected_with_a_clear_error(acme, settings):
    source = CASES / "C12" / "ratio_bomb.zip"
    if not source.exists():
        pytest.skip("shared case files are not available")
    with source.open("rb") as handle:
        response = acme.api().post(
            "/api/v1/repositories/", {"name": "bomb", "archive": handle}, format="multipart"
        )
    body = response.json()
    if response.status_code == 400:
        assert body["code"] == "archive_rejected"
    else:
        # Skip-and-continue: the oversized entry is recorded, never written whole.
        assert response.status_code == 201
    total = sum(p.stat().st_size for p in settings.SEARCH["CHECKOUT_DIR"].rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024
