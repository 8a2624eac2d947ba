"""API token format: ``csp_<prefix>_<secret>``; stored as prefix + SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_SCHEME = "csp"  # noqa: S105 -- a public prefix, not a secret


@dataclass(frozen=True)
class IssuedToken:
    plaintext: str
    prefix: str
    digest: str


def issue_token() -> IssuedToken:
    """Create a new random token; the plaintext is shown once and never stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{TOKEN_SCHEME}_{prefix}_{secret}"
    return IssuedToken(plaintext=plaintext, prefix=prefix, digest=token_digest(plaintext))


def token_digest(plaintext: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_prefix(plaintext: str) -> str | None:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or not parts[1]:
        return None
    return parts[1]


def digests_match(plaintext: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(plaintext), digest)
