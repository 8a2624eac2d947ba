from __future__ import annotations

from portal.exceptions import PortalError


class TenantError(PortalError):
    code = "tenant_error"


class UnknownTier(TenantError):
    code = "unknown_tier"


class SignupInvalid(TenantError):
    code = "signup_invalid"


class ProvisioningFailed(TenantError):
    code = "provisioning_failed"
    status_code = 500


class QuotaExceeded(TenantError):
    code = "quota_exceeded"
    status_code = 403
