"""Self-service signup: validate, record the tenant, queue its provisioning."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from tenants.accounts.tokens import issue_token
from tenants.exceptions import SignupInvalid
from tenants.models import Domain, PendingAdmin, ProvisioningStep, Tenant
from tenants.tiers import DEFAULT_TIER, get_tier

logger = logging.getLogger(__name__)

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
RESERVED_SLUGS = frozenset(
    {
        "www",
        "api",
        "admin",
        "public",
        "static",
        "media",
        "mail",
        "status",
        "metrics",
        "app",
        "pg_catalog",
        "information_schema",
        "localhost",
        "codesearch",
        "kube-system",
        "default",
    }
)
STEP_ORDER = [
    ProvisioningStep.Name.SCHEMA,
    ProvisioningStep.Name.SEARCH_STORAGE,
    ProvisioningStep.Name.NAMESPACE,
    ProvisioningStep.Name.ADMIN_USER,
]


@dataclass(frozen=True)
class SignupResult:
    tenant: Tenant
    domain: str
    api_token: str


def schema_name_for(slug: str) -> str:
    # Hyphens are not allowed in unquoted PostgreSQL identifiers.
    return slug.replace("-", "_")


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_PATTERN.match(slug) or "--" in slug:
        raise SignupInvalid(
            "The slug must be 3-40 characters: lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen (e.g. 'acme-labs').",
            field="slug",
        )
    if slug in RESERVED_SLUGS or slug.startswith("pg-"):
        raise SignupInvalid(f"The slug {slug!r} is reserved; choose another.", field="slug")
    if (
        Tenant.objects.filter(slug=slug).exists()
        or Tenant.objects.filter(schema_name=schema_name_for(slug)).exists()
    ):
        raise SignupInvalid(f"The slug {slug!r} is already taken; choose another.", field="slug")
    return slug


def sign_up(
    *,
    name: str,
    slug: str,
    admin_email: str,
    password: str,
    tier: str = DEFAULT_TIER,
    queue_provisioning: bool = True,
) -> SignupResult:
    """Record a new tenant and queue its provisioning.

    Return the tenant, its domain and the first API token (shown once; only its digest is
    kept). Raise :class:`SignupInvalid` with the offending field; nothing is written then.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise SignupInvalid("Give the organization a name of 1-100 characters.", field="name")
    slug = validate_slug(slug)
    tier_obj = get_tier(tier)
    try:
        validate_email(admin_email)
    except ValidationError as exc:
        raise SignupInvalid("Enter a valid e-mail address.", field="admin_email") from exc
    try:
        validate_password(password)
    except ValidationError as exc:
        raise SignupInvalid(" ".join(exc.messages), field="password") from exc

    issued = issue_token()
    # Argon2 takes a good fraction of a second by design; hash before the transaction opens
    # so the tenant's rows and locks are not held meanwhile.
    password_hash = make_password(password)
    domain = f"{slug}.{settings.PORTAL_BASE_DOMAIN}"
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                schema_name=schema_name_for(slug),
                slug=slug,
                name=name,
                tier=tier_obj.name,
                isolation_mode=(
                    Tenant.IsolationMode.DEDICATED
                    if tier_obj.is_dedicated_storage
                    else Tenant.IsolationMode.SHARED
                ),
            )
            Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
            ProvisioningStep.objects.bulk_create(
                ProvisioningStep(tenant=tenant, name=step, position=index)
                for index, step in enumerate(STEP_ORDER)
            )
            PendingAdmin.objects.create(
                tenant=tenant,
                email=admin_email.strip().lower(),
                password_hash=password_hash,
                token_prefix=issued.prefix,
                token_digest=issued.digest,
            )
            if queue_provisioning:
                transaction.on_commit(lambda: _queue_provisioning(tenant.pk))
    except IntegrityError as exc:
        # Two signups raced for the same slug; the loser gets the same error as a taken slug.
        raise SignupInvalid(
            f"The slug {slug!r} is already taken; choose another.", field="slug"
        ) from exc
    logger.info("tenants.signup.accepted", extra={"tenant_id": tenant.pk, "tier": tier_obj.name})
    return SignupResult(tenant=tenant, domain=domain, api_token=issued.plaintext)


def _queue_provisioning(tenant_id: int) -> None:
    from tenants.tasks import provision_tenant

    provision_tenant.delay(tenant_id)
