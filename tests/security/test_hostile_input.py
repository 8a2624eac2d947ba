"""Hostile input through the real API: a clear 4xx every time, never a 500, never another
tenant's data."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db


def _assert_client_error(response, *, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    if status is not None:
        assert response.status_code == status, response.content[:500]
    return response.json()


def _post_json(api, data: dict):
    # Escaped JSON (ensure_ascii), so lone surrogates and NUL reach the server as sent.
    return api.post("/api/v1/repositories/", json.dumps(data), content_type="application/json")


def _repositories(fixture) -> set[str]:
    from search.models import Repository

    with schema_context(fixture.tenant.schema_name):
        return set(Repository.objects.values_list("name", flat=True))


class TestRequestBodies:
    def test_oversized_json_payload_is_refused_before_parsing(self, acme, settings):
        body = json.dumps({"name": "big", "path": "/x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
        response = acme.api().post("/api/v1/repositories/", body, content_type="application/json")
        assert _assert_client_error(response, status=413)["code"] == "request_too_large"

    def test_malformed_json_is_a_parse_error(self, acme):
        response = acme.api().post(
            "/api/v1/repositories/", '{"name": "x", ', content_type="application/json"
        )
        assert _assert_client_error(response, status=400)["code"] == "parse_error"

    def test_json_that_is_not_an_object_is_refused(self, acme):
        for body in ("[]", '"text"', "42", "null"):
            response = acme.api().post(
                "/api/v1/repositories/", body, content_type="application/json"
            )
            _assert_client_error(response, status=400)

    def test_wrong_content_type_is_unsupported_media_type(self, acme):
        response = acme.api().post(
            "/api/v1/repositories/", "<repo name='x'/>", content_type="application/xml"
        )
        assert _assert_client_error(response, status=415)["code"] == "unsupported_media_type"

    def test_field_of_the_wrong_type_is_a_validation_error(self, acme):
        response = acme.api().post(
            "/api/v1/repositories/",
            {"name": ["a", "b"], "path": {"x": 1}, "index": "maybe"},
            format="json",
        )
        _assert_client_error(response, status=400)


class TestNamesAndPaths:
    @pytest.mark.parametrize(
        "name",
        ["nul\x00byte", "sur\udcffrogate", "zero\u200bwidth", "ünïcödé", "../etc", "a" * 101, " "],
    )
    def test_hostile_repository_names_are_refused(self, acme, sources_root, name):
        response = _post_json(acme.api(), {"name": name, "path": str(sources_root), "index": False})
        _assert_client_error(response, status=400)
        assert name not in _repositories(acme)

    @pytest.mark.parametrize(
        "path",
        [
            "/etc",
            "relative/path",
            "/tmp/\x00/x",
            "/" + "a" * 5000,
            "{root}/../../../etc",
            "{root}/\udcff",
            "{root}/nope-\u202e-missing",
        ],
    )
    def test_hostile_paths_are_refused(self, acme, sources_root, path):
        path = path.format(root=sources_root)
        response = _post_json(acme.api(), {"name": "hostile-path", "path": path})
        _assert_client_error(response, status=400)
        assert "hostile-path" not in _repositories(acme)

    @pytest.mark.parametrize("patterns", ["*.py\x00", "\udcff", "x" * 10_001])
    def test_hostile_ignore_patterns_are_refused(self, acme, sources_root, patterns):
        response = _post_json(
            acme.api(),
            {"name": "hostile-ignore", "path": str(sources_root), "ignore_patterns": patterns},
        )
        _assert_client_error(response, status=400)
        assert "hostile-ignore" not in _repositories(acme)

    def test_symlink_under_an_allowed_root_pointing_outside_is_refused(self, acme, sources_root):
        link = sources_root / "escape-link"
        os.symlink("/etc", link)
        try:
            response = acme.api().post(
                "/api/v1/repositories/",
                {"name": "escape", "path": str(link), "index": False},
                format="json",
            )
        finally:
            link.unlink()
        body = _assert_client_error(response, status=400)
        assert "outside the allowed roots" in json.dumps(body)
        assert "escape" not in _repositories(acme)


class TestSearchParameters:
    @pytest.mark.parametrize(
        "params",
        [
            {"q": "x" * 501},
            {"q": '"unbalanced quote'},
            {"q": "repo:"},
            {"q": "lang:"},
            {"q": "   "},
            {"q": "\x00"},
            {"q": "repo:does-not-exist parse"},
            {"q": "parse", "limit": "-1"},
            {"q": "parse", "limit": "0"},
            {"q": "parse", "limit": "99999999999999999999999"},
            {"q": "parse", "limit": "ten"},
            {},
        ],
    )
    def test_invalid_search_requests_are_clear_400s(self, acme_indexed, params):
        response = acme_indexed.api().get("/api/v1/search/", params)
        _assert_client_error(response, status=400)

    def test_very_long_query_string_is_refused(self, acme_indexed):
        response = acme_indexed.api().get("/api/v1/search/?q=" + "a%20" * 5000)
        _assert_client_error(response, status=400)

    @pytest.mark.parametrize(
        "query", ["path:[", "path:**/../../etc", "-path:\\", 'sym:"', "lang:💥 parse", "Ω≈ç√∫"]
    )
    def test_odd_but_valid_syntax_never_errors_with_500(self, acme_indexed, query):
        response = acme_indexed.api().get("/api/v1/search/", {"q": query})
        assert response.status_code in (200, 400), response.content[:300]


class TestIds:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/repositories/abc/",
            "/api/v1/repositories/-1/",
            "/api/v1/repositories/99999999999999999999999/",
            "/api/v1/repositories/9223372036854775807/",
            "/api/v1/repositories/9223372036854775808/",
            "/api/v1/jobs/99999999999999999999999/",
            "/api/v1/jobs/1e3/",
        ],
    )
    def test_hostile_ids_are_not_found(self, acme, path):
        # Ids that are not digits never match the URL pattern: a plain 404 page.
        assert acme.api().get(path).status_code == 404

    def test_huge_ids_on_writes_are_not_found(self, acme):
        api = acme.api()
        _assert_client_error(
            api.post("/api/v1/repositories/99999999999999999999999/index/"), status=404
        )
        _assert_client_error(api.delete("/api/v1/repositories/9223372036854775808/"), status=404)


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("repo/ok.py", "def ok():\n    return 1\n" * 200)
    return buffer.getvalue()


class TestArchiveUploads:
    @pytest.mark.parametrize(
        ("filename", "content"),
        [
            ("notes.txt", b"just some text, not an archive\n"),
            ("empty.zip", b""),
            ("truncated.zip", _zip_bytes()[:-40]),
            ("half.zip", _zip_bytes()[: len(_zip_bytes()) // 2]),
            ("fake.tar.gz", b"\x1f\x8b\x08\x00garbage"),
            ("image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ],
    )
    def test_non_archives_and_broken_archives_are_refused(self, acme, filename, content):
        name = "upload-" + filename.replace(".", "-")
        response = acme.api().post(
            "/api/v1/repositories/",
            {"name": name, "archive": io.BytesIO(content)},
            format="multipart",
        )
        # Django names the upload from the part; give it the file name explicitly.
        if response.status_code == 400 and "archive" in response.json():
            upload = io.BytesIO(content)
            upload.name = filename
            response = acme.api().post(
                "/api/v1/repositories/", {"name": name, "archive": upload}, format="multipart"
            )
        _assert_client_error(response, status=400)
        assert name not in _repositories(acme)

    def test_upload_with_both_path_and_archive_is_refused(self, acme, sources_root):
        upload = io.BytesIO(_zip_bytes())
        upload.name = "ok.zip"
        response = acme.api().post(
            "/api/v1/repositories/",
            {"name": "both", "path": str(sources_root), "archive": upload},
            format="multipart",
        )
        _assert_client_error(response, status=400)


def test_hostile_requests_never_reveal_another_tenants_repositories(acme, globex):
    from search.models import Repository

    with schema_context(globex.tenant.schema_name):
        secret = Repository.objects.create(
            name="globex-hostile-secret", source="local", root_path="/nonexistent"
        )
    api = acme.api()
    listing = api.get("/api/v1/repositories/", HTTP_X_TENANT="globex")
    assert listing.status_code == 200
    assert "globex-hostile-secret" not in listing.content.decode()
    detail = api.get(f"/api/v1/repositories/{secret.pk}/", HTTP_X_TENANT="globex")
    assert detail.status_code in (200, 404)
    assert "globex-hostile-secret" not in detail.content.decode()
    # Asking for globex's repository by name answers exactly as for a name nobody has, so the
    # error is no oracle for what other tenants hold.
    existing = api.get("/api/v1/search/", {"q": "repo:globex-hostile-secret parse"})
    unknown = api.get("/api/v1/search/", {"q": "repo:nobody-has-this-one parse"})
    assert existing.status_code == unknown.status_code == 400
    assert existing.json()["q"][0].replace("globex-hostile-secret", "N") == unknown.json()["q"][
        0
    ].replace("nobody-has-this-one", "N")
