"""A repository create request without a source (or with two) says to give exactly one."""

from __future__ import annotations

import io

import pytest

pytestmark = pytest.mark.django_db


def test_api_without_path_or_archive_asks_for_exactly_one_source(acme):
    response = acme.api().post("/api/v1/repositories/", {"name": "nothing"}, format="json")

    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert message.startswith("Give exactly one source:")
    assert "'path'" in message and "'archive'" in message and "not both" not in message


def test_api_with_both_path_and_archive_asks_for_exactly_one_source(acme, sources_root):
    archive = io.BytesIO(b"not really a zip")
    archive.name = "code.zip"
    response = acme.api().post(
        "/api/v1/repositories/",
        {"name": "both", "path": str(sources_root), "archive": archive},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["non_field_errors"][0].startswith("Give exactly one source:")


def test_web_form_without_path_or_archive_asks_for_exactly_one_source(acme):
    response = acme.client().post("/repositories/", {"name": "nothing", "path": "  "})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Give exactly one source: a local directory under an allowed root" in page
    assert "Give the absolute path of a directory" not in page
