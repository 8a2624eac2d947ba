"""Kubernetes names and labels derived from a tenant slug.

Names must be DNS-1123 labels (lowercase alphanumerics and ``-``, starting and ending with an
alphanumeric, at most 63 characters) and label values have a similar 63-character rule. Slugs
that already fit are used as they are, so namespaces stay readable; anything else is
normalised, truncated and given a short hash of the original slug, so two different slugs never
share a name even when they agree on their first 60 characters.
"""

from __future__ import annotations

import hashlib
import re

from tenants.kubernetes.exceptions import InvalidKubernetesName

# Kubernetes' own limit for DNS-1123 labels and for label values.
MAX_LABEL_LENGTH = 63
# 8 hex digits = 32 bits; collisions only matter between slugs that normalise to the same
# truncated text, a tiny set, so this keeps names readable without a practical collision risk.
HASH_LENGTH = 8
# Long prefixes would leave no room for the slug itself; 20 leaves at least 34 characters.
MAX_PREFIX_LENGTH = 20

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "codesearch-portal"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF_VALUE = "codesearch"
TENANT_LABEL = "codesearch.io/tenant"
TIER_LABEL = "codesearch.io/tier"
REGION_LABEL = "codesearch.io/region"
# Set by the API server on every namespace since Kubernetes 1.21; network policies select on it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NOT_DNS_RE = re.compile(r"[^a-z0-9]+")
# Empty, or starts alphanumeric; a trailing "-" is allowed because the slug follows it.
_PREFIX_RE = re.compile(r"^([a-z0-9][-a-z0-9]*)?$")


def _short_hash(slug: str) -> str:
    # sha256 rather than hash(): Python's hash() is salted per process.
    return hashlib.sha256(slug.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def _hashed_form(slug: str, *, prefix: str) -> str:
    """Return ``prefix + normalised slug + "-" + hash`` cut to fit 63 characters."""
    normalised = _NOT_DNS_RE.sub("-", slug.lower()).strip("-")
    room = MAX_LABEL_LENGTH - len(prefix) - 1 - HASH_LENGTH
    body = normalised[:room].rstrip("-")
    if not body:
        return f"{prefix}{_short_hash(slug)}"
    return f"{prefix}{body}-{_short_hash(slug)}"


def _check_slug(slug: str) -> None:
    if not slug or not slug.strip():
        raise InvalidKubernetesName(
            "The tenant slug is empty; give the tenant a slug before provisioning its namespace.",
            field="slug",
        )


def namespace_name(slug: str, *, prefix: str = "cs-") -> str:
    """Return the namespace name for a tenant slug.

    Guarantee a valid DNS-1123 label of at most 63 characters that is the same in every
    process. A slug that is already lowercase DNS-safe and fits is kept verbatim after the
    prefix; any other slug (too long, uppercase, other characters) is normalised, truncated and
    suffixed with 8 hex digits of its sha256, so distinct slugs get distinct names.

    Raise :class:`InvalidKubernetesName` for an empty slug or a prefix that is not lowercase
    alphanumerics and ``-`` starting with a letter or digit, or is longer than 20 characters.
    """
    _check_slug(slug)
    if len(prefix) > MAX_PREFIX_LENGTH or not _PREFIX_RE.match(prefix):
        raise InvalidKubernetesName(
            f"The namespace prefix {prefix!r} is not usable: use at most {MAX_PREFIX_LENGTH} "
            "lowercase letters, digits or '-', starting with a letter or digit.",
            field="prefix",
        )

    plain = f"{prefix}{slug}"
    if len(plain) <= MAX_LABEL_LENGTH and DNS1123_LABEL_RE.match(plain):
        return plain
    return _hashed_form(slug, prefix=prefix)


def label_value(slug: str) -> str:
    """Return a Kubernetes label value identifying the tenant.

    Guarantee a valid label value (at most 63 characters) that is the slug itself whenever the
    slug is already a valid label value, and otherwise a normalised, hash-suffixed form that is
    stable across processes. Raise :class:`InvalidKubernetesName` for an empty slug.
    """
    _check_slug(slug)
    if len(slug) <= MAX_LABEL_LENGTH and LABEL_VALUE_RE.match(slug):
        return slug
    return _hashed_form(slug, prefix="")
