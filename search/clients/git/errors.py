"""Why a git remote could not be registered or synced; each message says what to do next."""

from __future__ import annotations

from search.ingest.exceptions import IngestError


class GitError(IngestError):
    """A git remote cannot be cloned or fetched as given."""

    code = "git_error"
    status_code = 400


class GitUrlRejected(GitError):
    """The URL uses a transport, a form or a location that is not allowed."""

    code = "git_url_rejected"


class GitRemoteUnreachable(GitError):
    code = "git_remote_unreachable"


class GitAuthRequired(GitError):
    code = "git_auth_required"


class GitNotARepository(GitError):
    code = "git_not_a_repository"


class GitBranchNotFound(GitError):
    code = "git_branch_not_found"


class GitTooLarge(GitError):
    code = "git_too_large"


class GitTimedOut(GitError):
    code = "git_timed_out"


class GitUnavailable(GitError):
    """The git command line is missing on this worker: an operator must install it."""

    code = "git_unavailable"
    status_code = 503
