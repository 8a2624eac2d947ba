"""The git command line as an adapter: checked remotes, probes, clones and updates."""

from search.clients.git.commands import (
    GitLimits,
    SyncResult,
    check_branch_name,
    resolve_branch,
    sync_checkout,
)
from search.clients.git.errors import (
    GitAuthRequired,
    GitBranchNotFound,
    GitError,
    GitNotARepository,
    GitRemoteUnreachable,
    GitTimedOut,
    GitTooLarge,
    GitUnavailable,
    GitUrlRejected,
)
from search.clients.git.remotes import GitRemote, local_remote, mask_credentials, parse_remote

__all__ = [
    "GitAuthRequired",
    "GitBranchNotFound",
    "GitError",
    "GitLimits",
    "GitNotARepository",
    "GitRemote",
    "GitRemoteUnreachable",
    "GitTimedOut",
    "GitTooLarge",
    "GitUnavailable",
    "GitUrlRejected",
    "SyncResult",
    "check_branch_name",
    "local_remote",
    "mask_credentials",
    "parse_remote",
    "resolve_branch",
    "sync_checkout",
]
