from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def is_tenant_member(user: Any) -> bool:
    return bool(user and user.is_authenticated and hasattr(user, "membership"))


def is_tenant_admin(user: Any) -> bool:
    return is_tenant_member(user) and user.membership.is_admin


class IsTenantMember(BasePermission):
    message = "You are not a member of this tenant."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_tenant_member(request.user)


class IsTenantAdmin(BasePermission):
    message = "Only tenant admins may do this; ask an admin of your tenant."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_tenant_admin(request.user)
