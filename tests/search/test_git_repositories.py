"""Repositories registered by git URL: clone, index, re-sync, and the remotes that are refused.

Everything runs the real git command line against source repositories made in temporary
folders under an allowed root (file:// URLs), and, when ``git daemon`` is available, over the
git:// protocol on a loopback port. No network beyond loopback is used.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django_tenants.utils import schema_context, tenant_context

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Token-42"

FILES = {
    "geometry.py": "def reticulate_splines(points):\n    return sorted(points)\n",
    "billing.py": "def prorate_invoice_amount(amount, days):\n    return amount * days / 30\n",
    "pkg/__init__.py": "",
    "pkg/colours.py": "def blend_paint_colours(a, b):\n    return (a + b) / 2\n",
    "notes/readme.md": "# Notes\n\nNothing to see here.\n",
}


def _git_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


class SourceRepo:
    """A git repository under an allowed root that tests write, commit and push to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = _git_env(path.parent)
        path.mkdir()
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, check=True
        )
        return result.stdout.decode().strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(self, message: str = "change") -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return self.path.as_uri()


@pytest.fixture
def source_repo(sources_root: Path) -> Iterator[SourceRepo]:
    repo = SourceRepo(sources_root / f"gitsrc-{uuid.uuid4().hex[:8]}")
    repo.write(FILES)
    repo.commit("initial")
    yield repo
    shutil.rmtree(repo.path, ignore_errors=True)


class EmbeddingSpy:
    """Wraps the real embedder and keeps the texts it was asked to embed."""

    def __init__(self, embedder: object) -> None:
        self.embedder = embedder
        self.texts: list[str] = []

    def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        self.texts.extend(texts)
        return self.embedder.embed_documents(texts)

    @property
    def paths(self) -> set[str]:
        # Chunk documents start with a "path :: name" line; the one-line name-and-signature
        # heads embedded beside them (search.chunk_heads) carry no path of their own.
        documents = [text for text in self.texts if "\n" in text]
        return {text.split("\n", 1)[0].split(" :: ", 1)[0] for text in documents}


@pytest.fixture
def embedding_spy(monkeypatch: pytest.MonkeyPatch) -> EmbeddingSpy:
    from search.services import indexing

    real = indexing.get_cached_embedder
    spy = EmbeddingSpy(None)

    def _spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        spy.embedder = real(*args, **kwargs)
        return spy

    monkeypatch.setattr(indexing, "get_cached_embedder", _spying)
    return spy


def _add(api, capture, **data):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return api.post("/api/v1/repositories/", data, format="json")


def _job(fixture, job_id: int):  # type: ignore[no-untyped-def]
    from search.models import IndexJob

    with schema_context(fixture.tenant.schema_name):
        return IndexJob.objects.select_related("repository").get(pk=job_id)


def _hits(api, query: str, repository: str) -> list[dict]:
    results = api.get("/api/v1/search/", {"q": f"repo:{repository} {query}"}).json()["results"]
    return [hit for hit in results if hit["repository"] == repository]


def _checkout_entries(fixture) -> set[str]:  # type: ignore[no-untyped-def]
    from django.conf import settings

    folder = settings.SEARCH["CHECKOUT_DIR"] / fixture.tenant.schema_name
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_git_repository_added_by_url_is_cloned_indexed_and_searchable(
    acme, source_repo, django_capture_on_commit_callbacks
):
    (source_repo.path / "passwd-link").symlink_to("/etc/passwd")
    head = source_repo.commit("a link that points out of the repository")
    api = acme.api()
    response = _add(api, django_capture_on_commit_callbacks, name="gitdemo", url=source_repo.url)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["branch"], body["remote_url"]) == ("git", "main", source_repo.url)
    job = api.get(f"/api/v1/jobs/{body['job']['id']}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert (job["commit"], job["stage"]) == (head, "indexing")
    with schema_context(acme.tenant.schema_name):
        from search.models import IndexedFile

        indexed = set(
            IndexedFile.objects.filter(repository_id=body["id"]).values_list("path", flat=True)
        )
    assert indexed == {*FILES, "passwd-link"}  # nothing from .git
    repository = api.get(f"/api/v1/repositories/{body['id']}/").json()
    assert repository["synced_commit"] == head
    hits = _hits(api, "reticulate_splines", "gitdemo")
    assert hits and hits[0]["path"] == "geometry.py"
    # A link in the remote is checked out as a plain file holding its target, never followed.
    checkout = Path(_job(acme, job["id"]).repository.root_path)
    assert not any(p.is_symlink() for p in checkout.rglob("*"))
    assert (checkout / "passwd-link").read_text() == "/etc/passwd"


def test_job_reports_syncing_while_it_fetches(
    acme, source_repo, django_capture_on_commit_callbacks, monkeypatch
):
    from search.models import IndexJob
    from search.services import indexing

    stages: list[str] = []
    real_sync = indexing.sync_git_repository

    def _observing(repository):  # type: ignore[no-untyped-def]
        stages.append(IndexJob.objects.get(repository=repository).stage)
        return real_sync(repository)

    monkeypatch.setattr(indexing, "sync_git_repository", _observing)
    response = _add(acme.api(), django_capture_on_commit_callbacks, name="g", url=source_repo.url)
    assert response.status_code == 201, response.content
    assert stages == ["syncing"]


def test_resync_after_a_push_reindexes_only_what_changed(
    acme, source_repo, django_capture_on_commit_callbacks, embedding_spy
):
    api = acme.api()
    created = _add(api, django_capture_on_commit_callbacks, name="pushed", url=source_repo.url)
    assert created.status_code == 201, created.content
    assert _hits(api, "prorate_invoice_amount", "pushed")

    source_repo.write(
        {
            "geometry.py": "def triangulate_mesh_points(points):\n    return list(points)\n",
            "pkg/shipping.py": "def estimate_parcel_postage(weight):\n    return weight * 3\n",
        }
    )
    (source_repo.path / "billing.py").unlink()
    head = source_repo.commit("change, add and delete")
    embedding_spy.texts.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/repositories/{created.json()['id']}/sync/")

    assert response.status_code == 202, response.content
    job = _job(acme, response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.commit == head == job.repository.synced_commit
    assert (job.files_indexed, job.files_deleted, job.files_unchanged) == (2, 1, 3)
    assert embedding_spy.paths == {"geometry.py", "pkg/shipping.py"}
    assert _hits(api, "triangulate_mesh_points", "pushed")[0]["path"] == "geometry.py"
    assert _hits(api, "estimate_parcel_postage", "pushed")[0]["path"] == "pkg/shipping.py"
    assert not any(h["path"] == "billing.py" for h in _hits(api, "prorate_invoice", "pushed"))
    stale = _hits(api, "reticulate_splines", "pushed")
    assert not any("reticulate_splines" in hit["snippet"] for hit in stale)


def test_resync_of_an_unmoved_remote_embeds_nothing(
    acme, source_repo, django_capture_on_commit_callbacks, embedding_spy
):
    from search.vector_store import get_vector_store, storage_target

    api = acme.api()
    created = _add(api, django_capture_on_commit_callbacks, name="still", url=source_repo.url)
    assert created.status_code == 201, created.content
    first = _job(acme, created.json()["job"]["id"])
    target = storage_target(acme.tenant)
    points = get_vector_store().count(target, repository_id=first.repository_id)
    assert embedding_spy.texts and points == first.chunks_indexed > 0

    embedding_spy.texts.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/repositories/{first.repository_id}/sync/")
    second = _job(acme, response.json()["id"])

    assert second.status == "succeeded", second.error
    assert second.commit == first.commit
    assert embedding_spy.texts == []
    assert (second.chunks_indexed, second.files_indexed) == (0, 0)
    assert second.files_unchanged == first.files_indexed
    assert get_vector_store().count(target, repository_id=first.repository_id) == points

    # Deleting the repository removes the checkout the portal made.
    checkout = Path(second.repository.root_path)
    assert (checkout / ".git").is_dir()
    assert api.delete(f"/api/v1/repositories/{first.repository_id}/").status_code == 204
    assert not checkout.exists()


def test_web_form_adds_a_git_repository_and_offers_resync(
    acme, source_repo, django_capture_on_commit_callbacks
):
    client = acme.client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/repositories/", {"name": "webgit", "url": source_repo.url, "branch": "main"}
        )
    assert response.status_code == 302, response.content
    job = _job(acme, int(response["Location"].rstrip("/").rsplit("/", 1)[-1]))
    assert job.status == "succeeded", job.error
    page = client.get(f"/repositories/{job.repository_id}/")
    assert b"Re-sync" in page.content and source_repo.url.encode() in page.content
    job_page = client.get(f"/jobs/{job.pk}/")
    assert job.commit[:12].encode() in job_page.content


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ext::git-upload-pack", "Remote helpers (ext::) are not allowed"),
        ("fd::3", "Remote helpers (fd::) are not allowed"),
        ("--upload-pack=touch", "must not start with '-'"),
        ("-oProxyCommand=x", "must not start with '-'"),
        ("ssh://-oProxyCommand=x/repo.git", "must not start with '-'"),
        ("http://git.example.com/org/repo.git", "Plain http is not allowed"),
        ("ftp://git.example.com/org/repo.git", "ftp:// transport is not allowed"),
        ("file:///etc", "outside the allowed roots"),
        ("/etc", "outside the allowed roots"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("ext::sh -c id", "spaces or control characters"),
    ],
)
def test_refused_urls_are_400_on_the_url_field_and_create_nothing(
    acme, url, message, django_capture_on_commit_callbacks
):
    from search.models import Repository

    before = _checkout_entries(acme)
    response = _add(acme.api(), django_capture_on_commit_callbacks, name="bad", url=url)

    assert response.status_code == 400, response.content
    assert message in response.json()["url"][0]
    with schema_context(acme.tenant.schema_name):
        assert not Repository.objects.filter(name="bad").exists()
    assert _checkout_entries(acme) == before


def test_unknown_branch_missing_remote_and_non_repository_are_clear_400s(
    acme, source_repo, sources_root, django_capture_on_commit_callbacks
):
    from search.models import Repository

    api = acme.api()
    plain = sources_root / f"plain-{uuid.uuid4().hex[:6]}"
    plain.mkdir()
    try:
        branch = _add(
            api, django_capture_on_commit_callbacks, name="b", url=source_repo.url, branch="nope"
        )
        bad_name = _add(
            api, django_capture_on_commit_callbacks, name="b", url=source_repo.url, branch="a..b"
        )
        missing = _add(
            api, django_capture_on_commit_callbacks, name="b", url=(sources_root / "gone").as_uri()
        )
        not_git = _add(api, django_capture_on_commit_callbacks, name="b", url=plain.as_uri())
    finally:
        shutil.rmtree(plain)

    assert (
        branch.status_code == 400 and "Branch 'nope' does not exist" in branch.json()["branch"][0]
    )
    assert bad_name.status_code == 400 and "not a valid branch name" in bad_name.json()["branch"][0]
    assert missing.status_code == 400 and "not an existing directory" in missing.json()["url"][0]
    assert not_git.status_code == 400 and "not a git repository" in not_git.json()["url"][0]
    with schema_context(acme.tenant.schema_name):
        assert not Repository.objects.filter(name="b").exists()


def test_credentials_in_a_url_are_masked_in_errors_and_logs(
    acme, django_capture_on_commit_callbacks, caplog
):
    # Port 1 on loopback refuses at once: git fails after it has seen the credentials.
    url = f"https://alice:{SECRET}@127.0.0.1:1/org/repo.git"
    token_only = f"https://{SECRET}@127.0.0.1:1/org/repo.git"
    with caplog.at_level(logging.DEBUG):
        first = _add(acme.api(), django_capture_on_commit_callbacks, name="c", url=url)
        second = _add(acme.api(), django_capture_on_commit_callbacks, name="c", url=token_only)

    for response in (first, second):
        assert response.status_code == 400
        message = response.json()["url"][0]
        assert "could not be reached" in message and "https://***@127.0.0.1:1" in message
        assert SECRET not in response.content.decode()
    assert SECRET not in caplog.text
    assert all(SECRET not in str(record.__dict__) for record in caplog.records)


def test_stored_credentials_never_leave_the_portal(acme, django_capture_on_commit_callbacks):
    """A token stored with a remote is masked in the API, the page and a failed job's error."""
    from django.conf import settings

    from search.models import Repository
    from search.services.indexing import start_index_job

    checkout = settings.SEARCH["CHECKOUT_DIR"] / acme.tenant.schema_name / "git-private"
    with tenant_context(acme.tenant):
        repository = Repository.objects.create(
            name="private",
            source=Repository.Source.GIT,
            root_path=str(checkout),
            remote_url=f"https://{SECRET}@127.0.0.1:1/org/private.git",
            branch="main",
        )
        with django_capture_on_commit_callbacks(execute=True):
            job = start_index_job(repository=repository)
        job.refresh_from_db()

    assert job.status == "failed" and "could not be reached" in job.error
    assert SECRET not in job.error
    api = acme.api()
    for url in (f"/api/v1/repositories/{repository.pk}/", f"/api/v1/jobs/{job.pk}/"):
        body = api.get(url).content.decode()
        assert SECRET not in body
    assert (
        "https://***@127.0.0.1:1/org/private.git"
        in api.get(f"/api/v1/repositories/{repository.pk}/").json()["remote_url"]
    )
    page = acme.client().get(f"/repositories/{repository.pk}/").content.decode()
    assert SECRET not in page and "https://***@127.0.0.1:1" in page


def test_web_form_error_does_not_echo_credentials(acme):
    response = acme.client().post(
        "/repositories/", {"name": "w", "url": f"https://u:{SECRET}@127.0.0.1:1/r.git"}
    )
    assert response.status_code == 400
    assert SECRET not in response.content.decode()
    assert b"could not be reached" in response.content


def test_remote_over_the_size_limit_fails_the_job_and_leaves_no_checkout(
    acme, source_repo, django_capture_on_commit_callbacks, monkeypatch
):
    from search.clients.git import commands

    monkeypatch.setattr(commands, "GitLimits", functools.partial(commands.GitLimits, max_bytes=1))
    before = _checkout_entries(acme)
    response = _add(acme.api(), django_capture_on_commit_callbacks, name="big", url=source_repo.url)

    assert response.status_code == 201, response.content
    job = _job(acme, response.json()["job"]["id"])
    assert job.status == "failed" and "larger than the checkout limit" in job.error
    assert not Path(job.repository.root_path).exists()
    assert _checkout_entries(acme) == before


def test_another_tenant_cannot_resync_a_repository(
    acme, globex, source_repo, django_capture_on_commit_callbacks
):
    from search.models import IndexJob

    created = _add(
        acme.api(),
        django_capture_on_commit_callbacks,
        name="mine",
        url=source_repo.url,
        index=False,
    )
    assert created.status_code == 201, created.content
    repository_id = created.json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = globex.api().post(f"/api/v1/repositories/{repository_id}/sync/")

    assert response.status_code == 404
    with schema_context(acme.tenant.schema_name):
        assert not IndexJob.objects.filter(repository_id=repository_id).exists()


def test_resync_of_a_local_directory_is_refused(acme_indexed):
    from search.models import Repository

    with schema_context(acme_indexed.tenant.schema_name):
        repository_id = Repository.objects.get(name="sample").pk
    response = acme_indexed.api().post(f"/api/v1/repositories/{repository_id}/sync/")
    assert response.status_code == 400
    assert response.json()["code"] == "repository_not_git"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def git_daemon(source_repo: SourceRepo, tmp_path: Path) -> Iterator[str]:
    """Serve a bare copy of the source repository with ``git daemon`` on a loopback port."""
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, check=True)
    if not (Path(exec_path.stdout.decode().strip()) / "git-daemon").exists():
        pytest.skip("git daemon is not installed")
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(source_repo.path), str(served / "repo.git")],
        env=source_repo.env,
        check=True,
    )
    port = _free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={served}",
            "--export-all",
            "--reuseaddr",
            str(served),
        ],
        env=source_repo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)  # waiting for the daemon to listen, not a timed assertion
        else:
            pytest.fail("git daemon did not start listening")
        yield f"git://127.0.0.1:{port}/repo.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_git_protocol_remote_over_loopback_is_cloned_and_searchable(
    acme, git_daemon, django_capture_on_commit_callbacks
):
    api = acme.api()
    response = _add(api, django_capture_on_commit_callbacks, name="daemon", url=git_daemon)

    assert response.status_code == 201, response.content
    job = api.get(f"/api/v1/jobs/{response.json()['job']['id']}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert _hits(api, "blend_paint_colours", "daemon")[0]["path"] == "pkg/colours.py"
    missing = _add(
        api, django_capture_on_commit_callbacks, name="nope", url=git_daemon.replace("repo", "x")
    )
    assert missing.status_code == 400 and "not a git repository" in missing.json()["url"][0]


@pytest.mark.parametrize(
    ("url", "transport", "display"),
    [
        ("https://host.example/org/repo.git", "https", "https://host.example/org/repo.git"),
        ("https://u:pw@host.example:8443/r.git", "https", "https://***@host.example:8443/r.git"),
        (
            "ssh://git@host.example:2222/org/repo.git",
            "ssh",
            "ssh://git@host.example:2222/org/repo.git",
        ),
        (
            "ssh://git:pw@host.example/org/repo.git",
            "ssh",
            "ssh://git:***@host.example/org/repo.git",
        ),
        ("git@host.example:org/repo.git", "ssh", "git@host.example:org/repo.git"),
        ("git://host.example/repo.git", "git", "git://host.example/repo.git"),
    ],
)
def test_accepted_remote_forms_are_parsed_with_credentials_masked(url, transport, display):
    from search.clients.git import parse_remote

    remote = parse_remote(url)
    assert (remote.transport, remote.display) == (transport, display)
    assert "pw" not in remote.mask(f"fatal: unable to access '{url}'")


@pytest.mark.parametrize(
    ("stderr", "code"),
    [
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", "auth"),
        ("git@h: Permission denied (publickey).\nfatal: Could not read from remote", "auth"),
        ("fatal: Authentication failed for 'https://h/r.git/'", "auth"),
        ("Host key verification failed.\nfatal: Could not read from remote repository.", "auth"),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", "unreachable"),
        ("fatal: repository 'https://h/r.git/' not found", "missing"),
        ("fatal: remote error: access denied or repository not exported: /r", "missing"),
        ("fatal: couldn't find remote ref refs/heads/dev", "branch"),
    ],
)
def test_git_failures_are_classified_by_what_the_user_must_fix(stderr, code):
    from search.clients.git import parse_remote
    from search.clients.git.commands import _classify

    codes = {
        "auth": "git_auth_required",
        "unreachable": "git_remote_unreachable",
        "missing": "git_not_a_repository",
        "branch": "git_branch_not_found",
    }
    error = _classify(parse_remote("https://h/r.git"), "fetch", stderr)
    assert error.code == codes[code]
