"""Who a limit counts: an address, an account, a token or the whole tenant."""

from __future__ import annotations

import hashlib
import ipaddress

from django.db import connection
from django.http import HttpRequest

from portal.security import client_address, parse_address

# One IPv6 customer usually holds a whole /64, so counting single addresses would let a client
# rotate through 2**64 fresh budgets.
IPV6_PREFIX_LENGTH = 64


def tenant_key() -> str:
    """The schema django-tenants resolved from the Host; never a client-sent header."""
    return connection.schema_name


def address_subject(request: HttpRequest) -> str:
    address = getattr(request, "client_address", None) or client_address(request)
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX_LENGTH}", strict=False)
        return f"ip6:{network.network_address}"
    return f"ip:{address}"


def account_subject(username: str) -> str:
    # Hashed so Redis never holds e-mail addresses; case-folded so 'A@x' and 'a@x' share one
    # budget, as they share one account.
    digest = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"acct:{digest[:32]}"
