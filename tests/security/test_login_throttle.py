"""Repeated failed logins are blocked for a while; a success gives its budget back."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limits")]

# tests/security/conftest.py: 3 per account and address, 6 per address, 10 per account.


def _client(fixture, address: str) -> Client:
    return Client(HTTP_HOST=fixture.host, REMOTE_ADDR=address)


def _login(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def test_failed_logins_on_one_account_are_blocked_after_the_limit(acme):
    client = _client(acme, "198.51.100.30")
    statuses = [_login(client, acme.email, "wrong-password").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    blocked = _login(client, acme.email, acme.password)
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many failed logins" in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_block_does_not_reach_another_account_or_address(acme):
    attacker = _client(acme, "198.51.100.31")
    for _ in range(3):
        _login(attacker, acme.email, "wrong-password")
    assert _login(attacker, acme.email, "wrong-password").status_code == 429
    assert _login(attacker, "someone-else@acme.example.com", "x").status_code == 200
    owner = _client(acme, "198.51.100.32")
    assert _login(owner, acme.email, acme.password).status_code == 302


def test_successful_login_gives_its_budget_back(acme):
    client = _client(acme, "198.51.100.33")
    for _ in range(2):
        _login(client, acme.email, "wrong-password")
    assert _login(client, acme.email, acme.password).status_code == 302
    client.post("/logout/")
    statuses = [_login(client, acme.email, "wrong-password").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


def test_one_address_spraying_many_accounts_is_blocked(acme):
    client = _client(acme, "198.51.100.34")
    statuses = [_login(client, f"user{n}@acme.example.com", "guess").status_code for n in range(7)]
    assert statuses == [200] * 6 + [429]


def test_username_case_does_not_give_a_fresh_budget(acme):
    client = _client(acme, "198.51.100.35")
    for _ in range(3):
        _login(client, acme.email, "wrong-password")
    assert _login(client, acme.email.upper(), "wrong-password").status_code == 429


def test_login_fails_closed_when_redis_is_down(acme, redis_down):
    response = _login(_client(acme, "198.51.100.36"), acme.email, acme.password)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


def test_signup_api_fails_closed_when_redis_is_down(public_tenant, redis_down):
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.37")
    response = client.post("/api/v1/signup/", {}, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["code"] == "rate_limit_unavailable"
    assert int(response["Retry-After"]) > 0
