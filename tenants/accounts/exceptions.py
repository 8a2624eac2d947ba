from __future__ import annotations

from portal.exceptions import PortalError


class AccountError(PortalError):
    code = "account_error"


class InvitationInvalid(AccountError):
    code = "invitation_invalid"
    status_code = 404


class TokenNotFound(AccountError):
    code = "token_not_found"
    status_code = 404
