"""Run the git command line against a checked remote: probe it, clone it, bring it up to date.

Every call goes through :func:`_run_git`: an argument list (never a shell) ending options with
``--`` before the URL; a clean environment without the worker's git configuration, credential
helpers, prompts or hooks; only the remote's own transport allowed; symbolic links checked out
as plain files; objects checked on receipt; and a watchdog that kills git (its own process
group) when it runs over time or writes more than the size limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
from search.clients.git.remotes import GitRemote
from search.ingest.archives import ArchiveLimits

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
_WATCH_EVERY_SECONDS = 0.5

# Applied to every git call; the worker's own git configuration is not read at all.
_CONFIG = (
    "core.hooksPath=/dev/null",
    "credential.helper=",
    "core.symlinks=false",
    "core.fsmonitor=false",
    "transfer.fsckObjects=true",
    "submodule.recurse=false",
    "http.followRedirects=false",
    # Abort a transfer that stalls below 1 KiB/s for a minute instead of waiting for the timeout.
    "http.lowSpeedLimit=1024",
    "http.lowSpeedTime=60",
    "gc.auto=0",
    "advice.detachedHead=false",
)
# Variables git and ssh may inherit from the worker: the program path, locale and proxies.
_INHERITED_ENV = (
    "PATH",
    "LANG",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@dataclass(frozen=True)
class GitLimits:
    """Bounds on one git call; the byte and file limits are the uploaded-archive ones."""

    # A web request waits for the probe, so it is short.
    probe_timeout_seconds: float = 20.0
    # Below the index job's 5-minute heartbeat stale limit: a long clone is never taken over.
    sync_timeout_seconds: float = 240.0
    max_bytes: int = ArchiveLimits().max_total_bytes
    max_files: int = ArchiveLimits().max_files


@dataclass(frozen=True)
class SyncResult:
    commit: str
    # None for a first clone.
    previous_commit: str | None

    @property
    def is_moved(self) -> bool:
        return self.commit != self.previous_commit


def check_branch_name(branch: str) -> str:
    """Return ``branch`` when git accepts it as a branch name; raise :class:`GitUrlRejected`."""
    branch = branch.strip()
    valid = bool(branch) and not branch.startswith("-") and len(branch) <= 255
    if valid:
        result = subprocess.run(  # noqa: S603 -- fixed argument list, no shell
            [_git_binary(), "check-ref-format", f"refs/heads/{branch}"],
            capture_output=True,
            timeout=10,
            check=False,
            env=_environment("file"),
        )
        valid = result.returncode == 0
    if not valid:
        raise GitUrlRejected(
            f"{branch!r} is not a valid branch name; give a name such as main, or leave it "
            "empty to use the remote's default branch."
        )
    return branch


def resolve_branch(remote: GitRemote, branch: str, *, limits: GitLimits | None = None) -> str:
    """Check the remote answers and has ``branch`` (or a default branch when it is empty).

    Return the branch name. Raise a :class:`GitError` subclass naming the problem: unreachable,
    credentials needed, not a repository, unknown branch, or no default branch (empty remote).
    """
    limits = limits or GitLimits()
    timeout = limits.probe_timeout_seconds
    if branch:
        ref = f"refs/heads/{check_branch_name(branch)}"
        output = _run_git(remote, ["ls-remote", "--heads", "--", remote.url, ref], timeout=timeout)
        if not any(line.split("\t", 1)[-1] == ref for line in output.splitlines()):
            raise _branch_not_found(remote, branch)
        return branch
    output = _run_git(remote, ["ls-remote", "--symref", "--", remote.url, "HEAD"], timeout=timeout)
    head = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", output, re.MULTILINE)
    if head is None:
        raise GitBranchNotFound(
            f"{remote.display} has no default branch (it may be empty); push a commit or give "
            "the branch to index."
        )
    # The name comes from the remote: hold it to the rules a user-given branch must meet.
    return check_branch_name(head[1])


def sync_checkout(
    remote: GitRemote, branch: str, dest: Path, *, limits: GitLimits | None = None
) -> SyncResult:
    """Make ``dest`` hold exactly the newest commit of ``branch``: clone it or fetch and reset.

    A first clone goes into a sibling folder that is renamed into place only when complete,
    so a failed clone leaves nothing behind. Raise a :class:`GitError` subclass on failure.
    """
    limits = limits or GitLimits()
    started = time.monotonic()
    if (dest / ".git").is_dir():
        result = _update(remote, branch, dest, limits)
    else:
        result = _clone(remote, branch, dest, limits)
    logger.info(
        "search.git.synced",
        extra={
            "remote": remote.display,
            "branch": branch,
            "commit": result.commit,
            "moved": result.is_moved,
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    return result


def _clone(remote: GitRemote, branch: str, dest: Path, limits: GitLimits) -> SyncResult:
    partial = dest.with_name(f"{dest.name}.partial-{uuid.uuid4().hex[:8]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run_git(
            remote,
            [
                "clone",
                "--depth=1",
                "--single-branch",
                "--no-tags",
                "--no-recurse-submodules",
                f"--branch={branch}",
                "--",
                remote.url,
                str(partial),
            ],
            timeout=limits.sync_timeout_seconds,
            watch=partial,
            limits=limits,
        )
        _check_size(remote, partial, limits)
        commit = _head(remote, partial)
        if dest.exists():
            shutil.rmtree(dest)
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return SyncResult(commit=commit, previous_commit=None)


def _update(remote: GitRemote, branch: str, dest: Path, limits: GitLimits) -> SyncResult:
    previous = _head(remote, dest)
    tracking = f"refs/remotes/origin/{branch}"
    timeout = limits.sync_timeout_seconds
    # The stored URL is authoritative: the checkout's own remote setting is never trusted.
    _run_git(
        remote,
        [
            "fetch",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            "--force",
            "--",
            remote.url,
            f"+refs/heads/{branch}:{tracking}",
        ],
        cwd=dest,
        timeout=timeout,
        watch=dest,
        limits=limits,
    )
    _run_git(remote, ["reset", "--hard", "--quiet", tracking, "--"], cwd=dest, timeout=timeout)
    _run_git(remote, ["clean", "-ffdxq"], cwd=dest, timeout=timeout)
    commit = _head(remote, dest)
    if commit != previous:
        # Shallow fetches pile up old objects; drop them so the checkout stays one commit big.
        _run_git(remote, ["reflog", "expire", "--expire=now", "--all"], cwd=dest, timeout=timeout)
        _run_git(remote, ["gc", "--prune=now", "--quiet"], cwd=dest, timeout=timeout)
    _check_size(remote, dest, limits)
    return SyncResult(commit=commit, previous_commit=previous)


def _head(remote: GitRemote, checkout: Path) -> str:
    return _run_git(remote, ["rev-parse", "--verify", "HEAD"], cwd=checkout, timeout=30).strip()


def _check_size(remote: GitRemote, folder: Path, limits: GitLimits) -> None:
    size_bytes, files = _folder_size(folder)
    if size_bytes > limits.max_bytes or files > limits.max_files:
        raise _too_large(remote, limits)


def _folder_size(folder: Path) -> tuple[int, int]:
    """Bytes under ``folder`` and the number of files outside ``.git``; links not followed."""
    total = files = 0
    for current, dirs, names in os.walk(folder):
        in_git = Path(current).relative_to(folder).parts[:1] == (".git",)
        for name in names:
            try:
                total += os.lstat(os.path.join(current, name)).st_size
            except FileNotFoundError:
                continue  # git replaced it while we looked
            files += not in_git
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(current, d))]
    return total, files


def _run_git(
    remote: GitRemote,
    args: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    watch: Path | None = None,
    limits: GitLimits | None = None,
) -> str:
    """Run one git command and return its standard output; raise a :class:`GitError`."""
    command = [_git_binary()]
    for option in _CONFIG:
        command += ["-c", option]
    command += args
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 -- argument list, no shell; URL checked
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=_environment(remote.transport),
            start_new_session=True,
        )
        _watch(process, remote, args[0], timeout=timeout, watch=watch, limits=limits)
        stdout.seek(0)
        stderr.seek(0)
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise _classify(remote, args[0], err)
    return out


def _watch(
    process: subprocess.Popen[bytes],
    remote: GitRemote,
    action: str,
    *,
    timeout: float,
    watch: Path | None,
    limits: GitLimits | None,
) -> None:
    """Wait for git; kill its process group when it overruns the time or size limit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(timeout=_WATCH_EVERY_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            _kill(process)
            raise GitTimedOut(
                f"git {action} of {remote.display} did not finish within {timeout:.0f} s; try "
                "again later, or index a smaller repository."
            )
        if watch is not None and limits is not None and watch.exists():
            size_bytes, files = _folder_size(watch)
            if size_bytes > limits.max_bytes or files > limits.max_files:
                _kill(process)
                raise _too_large(remote, limits)


def _kill(process: subprocess.Popen[bytes]) -> None:
    # git exits between the last poll and here at times; its group is then already gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _environment(transport: str) -> dict[str, str]:
    """The environment of a git call: nothing of the worker's git setup, no prompts."""
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "HOME": tempfile.gettempdir(),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": transport,
            # No password prompt and no unknown host keys: an operator sets up keys and hosts.
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=20",
        }
    )
    return env


def _git_binary() -> str:
    git = shutil.which("git")
    if git is None:
        raise GitUnavailable(
            "The git command line is not installed on the index worker; ask your operator to "
            "install git."
        )
    return git


# git's messages (2.3x) for each kind of failure, matched in its lower-cased error output.
_AUTH = re.compile(
    r"could not read (username|password)|authentication failed|terminal prompts disabled"
    r"|permission denied \(|invalid username or password|access denied\b(?! or repository)"
    r"|http basic: access denied|the requested url returned error: 40[13]"
)
_HOST_KEY = re.compile(r"host key verification failed")
_UNREACHABLE = re.compile(
    r"could not resolve host|unable to look up|name or service not known|connection refused"
    r"|connection timed out|failed to connect|couldn't connect|network is unreachable"
    r"|no route to host|unable to connect|timed out|ssl certificate problem"
)
_NOT_A_REPOSITORY = re.compile(
    r"does not appear to be a git repository|not a git repository|repository not found"
    r"|no such repository|repository not exported|repository '.*' not found"
    r"|the requested url returned error: 404"
)
_BRANCH = re.compile(r"remote branch .* not found|couldn't find remote ref")


def _classify(remote: GitRemote, action: str, stderr: str) -> GitError:
    text = stderr.lower()
    detail = _last_line(remote, stderr)
    if _BRANCH.search(text):
        return GitBranchNotFound(
            f"The branch no longer exists in {remote.display} ({detail}); register the "
            "repository again with an existing branch."
        )
    if _HOST_KEY.search(text):
        return GitAuthRequired(
            f"The ssh host key of {remote.host} is not known to the index worker; ask your "
            "operator to add it to the worker's known_hosts."
        )
    if _AUTH.search(text):
        return GitAuthRequired(
            f"{remote.display} needs credentials ({detail}). Over https put an access token "
            "in the URL (https://TOKEN@host/org/repo.git); over ssh ask your operator to give "
            "the worker a deploy key."
        )
    if _NOT_A_REPOSITORY.search(text):
        return GitNotARepository(
            f"{remote.display} is not a git repository the worker can read ({detail}); check "
            "the URL."
        )
    if _UNREACHABLE.search(text):
        return GitRemoteUnreachable(
            f"{remote.display} could not be reached ({detail}); check the host name and that "
            "the index worker can reach it."
        )
    if "transport" in text and "not allowed" in text:
        return GitUrlRejected(f"git refused the transport of {remote.display} ({detail}).")
    logger.warning("search.git.failed", extra={"action": action, "remote": remote.display})
    return GitError(f"git {action} of {remote.display} failed: {detail}")


def _last_line(remote: GitRemote, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    for prefix in ("fatal: ", "error: "):
        line = line.removeprefix(prefix)
    return remote.mask(line)[:300]


def _branch_not_found(remote: GitRemote, branch: str) -> GitBranchNotFound:
    return GitBranchNotFound(
        f"Branch {branch!r} does not exist in {remote.display}; give an existing branch, or "
        "leave it empty to use the remote's default branch."
    )


def _too_large(remote: GitRemote, limits: GitLimits) -> GitTooLarge:
    return GitTooLarge(
        f"{remote.display} is larger than the checkout limit ({limits.max_bytes // MiB} MiB, "
        f"{limits.max_files} files); index a smaller repository, or register a local "
        "directory with ignore patterns instead."
    )
