"""The one redaction boundary: no password or token leaves the process.

Every piece of text the tool lets out passes :func:`redact`: the reporter's messages
(:mod:`constraints_gen.reporter`), stdout (``write_out``: data and ``--json`` documents), the CLI's
error boundary, uv's and pip's relayed output and the ``-v`` command lines (both through the
reporter or an error message), and every text file written (:func:`constraints_gen.fsutil.
atomic_write`). It masks the userinfo of every URL in a text as pip shows it: ``USER:****@HOST``,
a token-only userinfo as ``****@HOST``. A cache key never holds a URL: it holds
:func:`url_digest`.

A password holding an unencoded ``/``, ``#`` or ``?`` ends the URL's authority early by RFC 3986,
so ``https://USER:pa/ss@HOST`` would show ``pa`` as a "port": :func:`redact` masks such a
userinfo too (up to the last ``@`` of the URL), and :func:`parse_url` refuses the URL (exit 2),
naming it masked and saying to percent-encode the password.

A leaf: it imports only :mod:`re` and :mod:`urllib.parse` (both already loaded on emit's path) and
:mod:`constraints_gen.errors`.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

from constraints_gen.errors import InputError


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Compiled on first use (a text with an "@"): emit's output has none, and pays nothing."""
    return (
        # ``scheme://`` and the rest of a URL up to a space, a quote, ``<>`` or a backtick (uv
        # quotes URLs in backticks, JSON in double quotes, Python's repr in single quotes)
        re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s\"'<>`]+)"),
        # a host (a name, an IPv4 address or ``[IPv6]``) with an optional numeric port
        re.compile(r"(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%!$&()*+,;=-]*)(?::[0-9]*)?"),
        re.compile(r"[/?#]"),  # where an authority ends
    )


MASK = "****"
PERCENT_ENCODE_TIP = (
    "percent-encode the password's special characters: '/' as %2F, '#' as %23, '?' as %3F,"
    " '@' as %40, ':' as %3A, '%' as %25"
)


def redact(text: str, keep: str = "") -> str:
    """``text`` with the credentials of every URL in it masked (``USER:****@HOST``), but those
    of a URL that ``keep`` holds as it is: a file the tool edits (a user's pyproject.toml, a
    profile) keeps what its owner wrote there (``git+ssh://git@github.com/...``, a token in a
    comment), and only what the tool adds is masked."""
    if "@" not in text or "://" not in text:  # no URL with a userinfo: two scans, no regex
        # (the scheme pattern below costs 4.7 ms on a 100 kB lock, whose only "@" is in its
        # "# Inputs: name@digest" header line; 43 such locks were 200 ms of a re-lock)
        return text
    if keep:
        return _patterns()[0].sub(lambda m: m[0] if m[0] in keep else _mask(m), text)
    return _patterns()[0].sub(_mask, text)


def _userinfo_end(rest: str) -> int:
    """Where the userinfo of ``rest`` (a URL after ``scheme://``) ends: the index of its ``@``,
    or -1 when it has none."""
    _, host, authority_end = _patterns()
    end = authority_end.search(rest)
    authority = rest if end is None else rest[: end.start()]
    if "@" in authority:
        return authority.rindex("@")
    if "@" not in rest or (host.fullmatch(authority) and ":" not in authority):
        return -1
    # "USER:pa/ss@HOST", "USER:p#ss@HOST": a password with a raw "/", "#" or "?" (the authority
    # "USER:pa" is no host:port). Everything up to the last "@" is taken as the userinfo: at
    # worst more is masked than needed, never a password shown.
    return rest.rindex("@")


def _mask(match: re.Match[str]) -> str:
    scheme, rest = match["scheme"], match["rest"]
    at = _userinfo_end(rest)
    if at < 0:
        return match[0]
    userinfo = rest[:at]
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return f"{scheme}{shown}@{rest[at + 1 :]}"


def has_credentials(url: str) -> bool:
    """Does ``url`` carry a userinfo (a password or a token)?"""
    match = _patterns()[0].match(url)
    return match is not None and _userinfo_end(match["rest"]) >= 0


def parse_url(url: str) -> urllib.parse.SplitResult:
    """``url`` split, its port read; a URL that cannot be read (a password with a raw ``/``,
    ``#`` or ``?``, a port that is not a number) is an :class:`InputError` naming it masked."""
    try:
        parts = urllib.parse.urlsplit(url)  # ValueError: a raw "[" or "]" in a password
        parts.port  # noqa: B018 (reading it is the check: ValueError for a non-numeric port)
        broken = "@" not in parts.netloc and has_credentials(url)
        # a userinfo that :func:`redact` would not mask whole (a raw space, quote, "<", ">" or
        # backtick ends a URL in a text; a tab is dropped by urlsplit): every later message
        # quoting the URL would show the rest of the password
        broken = broken or ("@" in parts.netloc and _masked_userinfo(url) != _userinfo(parts))
    except ValueError:
        broken = True
    if broken:
        raise InputError(
            [
                f"{_mask_whole(url)}: not a URL that can be read"
                " (its host and port cannot be told apart)"
            ],
            tip="if the part before @ is a password, " + PERCENT_ENCODE_TIP,
        )
    return parts


def _userinfo(parts: urllib.parse.SplitResult) -> str:
    return parts.netloc.rpartition("@")[0]


def _masked_userinfo(url: str) -> str | None:
    """The userinfo that :func:`redact` masks in ``url`` (None when it masks none)."""
    match = _patterns()[0].match(url)
    if match is None:
        return None
    at = _userinfo_end(match["rest"])
    return None if at < 0 else match["rest"][:at]


def _mask_whole(url: str) -> str:
    """``url`` (one that cannot be read) shown with everything between ``scheme://`` and its last
    ``@`` masked: at worst more than the userinfo, never a piece of the password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return redact(url)
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}:{MASK}@{host}" if colon else f"{scheme}://{MASK}@{host}"


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(``url`` without ``user:password@``, the (user, password) percent-decoded, or None).
    A URL that cannot be read is an :class:`InputError` (see :func:`parse_url`)."""
    parts = parse_url(url)
    if "@" not in parts.netloc:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), (user, password)


def url_digest(text: str) -> str:
    """A digest of ``text`` (a URL, or a list of them) for a cache key: the key then holds no
    URL, and so no credentials (sha256, hex)."""
    import hashlib  # not on emit's path unless a cache key needs it

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
