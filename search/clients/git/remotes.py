"""Parse the git remote a tenant gives, refuse unsafe forms, and mask its credentials.

Accepted: ``https://``, ``ssh://``, ``git://``, scp-like ``user@host:org/repo.git``, and
``file://`` URLs or absolute paths (the caller checks those against the allowed local roots).
Refused: any other transport, remote-helper syntax such as ``ext::`` or ``fd::`` (which runs
commands), values starting with ``-`` (they would be read as git options), control characters,
and hosts that are cloud metadata (link-local) addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from search.clients.git.errors import GitUrlRejected

MAX_URL_LENGTH = 2048
NETWORK_TRANSPORTS = ("https", "ssh", "git")
EXAMPLES = "https://host/org/repo.git, ssh://git@host/org/repo.git, git@host:org/repo.git"

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# `<transport>::<address>` makes git run a remote helper (ext:: runs an arbitrary command).
_REMOTE_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/:\[\]]+)@)?(?P<host>[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>[^:].*)$"
)
# scheme://user:password@ or scheme://token@ inside any text (URLs, git's error output).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


@dataclass(frozen=True)
class GitRemote:
    """A checked remote.

    ``url`` is what git is given and may carry credentials: show ``display`` instead, and pass
    any text git printed through :meth:`mask` before it reaches a log, a job or a response.
    """

    url: str
    transport: str
    display: str
    host: str
    secrets: tuple[str, ...] = ()
    # file transport only: the absolute path to check against the allowed local roots.
    local_path: str | None = None

    def mask(self, text: str) -> str:
        masked = mask_credentials(text)
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        return masked


def mask_credentials(text: str) -> str:
    """Hide the credentials of every URL in ``text``.

    Over https the whole user part goes (``https://TOKEN@host`` is a common form); over other
    transports only a password after ``user:``, since ``git@`` names no secret.
    """

    def _replace(match: re.Match[str]) -> str:
        scheme, userinfo = match["scheme"], match["userinfo"]
        if scheme.lower().startswith("http"):
            return f"{scheme}***@"
        user, has_password, _ = userinfo.partition(":")
        return f"{scheme}{user}:***@" if has_password else match[0]

    return _USERINFO.sub(_replace, text)


def parse_remote(raw: str) -> GitRemote:
    """Return the remote ``raw`` names, or raise :class:`GitUrlRejected` saying what to give."""
    url = (raw or "").strip()
    if not url:
        raise GitUrlRejected(f"Give the URL of a git repository, for example {EXAMPLES}.")
    if len(url) > MAX_URL_LENGTH:
        raise GitUrlRejected(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise GitUrlRejected("The URL contains spaces or control characters; remove them.")
    if url.startswith("-"):
        raise GitUrlRejected("The URL must not start with '-'; give a URL such as " + EXAMPLES)
    if _REMOTE_HELPER.match(url):
        helper = url.split("::", 1)[0]
        raise GitUrlRejected(
            f"Remote helpers ({helper}::) are not allowed; give an https, ssh or git URL "
            f"such as {EXAMPLES}."
        )
    if url.startswith("/"):
        return _local_remote(url)
    scheme = _SCHEME.match(url)
    if scheme:
        return _url_remote(url, scheme["scheme"].lower())
    scp = _SCP_LIKE.match(url)
    if scp:
        return _scp_remote(url, scp)
    raise GitUrlRejected(f"{mask_credentials(url)!r} is not a git URL; give one like {EXAMPLES}.")


def local_remote(path: Path) -> GitRemote:
    """Return the file:// remote of a checked local folder (git's file transport honours
    ``--depth``, a plain path does not)."""
    uri = path.as_uri()
    return GitRemote(url=uri, transport="file", display=uri, host="", local_path=str(path))


def _local_remote(path: str) -> GitRemote:
    return GitRemote(url=path, transport="file", display=path, host="", local_path=path)


def _url_remote(url: str, scheme: str) -> GitRemote:
    if scheme == "file":
        return _file_url_remote(url)
    if scheme == "http":
        raise GitUrlRejected(
            "Plain http is not allowed (credentials would travel unencrypted); use https://."
        )
    if scheme not in NETWORK_TRANSPORTS:
        raise GitUrlRejected(
            f"The {scheme}:// transport is not allowed; use https://, ssh:// or git://."
        )
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- urlsplit validates the port only when it is read
    except ValueError as exc:
        raise GitUrlRejected(f"{mask_credentials(url)!r} has an invalid port.") from exc
    host = parts.hostname or ""
    if not host:
        raise GitUrlRejected(f"{mask_credentials(url)!r} names no host; give one like {EXAMPLES}.")
    if host.startswith("-") or (parts.username or "").startswith("-"):
        raise GitUrlRejected("The host and user name must not start with '-'.")
    if parts.path in ("", "/"):
        raise GitUrlRejected(
            f"{mask_credentials(url)!r} names no repository path; add it (/org/repo.git)."
        )
    _refuse_metadata_host(host)
    secrets = tuple(
        s
        for s in (
            parts.password,
            unquote(parts.password or ""),
            *((parts.username, unquote(parts.username or "")) if scheme == "https" else ()),
        )
        if s
    )
    return GitRemote(
        url=url, transport=scheme, display=mask_credentials(url), host=host, secrets=secrets
    )


def _file_url_remote(url: str) -> GitRemote:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise GitUrlRejected("file:// URLs must name a folder on this machine (file:///path).")
    path = unquote(parts.path)
    if not path.startswith("/") or "\x00" in path:
        raise GitUrlRejected("file:// URLs must hold an absolute path (file:///path).")
    return GitRemote(url=url, transport="file", display=url, host="", local_path=path)


def _scp_remote(url: str, match: re.Match[str]) -> GitRemote:
    user, host, path = match["user"] or "", match["host"], match["path"]
    if host.startswith("-") or user.startswith("-") or path.startswith("-"):
        raise GitUrlRejected("The host, user name and path must not start with '-'.")
    if ":" in user:
        raise GitUrlRejected(
            "scp-like URLs cannot carry a password; ssh authenticates with the worker's key."
        )
    _refuse_metadata_host(host.strip("[]"))
    return GitRemote(url=url, transport="ssh", display=url, host=host.strip("[]"))


def _refuse_metadata_host(host: str) -> None:
    """Refuse hosts on link-local addresses, where cloud metadata services answer.

    Private and loopback addresses stay allowed: self-hosted git servers live there. This
    checks the name as it resolves now; git resolves it again, so it is a guard against the
    plain case, not against DNS rebinding.
    """
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            return  # git reports an unresolvable host with a clearer message
        addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    if any(a.is_link_local or a.is_multicast or a.is_unspecified for a in addresses):
        raise GitUrlRejected(
            f"{host} resolves to a link-local or reserved address, which is not allowed."
        )
