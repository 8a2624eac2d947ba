"""Which address a limit counts: X-Forwarded-For only from a trusted proxy, never a header
naming a tenant. Spoofed headers must not lift a limit."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client, RequestFactory

from portal.security import UNKNOWN_ADDRESS, client_address

PROXY = "10.1.2.3"


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


class TestClientAddress:
    def test_forwarded_header_is_ignored_without_a_trusted_proxy(self, settings):
        settings.TRUSTED_PROXIES = []
        assert client_address(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"

    def test_forwarded_header_is_ignored_from_a_peer_outside_the_trusted_networks(self, settings):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
        assert client_address(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"

    def test_trusted_proxy_gives_the_right_most_untrusted_address(self, settings):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
        # The client wrote "1.1.1.1"; our ingress appended the address it saw (203.0.113.9);
        # an inner proxy (10.9.9.9) appended the ingress's address.
        request = _request(PROXY, "1.1.1.1, 203.0.113.9, 10.9.9.9")
        assert client_address(request) == "203.0.113.9"

    def test_garbage_left_by_the_client_falls_back_to_the_last_trusted_hop(self, settings):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
        assert client_address(_request(PROXY, "not-an-ip, 10.9.9.9")) == "10.9.9.9"

    def test_ports_brackets_and_mapped_addresses_are_normalised(self, settings):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
        assert client_address(_request(PROXY, "203.0.113.9:4711")) == "203.0.113.9"
        assert client_address(_request(PROXY, "[2001:db8::1]:443")) == "2001:db8::1"
        assert client_address(_request("::ffff:198.51.100.7")) == "198.51.100.7"

    def test_unparseable_peer_gives_the_placeholder(self):
        assert client_address(_request("")) == UNKNOWN_ADDRESS


def _signup(client: Client, **headers: str):
    # Invalid on purpose: the throttle runs before validation, so no tenant is created.
    return client.post("/api/v1/signup/", {}, content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.usefixtures("rate_limits", "public_tenant")
class TestSignupLimitThroughTheApi:
    def test_signup_limit_triggers_at_the_configured_count_with_retry_after(self):
        client = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.20")
        statuses = [_signup(client).status_code for _ in range(4)]
        assert statuses == [400, 400, 400, 429]
        response = _signup(client)
        assert response.json()["code"] == "rate_limited"
        assert "detail" in response.json()
        # Three signups per hour: the next fits a third of the way into the next hour.
        assert 1200 <= int(response["Retry-After"]) <= 4800

    def test_spoofed_forwarded_and_tenant_headers_do_not_lift_the_limit(self, settings):
        settings.TRUSTED_PROXIES = []
        client = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.21")
        for _ in range(3):
            assert _signup(client).status_code == 400
        for n in range(3):
            spoofed = _signup(
                client, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}", HTTP_X_TENANT=f"other-{n}"
            )
            assert spoofed.status_code == 429

    def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(self, settings):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
        proxy = Client(HTTP_HOST="localhost", REMOTE_ADDR=PROXY)
        for _ in range(3):
            assert _signup(proxy, HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 400
        assert _signup(proxy, HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429
        # The client cannot escape by prepending an address: the proxy's entry is right-most.
        assert _signup(proxy, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.50").status_code == 429
        assert _signup(proxy, HTTP_X_FORWARDED_FOR="203.0.113.51").status_code == 400

    def test_signup_form_and_api_share_one_budget(self):
        client = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.22")
        for _ in range(3):
            assert _signup(client).status_code == 400
        response = client.post("/", {"name": "", "slug": ""})
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0

    def test_ipv6_clients_share_a_budget_per_64_prefix(self):
        first = Client(HTTP_HOST="localhost", REMOTE_ADDR="2001:db8:1:2::1")
        for _ in range(3):
            assert _signup(first).status_code == 400
        rotated = Client(HTTP_HOST="localhost", REMOTE_ADDR="2001:db8:1:2:ffff::9")
        assert _signup(rotated).status_code == 429
