"""Errors of the capacity app."""

from __future__ import annotations

from portal.exceptions import PortalError


class InvalidWindow(PortalError):
    """A chart window other than the ones the dashboard offers."""

    code = "invalid_window"
    status_code = 400


class InvalidPlanInput(PortalError):
    """A what-if planner input that is missing, not a number or out of range."""

    code = "invalid_plan_input"
    status_code = 400


class TenantNotFound(PortalError):
    """A tenant slug that names no tenant."""

    code = "tenant_not_found"
    status_code = 404
