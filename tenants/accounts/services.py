"""Members, invitations and API tokens of the current tenant schema."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants import audit
from tenants.accounts.exceptions import AccountError, InvitationInvalid, TokenNotFound
from tenants.accounts.models import ApiToken, AuditAction, Invitation, Membership, Role
from tenants.accounts.tokens import IssuedToken, issue_token, token_digest

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)


def create_member(
    *, email: str, role: str, password: str | None = None, password_hash: str | None = None
) -> AbstractBaseUser:
    """Create a user with a membership; the e-mail address doubles as the username."""
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email).lower()
    if user_model.objects.filter(username=email).exists():
        raise AccountError(f"{email} is already a member of this tenant.", field="email")
    with transaction.atomic():
        user = user_model(username=email, email=email)
        if password_hash is not None:
            user.password = password_hash
        elif password is not None:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        Membership.objects.create(user=user, role=role)
    logger.info("accounts.member.created", extra={"user_id": user.pk, "role": role})
    return user


def invite_member(*, email: str, role: str, invited_by: AbstractBaseUser) -> str:
    """Record an invitation and return its one-time token (to be sent to the invitee)."""
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}; use admin or member.", field="role")
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email).lower()
    if user_model.objects.filter(username=email).exists():
        raise AccountError(f"{email} is already a member of this tenant.", field="email")
    plaintext = secrets.token_urlsafe(24)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            token_digest=token_digest(plaintext),
            invited_by=invited_by,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        audit.record_event(
            AuditAction.MEMBER_INVITED,
            target_type="invitation",
            target_id=invitation.pk,
            actor=invited_by,
            detail={"email": email, "role": role},
        )
    logger.info("accounts.invitation.created", extra={"role": role})
    return plaintext


def accept_invitation(*, token: str, password: str) -> AbstractBaseUser:
    """Turn a valid invitation into a member with the given password."""
    invitation = Invitation.objects.filter(
        token_digest=token_digest(token), accepted_at__isnull=True, expires_at__gt=timezone.now()
    ).first()
    if invitation is None:
        raise InvitationInvalid(
            "This invitation link is invalid, used or expired; ask an admin for a new one."
        )
    try:
        validate_password(password)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), field="password") from exc
    with transaction.atomic():
        user = create_member(email=invitation.email, role=invitation.role, password=password)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    return user


def set_member_role(*, user_id: int, role: str, acting_user: AbstractBaseUser) -> Membership:
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}; use admin or member.", field="role")
    membership = Membership.objects.filter(user_id=user_id).first()
    if membership is None:
        raise AccountError("No such member.", status_code=404)
    if membership.user_id == acting_user.pk and role != Role.ADMIN:
        raise AccountError("You cannot remove your own admin role; ask another admin.")
    previous = membership.role
    with transaction.atomic():
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record_event(
            AuditAction.MEMBER_ROLE_CHANGED,
            target_type="user",
            target_id=membership.user_id,
            actor=acting_user,
            detail={"from": previous, "to": role},
        )
    return membership


def create_api_token(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with the plaintext, which is never stored."""
    name = name.strip()
    if not name:
        raise AccountError("Give the token a name, e.g. 'ci' or 'laptop'.", field="name")
    issued = issue_token()
    with transaction.atomic():
        token = store_api_token(user=user, name=name, issued=issued)
        audit.record_event(
            AuditAction.API_TOKEN_CREATED,
            target_type="api_token",
            target_id=token.pk,
            actor=user,
            detail={"name": token.name, "prefix": token.prefix},
        )
    return token, issued.plaintext


def store_api_token(*, user: AbstractBaseUser, name: str, issued: IssuedToken) -> ApiToken:
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=issued.prefix, digest=issued.digest
    )
    logger.info("accounts.api_token.created", extra={"token_id": token.pk})
    return token


def revoke_api_token(*, token_id: int, acting_user: AbstractBaseUser) -> ApiToken:
    """Revoke a token: admins may revoke any token of the tenant, members only their own."""
    tokens = ApiToken.objects.all()
    membership = getattr(acting_user, "membership", None)
    if membership is None or not membership.is_admin:
        tokens = tokens.filter(user=acting_user)
    token = tokens.filter(pk=token_id).first()
    if token is None:
        raise TokenNotFound(f"No API token with id {token_id} here.")
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record_event(
                AuditAction.API_TOKEN_REVOKED,
                target_type="api_token",
                target_id=token.pk,
                actor=acting_user,
                detail={"name": token.name, "prefix": token.prefix},
            )
        logger.info("accounts.api_token.revoked", extra={"token_id": token.pk})
    return token
