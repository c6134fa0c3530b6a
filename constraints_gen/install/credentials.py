"""Credentials and trusted hosts for one run's HTTP: who may be sent what.

Credentials come the way pip and uv users keep them: ``user:password@`` in an index URL (sent only
to that origin, host and port) or the ``.netrc`` file (``$NETRC``, else ``~/.netrc``). They are
kept in memory only, never written anywhere; a ``.netrc`` that does not parse is named by file and
line, never quoted. Credentials go only to their own origin, never along a redirect to another.

Redirects (pip and uv follow any) are followed for a page only to the same host or to the host of
an index or find-links URL the user configured; for a file, whose bytes must match the lock's
sha256, also to any https host (private registries redirect to object stores). Never from https
to http, never to another scheme (``file:``).
"""

from __future__ import annotations

import base64
import netrc
import os
import urllib.parse
from collections.abc import Mapping

from constraints_gen.errors import ConstraintsGenError
from constraints_gen.profiles.config import local_folder
from constraints_gen.redact import split_credentials


def host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _netloc(url: str) -> str:
    """host:port, the default port filled in (credentials belong to one such origin)."""
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{(parts.hostname or '').lower()}:{parts.port or default}"


def _load_netrc() -> netrc.netrc | None:
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        return netrc.netrc(path)
    except netrc.NetrcParseError as exc:  # its message quotes the token: maybe a password
        raise ConstraintsGenError(
            f"{path}: not a valid .netrc file near line {exc.lineno} (a token the format does"
            " not expect there; the token is not shown, it may be a password)",
            tip='quote a password that holds a space or a quote (password "with space"), and'
            " put nothing after it on its line but another keyword",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConstraintsGenError(f"{path}: not a readable .netrc file ({exc})") from None


class Credentials:
    """One run's credentials (per origin, then ``.netrc`` by host) and trusted hosts."""

    def __init__(self) -> None:
        self._by_origin: dict[str, tuple[str, str]] = {}
        self._trusted: set[str] = set()
        self._netrc = _load_netrc()

    def trust(self, url: str) -> str:
        """Allow redirects to ``url``'s host, remember its credentials; return it without them."""
        clean, credentials = split_credentials(url)
        if local_folder(clean) is None:  # a remote URL (a folder has no host to trust)
            self._trusted.add(host(clean))
            if credentials is not None:
                self._by_origin[_netloc(clean)] = credentials
        return clean

    def remember(self, url: str) -> str:
        """Keep ``url``'s credentials for its origin unless it has some; return it without
        them (a file's URL: its host is not trusted for redirects of pages)."""
        clean, credentials = split_credentials(url)
        if credentials is not None:
            self._by_origin.setdefault(_netloc(clean), credentials)
        return clean

    def headers(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        """``extra`` with the Authorization header for ``url``'s origin, when it has one."""
        headers = dict(extra)
        credentials = self._by_origin.get(_netloc(url))
        if credentials is None and self._netrc is not None:
            found = self._netrc.authenticators(host(url))
            if found is not None:
                credentials = (found[0] or "", found[2] or "")
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def refused_redirect(self, source: str, target: str, *, pinned: bool) -> str | None:
        """Why following ``source`` -> ``target`` is refused, or None when allowed.

        ``pinned``: the answer is checked against a lock's sha256 (a file download), so an https
        redirect to any host is followed, as object stores behind private registries need; a
        page (whose content is trusted) only stays on its host or goes to a configured one."""
        old, new = urllib.parse.urlsplit(source), urllib.parse.urlsplit(target)
        if new.scheme not in ("http", "https"):
            return f"a redirect to a {new.scheme or 'relative'} URL"
        if old.scheme == "https" and new.scheme == "http":
            return "a redirect from https to http"
        target_host = (new.hostname or "").lower()
        if pinned and new.scheme == "https":
            return None
        if target_host != (old.hostname or "").lower() and target_host not in self._trusted:
            return (
                f"a redirect to another host ({target_host}), which is not one of the configured"
                " indexes or find-links"
            )
        return None
