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


class InvalidRelevanceSet(PortalError):
    """A relevance set (queries with gold locations) or ranked results that cannot be scored."""

    code = "invalid_relevance_set"
    status_code = 400


class InvalidSearchFeedback(PortalError):
    """A result click that names no search shown on this site, or a rank it did not show."""

    code = "invalid_search_feedback"
    status_code = 400
