"""PostgreSQL restarts under a running portal: errors during the outage, recovery after it.

The portal keeps database connections for a minute and checks them before each request
(``CONN_HEALTH_CHECKS``), so after the server comes back the first request on a stale
connection reconnects instead of failing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from portal import embedded
from tests.browser.conftest import LivePortal

# A request that takes longer than this counts as hanging; the outage must fail fast.
REQUEST_TIMEOUT_SECONDS = 60
# Bounds for waiting on background work (provisioning, indexing, reconnection).
WAIT_SECONDS = 180


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def _call(
    portal: LivePortal,
    path: str,
    *,
    host: str = "localhost",
    token: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Answer:
    headers = {"Host": f"{host}:{portal.port}", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 -- our own loopback server
        portal.url("127.0.0.1", path), data=data, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {"raw": raw.decode(errors="replace")[:500]}
    return Answer(status, body if isinstance(body, dict) else {"items": body})


def _wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def indexed_tenant(fault_portal: LivePortal) -> dict[str, str]:
    """Sign up a tenant through the public API and index the sample repository."""
    signup = _call(
        fault_portal,
        "/api/v1/signup/",
        payload={
            "name": "Restart Co",
            "slug": "restartco",
            "admin_email": "admin@restartco.example.com",
            "password": "a-long-Restart-password-1",
        },
    )
    assert signup.status == 202, signup.body
    token, host = signup.body["api_token"], signup.body["domain"]
    _wait_for(
        lambda: _call(fault_portal, "/api/v1/signup/restartco/").body.get("status") == "ready",
        "provisioning",
    )
    created = _call(
        fault_portal,
        "/api/v1/repositories/",
        host=host,
        token=token,
        payload={"name": "sample", "path": str(fault_portal.sources / "sample")},
    )
    assert created.status == 201, created.body
    job_path = f"/api/v1/jobs/{created.body['job']['id']}/"
    job = _wait_for(
        lambda: (answer := _call(fault_portal, job_path, host=host, token=token)).body.get(
            "is_finished"
        )
        and answer,
        "the index job",
    )
    assert job.body["status"] == "succeeded", job.body
    return {"host": host, "token": token}


def _search(portal: LivePortal, tenant: dict[str, str], query: str) -> Answer:
    return _call(
        portal,
        f"/api/v1/search/?q={urllib.parse.quote(query)}&limit=5",
        host=tenant["host"],
        token=tenant["token"],
    )


def test_portal_fails_fast_while_postgres_is_down_and_recovers_after_restart(
    fault_portal: LivePortal, indexed_tenant: dict[str, str]
) -> None:
    var_dir = fault_portal.var_dir
    before = _search(fault_portal, indexed_tenant, "wrap text to a given width")
    assert before.status == 200 and before.body["results"], before.body

    embedded.stop_postgres(var_dir)
    try:
        assert not (var_dir / "pgdata" / "postmaster.pid").exists()
        ready = _call(fault_portal, "/ready", host=indexed_tenant["host"])
        assert ready.status == 503, ready.body
        assert ready.body["checks"]["database"].startswith("unavailable")
        during = [
            _search(fault_portal, indexed_tenant, "split the command line arguments"),
            _call(fault_portal, "/api/v1/repositories/", **indexed_tenant),
        ]
        assert all(answer.status >= 500 for answer in during), [a.status for a in during]
    finally:
        embedded.ensure_postgres(var_dir)

    _wait_for(
        lambda: _call(fault_portal, "/ready", host=indexed_tenant["host"]).status == 200,
        "/ready after the restart",
    )
    # Several requests, so each gunicorn worker meets its stale connection at least once.
    for query in ("split the command line arguments", "terminal width", "parse options"):
        after = _search(fault_portal, indexed_tenant, query)
        assert after.status == 200, after.body
    listing = _call(fault_portal, "/api/v1/repositories/", **indexed_tenant)
    assert listing.status == 200
    assert [repository["name"] for repository in listing.body["items"]] == ["sample"]
    assert fault_portal.process.poll() is None
