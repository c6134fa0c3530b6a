"""HTTP for package indexes and wheel downloads: deadlines, retries, resume and credentials.

Every network wait has a deadline: connecting and each wait for the server (``timeout``), a
download that stalls (under 1 kB received in ``stall`` seconds, so a server trickling a byte every
few seconds counts as stalled), and optionally the whole run (``deadline``). Connection errors,
timeouts, stalls, 429 and 5xx answers are retried with exponential backoff (a ``Retry-After``
answer is honoured, capped at ``max_wait``). A download goes to ``.<name>.part`` beside its target,
resumes with an HTTP ``Range`` request when a part is there (a 206 answer appends, a 200 starts
over), and is renamed into place only once its sha256 is one the lock allows.

Credentials come the way pip and uv users keep them: ``user:password@`` in an index URL (sent only
to that host) or the ``.netrc`` file (``$NETRC``, else ``~/.netrc``). They are never written
anywhere, and every URL in a message goes through :func:`constraints_gen.redact.redact`; a
``.netrc`` that does not parse is named by file and line, never quoted. Credentials go only to
their own origin, never along a redirect to another. Redirects (pip and uv follow any) are
followed for a page only to the same host or to the host of an index or find-links URL the
user configured; for a file, whose bytes must match the lock's sha256, also to any https host
(private registries redirect to object stores). Never from https to http, never to another
scheme (``file:``).

Library: urllib3 2 (maintained; the transport under pip's vendored requests): pooled keep-alive
connections (one fill reads hundreds of pages), ``Timeout`` objects, ``read1`` for stall
detection, Content-Length enforcement (a cut answer is an error, not a short file). Retries, Range
and redirects are ours, since each needs our rules (resume, host checks, our messages). Import cost
(python -X importtime, min of 20 runs on the 2-core dev machine under load): urllib.request 38 ms,
urllib3 74 ms, httpx 87 ms, requests 114 ms. None of it is on the emit path: this module is
imported only by ``wheelhouse fill`` and ``sync --wheelhouse URL`` (tests/test_lockflow.py checks
emit's imports). requests would add idna, charset_normalizer and certifi (its own CA store instead
of the system's) and httpx httpcore, anyio and h11, for nothing we use.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import netrc
import os
import random
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from constraints_gen import __version__
from constraints_gen.errors import ConstraintsGenError, FetchError, NotFound
from constraints_gen.fsutil import _lock, _try_lock, _unlock
from constraints_gen.profiles.config import local_folder
from constraints_gen.redact import redact, split_credentials

ENV_TIMEOUT = "GEN_CONSTRAINTS_HTTP_TIMEOUT"
ENV_STALL = "GEN_CONSTRAINTS_STALL_TIMEOUT"
ENV_RETRIES = "GEN_CONSTRAINTS_HTTP_RETRIES"
ENV_DEADLINE = "GEN_CONSTRAINTS_DEADLINE"
MIN_PROGRESS = 1000  # bytes per stall window below which a download counts as stalled
MAX_REDIRECTS = 10
PART_SUFFIX = ".part"
_CHUNK = 1 << 16
_USER_AGENT = f"constraints-gen/{__version__}"


class Cancelled(BaseException):
    """The run was interrupted (Ctrl-C in the main thread): stop, keep parts for a resume."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Deadlines and retries (seconds); ``deadline`` None means no limit for the whole run."""

    timeout: float = 30.0
    stall: float = 30.0
    retries: int = 3
    deadline: float | None = None
    backoff: float = 0.25  # first wait; doubles per attempt
    max_wait: float = 30.0  # cap on one backoff or Retry-After wait

    def __post_init__(self) -> None:
        for name, option in _OPTIONS.items():
            value = getattr(self, name)
            if value is not None and not 0 < value < 1e9 and not (name == "retries" and value == 0):
                raise ConstraintsGenError(
                    f"{option}: expected a finite number above 0, got {value}"
                    if name != "retries"
                    else f"{option}: expected 0 or more, got {value}"
                )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults, overridden by $GEN_CONSTRAINTS_HTTP_TIMEOUT, $GEN_CONSTRAINTS_STALL_TIMEOUT,
        $GEN_CONSTRAINTS_HTTP_RETRIES and $GEN_CONSTRAINTS_DEADLINE."""
        env = os.environ if env is None else env
        values: dict[str, float | int | None] = {}
        for name, field, kind in (
            (ENV_TIMEOUT, "timeout", float),
            (ENV_STALL, "stall", float),
            (ENV_RETRIES, "retries", int),
            (ENV_DEADLINE, "deadline", float),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                value = -1
            if not value >= 0 or (kind is float and not 0 < value < 1e9):
                raise ConstraintsGenError(
                    f"${name}={raw!r}: expected a positive number"
                    + (" of seconds" if kind is float else " (0 or more)")
                )
            values[field] = value
        return replace(cls(), **values)  # type: ignore[arg-type]


_OPTIONS = {
    "timeout": "--timeout",
    "stall": "--stall-timeout",
    "retries": "--retries",
    "deadline": "--deadline",
    "backoff": "backoff",
    "max_wait": "max_wait",
}


class Progress(Protocol):
    """What a download reports; the CLI renders it (see constraints_gen.install.progress)."""

    def started(self, filename: str, total: int | None, offset: int) -> None: ...
    def advanced(self, filename: str, amount: int) -> None: ...
    def finished(self, filename: str, size: int) -> None: ...
    def failed(self, filename: str) -> None: ...
    def note(self, message: str) -> None: ...


class _Silent:
    def started(self, filename: str, total: int | None, offset: int) -> None:
        pass

    def advanced(self, filename: str, amount: int) -> None:
        pass

    def finished(self, filename: str, size: int) -> None:
        pass

    def failed(self, filename: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


SILENT: Progress = _Silent()


def _host(url: str) -> str:
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


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _head_within(
    conn: urllib3.connection.HTTPConnection,
    getresponse: Callable[[], urllib3.response.HTTPResponse],
) -> urllib3.response.HTTPResponse:
    """``getresponse()``, its answer head (status line and headers) bounded as a whole by the
    connection's read timeout.

    The socket's timeout bounds each wait for bytes, not the head: a server that sends a header
    byte every few seconds kept a request open for as long as it liked (measured: 100 s for 100
    headers at 0.5 s with --timeout 2; http.client's only limits are 100 headers of 64 KiB each).
    A timer shuts the socket down when the head is late; the read then fails (or reads as the end
    of the headers), and either is reported as the timeout it is."""
    sock, limit = conn.sock, conn.timeout
    if sock is None or not isinstance(limit, (int, float)):
        return getresponse()
    late = threading.Event()

    def shut() -> None:
        late.set()
        with suppress(OSError):  # the base class's: an SSL socket's own would drop its state
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    timer = threading.Timer(limit, shut)
    timer.daemon = True
    timer.start()
    try:
        response = getresponse()
    except Exception:
        if late.is_set():  # urllib3 turns a socket timeout into ReadTimeoutError
            raise TimeoutError(f"no answer head within {limit:g} s") from None
        raise
    finally:
        timer.cancel()
    if late.is_set():  # the shut-down socket read as the end of the headers: not an answer
        response.close()
        raise TimeoutError(f"no answer head within {limit:g} s")
    return response


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        return _head_within(self, super().getresponse)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        return _head_within(self, super().getresponse)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _bounded(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


def _pool() -> urllib3.PoolManager:
    """A pool honouring $https_proxy/$http_proxy/$no_proxy the way urllib.request does."""
    proxies = urllib.request.getproxies()
    if proxies.get("https") or proxies.get("http"):
        return _bounded(_ProxyChooser(proxies))
    return _bounded(urllib3.PoolManager(retries=False, headers={"User-Agent": _USER_AGENT}))


class _ProxyChooser(urllib3.PoolManager):
    def __init__(self, proxies: Mapping[str, str]) -> None:
        super().__init__(retries=False, headers={"User-Agent": _USER_AGENT})
        self._proxies = {
            scheme: _bounded(
                urllib3.ProxyManager(url, retries=False, headers={"User-Agent": _USER_AGENT})
            )
            for scheme, url in proxies.items()
            if scheme in ("http", "https")
        }

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: object
    ) -> urllib3.BaseHTTPResponse:
        parts = urllib.parse.urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if proxy is not None and not urllib.request.proxy_bypass(parts.hostname or ""):
            return proxy.urlopen(method, url, redirect=redirect, **kw)
        return super().urlopen(method, url, redirect=redirect, **kw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    body: bytes
    content_type: str
    url: str  # after redirects


class Client:
    """One run's HTTP: a connection pool, the run's deadline, credentials and trusted hosts."""

    def __init__(self, settings: Settings | None = None, *, sources: Iterable[str] = ()) -> None:
        self.settings = settings or Settings.from_env()
        self._pool = _pool()
        self._started = time.monotonic()
        self._credentials: dict[str, tuple[str, str]] = {}
        self._trusted: set[str] = set()
        self._netrc = _load_netrc()
        self._cancelled = threading.Event()
        for url in sources:
            self.trust(url)

    def cancel(self) -> None:
        """Make every download and wait of this client stop soon (at its next chunk)."""
        self._cancelled.set()

    def trust(self, url: str) -> str:
        """Allow redirects to ``url``'s host, remember its credentials; return it without them."""
        clean, credentials = split_credentials(url)
        if local_folder(clean) is None:  # a remote URL (a folder has no host to trust)
            self._trusted.add(_host(clean))
            if credentials is not None:
                self._credentials[_netloc(clean)] = credentials
        return clean

    # -- deadlines and retries ------------------------------------------------------------

    def remaining(self) -> float | None:
        if self.settings.deadline is None:
            return None
        return self.settings.deadline - (time.monotonic() - self._started)

    def _check_deadline(self, what: str) -> None:
        if self._cancelled.is_set():
            raise Cancelled
        left = self.remaining()
        if left is not None and left <= 0:
            raise FetchError(
                f"{what}: the deadline of {self.settings.deadline:g} s for all downloads passed",
                tip=f"allow more time: --deadline SECONDS or ${ENV_DEADLINE}",
            )

    def _timeout(self, limit: float) -> urllib3.Timeout:
        left = self.remaining()
        if left is not None:
            limit = max(0.01, min(limit, left))
        return urllib3.Timeout(connect=min(self.settings.timeout, limit), read=limit)

    def _retrying(self, what: str, attempt: Callable[[], object], progress: Progress) -> None:
        """Call ``attempt`` until it returns, retrying on :class:`_Retryable` with backoff."""
        settings = self.settings
        for number in range(settings.retries + 1):
            self._check_deadline(what)
            try:
                attempt()
                return
            except _Retryable as exc:
                if number == settings.retries:
                    tries = f" (after {number + 1} attempts)" if number else ""
                    raise FetchError(f"{what}: {exc.reason}{tries}") from None
                wait = settings.backoff * 2**number * (0.5 + random.random() / 2)
                if exc.retry_after is not None:
                    wait = exc.retry_after
                wait = min(wait, settings.max_wait)
                left = self.remaining()
                if left is not None and wait >= left:
                    self._check_deadline(what)
                    wait = max(0.0, left)
                progress.note(f"{what}: {exc.reason}; retrying in {wait:.1f} s")
                self._cancelled.wait(wait)
                self._check_deadline(what)

    # -- requests ---------------------------------------------------------------------------

    def _headers(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        headers = dict(extra)
        credentials = self._credentials.get(_netloc(url))
        if credentials is None and self._netrc is not None:
            found = self._netrc.authenticators(_host(url))
            if found is not None:
                credentials = (found[0] or "", found[2] or "")
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def _allowed_redirect(self, source: str, target: str, *, pinned: bool) -> str | None:
        """Why following ``source`` -> ``target`` is refused, or None when allowed.

        ``pinned``: the answer is checked against a lock's sha256 (a file download), so an https
        redirect to any host is followed, as object stores behind private registries need; a
        page (whose content is trusted) only stays on its host or goes to a configured one."""
        old, new = urllib.parse.urlsplit(source), urllib.parse.urlsplit(target)
        if new.scheme not in ("http", "https"):
            return f"a redirect to a {new.scheme or 'relative'} URL"
        if old.scheme == "https" and new.scheme == "http":
            return "a redirect from https to http"
        host = (new.hostname or "").lower()
        if pinned and new.scheme == "https":
            return None
        if host != (old.hostname or "").lower() and host not in self._trusted:
            return (
                f"a redirect to another host ({host}), which is not one of the configured"
                " indexes or find-links"
            )
        return None

    @contextmanager
    def _open(
        self, url: str, *, headers: Mapping[str, str], pinned: bool = False
    ) -> Iterator[tuple[urllib3.BaseHTTPResponse, str]]:
        """GET ``url``, following allowed redirects; yield (the response, its final URL) with the
        body unread. Raise :class:`_Retryable` for transient failures, :class:`FetchError` for the
        rest (:class:`NotFound` for 404 and 410); 416 is yielded for the caller to judge."""
        current = url
        response: urllib3.BaseHTTPResponse | None = None
        timeout = self.settings.timeout
        try:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    response = self._pool.urlopen(
                        "GET",
                        current,
                        headers=self._headers(current, headers),
                        redirect=False,
                        retries=False,
                        preload_content=False,
                        decode_content=False,
                        timeout=self._timeout(timeout),
                    )
                except (SSLError, LocationParseError) as exc:
                    raise FetchError(f"{redact(current)}: cannot connect ({exc})") from None
                except ReadTimeoutError:
                    raise _Retryable(f"no answer within {timeout:g} s") from None
                except (Urllib3Error, OSError) as exc:
                    raise _Retryable(f"cannot connect ({_reason(exc)})") from None
                location = response.get_redirect_location()
                if not location:
                    break
                try:
                    target = urllib.parse.urljoin(current, location)
                    refused = self._allowed_redirect(current, target, pinned=pinned)
                except ValueError:  # "http://[::1/x": urlsplit's "Invalid IPv6 URL"
                    target, refused = location, "a redirect to a URL that cannot be read"
                _finish(response)
                if refused is not None:
                    raise FetchError(
                        f"{redact(url)}: refused {refused}: {redact(target)}",
                        tip="add that host as an index or --find-links URL if you trust it",
                    )
                current = target
            else:
                raise FetchError(f"{redact(url)}: more than {MAX_REDIRECTS} redirects")
            assert response is not None
            status, reason = response.status, (response.reason or "").strip()
            shown = f"{redact(current)}: HTTP {status} {reason}".rstrip()
            if status == 429 or status >= 500:
                retry_after = _retry_after(response.headers.get("Retry-After"))
                raise _Retryable(f"HTTP {status} {reason}".rstrip(), retry_after)
            if status in (404, 410):
                raise NotFound(shown)
            if status in (401, 403):
                refused_credentials = "Authorization" in self._headers(current, {})
                raise FetchError(
                    shown,
                    tip="the credentials for this host were refused"
                    if refused_credentials
                    else "put credentials in ~/.netrc or in the index URL (https://USER:PASSWORD@HOST/...)",
                )
            if status not in (200, 206, 416):
                raise FetchError(shown)
            _set_read_timeout(response, min(self.settings.stall, timeout))
            yield response, current
        finally:
            if response is not None:
                _finish(response)

    def get_page(self, url: str, *, accept: str, limit: int, progress: Progress = SILENT) -> Page:
        """The body of ``url`` (at most ``limit`` bytes), with retries."""
        clean = self.trust(url)
        shown = redact(clean)
        result: list[Page] = []

        def attempt() -> None:
            with self._open(clean, headers={"Accept": accept}) as (response, final):
                if response.status != 200:
                    raise FetchError(f"{shown}: HTTP {response.status}")
                chunks: list[bytes] = []
                size = 0
                for chunk in _body(response, self, shown):
                    size += len(chunk)
                    if size > limit:
                        raise FetchError(f"{shown}: the page is larger than {limit:,} bytes")
                    chunks.append(chunk)
                content_type = str(response.headers.get("Content-Type", ""))
                result.append(Page(body=b"".join(chunks), content_type=content_type, url=final))

        self._retrying(shown, attempt, progress)
        return result[0]

    def download(
        self,
        url: str,
        target: Path,
        expected: Collection[str],
        *,
        progress: Progress = SILENT,
    ) -> tuple[str, int]:
        """Fetch ``url`` to ``target`` via ``.<name>.part`` (resumed when present); keep it only
        when its sha256 is in ``expected`` (hex). Returns (sha256, size). On failure nothing is
        left behind; when interrupted (Ctrl-C) the part stays for the next run to resume."""
        url, credentials = split_credentials(url)
        if credentials is not None:
            self._credentials.setdefault(_netloc(url), credentials)
        name = target.name
        try:
            with _locked_part(target) as handle:
                if target.is_file() and (sha := _sha256_file(target)) in expected:
                    _remove_part(target, handle)  # a concurrent run fetched it meanwhile
                    return sha, target.stat().st_size
                try:
                    if url.startswith("file:"):
                        sha, size = _copy_local(url, handle, expected, progress, name)
                    else:
                        sha, size = self._fetch_into(url, _Part(handle), expected, progress, name)
                    handle.flush()
                    os.fsync(handle.fileno())
                    os.replace(_part_path(target), target)
                except BaseException as exc:
                    interrupted = (KeyboardInterrupt, SystemExit, Cancelled)
                    if isinstance(exc, interrupted) and handle.tell() > 0:
                        raise  # keep the part: the next run resumes it
                    _remove_part(target, handle)
                    progress.failed(name)
                    if isinstance(exc, FetchError) and not exc.message.startswith(name):
                        raise FetchError(f"{name}: {exc.message}", tip=exc.tip) from None
                    raise
        except OSError as exc:  # the folder: read-only, full, missing
            progress.failed(name)
            raise FetchError(
                f"{_part_path(target)}: cannot write ({exc.strerror or exc})"
            ) from None
        progress.finished(name, size)
        return sha, size

    def _fetch_into(
        self, url: str, part: _Part, expected: Collection[str], progress: Progress, name: str
    ) -> tuple[str, int]:
        shown = redact(url)
        what = f"{name}: download from {shown}"

        def attempt() -> None:
            offset = part.size
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            with self._open(url, headers=headers, pinned=True) as (response, _):
                if response.status == 416 and offset:  # nothing after offset: complete already?
                    if part.digest.hexdigest() in expected:
                        return
                    part.restart()
                    raise _Retryable("HTTP 416 (the partial file is not a prefix); starting over")
                if not (offset and response.status == 206 and _range_start(response) == offset):
                    part.restart()  # a full answer (the server ignored Range): start over
                    if response.status != 200:
                        raise _Retryable(f"HTTP {response.status} without a usable Content-Range")
                progress.started(name, _total(response, part.size), part.size)
                for chunk in _body(response, self, what):
                    part.write(chunk)
                    progress.advanced(name, len(chunk))

        self._retrying(what, attempt, progress)
        got = part.digest.hexdigest()
        if got not in expected and part.resumed:
            progress.note(f"{name}: the resumed file does not match the lock; downloading again")
            part.restart()
            return self._fetch_into(url, part, expected, progress, name)
        if got not in expected:
            want = ", ".join(f"sha256:{h}" for h in sorted(expected))
            raise FetchError(
                f"{name}: hash mismatch, file discarded: expected {want} (from the lock),"
                f" got sha256:{got} (downloaded from {shown})"
            )
        return got, part.size


class _Part:
    """The open part file with the running hash of what it holds."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        handle.seek(0)
        while chunk := handle.read(1 << 20):
            self.digest.update(chunk)
        self.size = handle.tell()
        self.resumed = self.size > 0

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.sha256()
        self.size = 0
        self.resumed = False

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


def _finish(response: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back for reuse when its body was read to the end; close it when not
    (an unread or half-read body must not be read as the next answer)."""
    if not response.closed:
        response.close()
    response.release_conn()


def _set_read_timeout(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """Bound each wait for body bytes by the stall timeout, on the socket the body is read from.

    That is the connection's socket, except for an answer that ends with the connection (no
    Content-Length, ``Connection: close``): http.client drops the connection's socket then
    (``conn.sock`` is None) and the body is read through the file it made of it, which kept the
    read timeout (``--timeout``, 30 s) until this looked there too (measured: 60 s instead of 6 s
    for ``--stall-timeout 3 --retries 1`` against headers, 10 bytes, then silence)."""
    sockets = [getattr(getattr(response, "connection", None), "sock", None)]
    body = getattr(getattr(response, "_fp", None), "fp", None)  # http.client's makefile("rb")
    sockets.append(getattr(getattr(body, "raw", None), "_sock", None))
    for sock in sockets:
        if sock is not None:
            with suppress(OSError):  # closed meanwhile: the read then fails at once
                sock.settimeout(seconds)


def _reason(exc: BaseException) -> str:
    """The useful part of a urllib3 or socket error."""
    if isinstance(exc, (TimeoutError, ReadTimeoutError, ConnectTimeoutError)) and not isinstance(
        exc, NewConnectionError
    ):
        return "timed out"
    if isinstance(exc, ProtocolError) and exc.args:
        return str(exc.args[0])
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Failed to resolve "):
        if marker in text:
            return text.split(marker, 1)[1]
    return text


def _range_start(response: urllib3.BaseHTTPResponse) -> int | None:
    value = str(response.headers.get("Content-Range", ""))  # bytes START-END/TOTAL
    unit, _, spec = value.partition(" ")
    start = spec.partition("-")[0]
    return int(start) if unit == "bytes" and start.isascii() and start.isdigit() else None


def _total(response: urllib3.BaseHTTPResponse, offset: int) -> int | None:
    length = str(response.headers.get("Content-Length", ""))
    return offset + int(length) if length.isascii() and length.isdigit() else None


def _body(response: urllib3.BaseHTTPResponse, client: Client, what: str) -> Iterator[bytes]:
    """The body in chunks as they arrive; a stall (under MIN_PROGRESS bytes in ``stall`` seconds)
    or the run's deadline ends it with :class:`_Retryable` or :class:`FetchError`."""
    stall = client.settings.stall
    window_start, window_bytes = time.monotonic(), 0
    while True:
        client._check_deadline(what)
        try:
            chunk = response.read1(_CHUNK)
        except (Urllib3Error, OSError) as exc:
            reason = _reason(exc)
            if reason == "timed out":
                raise _Retryable(f"stalled: no data for {stall:g} s") from None
            raise _Retryable(f"connection lost ({reason})") from None
        if not chunk:
            return
        yield chunk
        now = time.monotonic()
        window_bytes += len(chunk)
        if now - window_start >= stall:
            if window_bytes < MIN_PROGRESS:
                raise _Retryable(f"stalled: {window_bytes} bytes in {now - window_start:.1f} s")
            window_start, window_bytes = now, 0


def _copy_local(
    url: str, handle: IO[bytes], expected: Collection[str], progress: Progress, name: str
) -> tuple[str, int]:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    digest = hashlib.sha256()
    handle.seek(0)
    handle.truncate()
    try:
        with source.open("rb") as src:
            progress.started(name, source.stat().st_size, 0)
            while chunk := src.read(1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                progress.advanced(name, len(chunk))
    except OSError as exc:
        raise FetchError(f"{name}: cannot read {source} ({exc.strerror or exc})") from None
    got = digest.hexdigest()
    if got not in expected:
        want = ", ".join(f"sha256:{h}" for h in sorted(expected))
        raise FetchError(
            f"{name}: hash mismatch, file discarded: expected {want} (from the lock),"
            f" got sha256:{got} (copied from {source})"
        )
    return got, handle.tell()


def _part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{PART_SUFFIX}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _same_file(handle: IO[bytes], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextmanager
def _locked_part(target: Path) -> Iterator[IO[bytes]]:
    """The part file of ``target``, opened for appending and locked against other runs (the
    operating system drops the lock when a run dies, so a killed run never blocks the next)."""
    part = _part_path(target)
    while True:
        handle = part.open("a+b", buffering=0)  # what arrived is on disk for a resume
        try:
            if not _try_lock(handle):
                _lock(handle)  # another run downloads it: wait, then reuse its result
            if _same_file(handle, part):
                break
            _unlock(handle)
        except BaseException:
            handle.close()
            raise
        handle.close()  # renamed or removed meanwhile: open the new one
    try:
        yield handle
    finally:
        try:
            if _same_file(handle, part):
                _unlock(handle)
        finally:
            handle.close()


def _remove_part(target: Path, handle: IO[bytes]) -> None:
    part = _part_path(target)
    if _same_file(handle, part):
        part.unlink(missing_ok=True)


def remove_stale_parts(folder: Path, keep: Collection[str] = ()) -> list[str]:
    """Remove ``.*.part`` files a killed run left in ``folder`` (except for the file names in
    ``keep``); parts another live run holds are left alone. Returns the removed names."""
    removed = []
    for part in sorted(folder.glob(f".*{PART_SUFFIX}")) if folder.is_dir() else []:
        if part.name[1 : -len(PART_SUFFIX)] in keep or not part.is_file():
            continue
        with part.open("a+b") as handle:
            if not _try_lock(handle):
                continue
            try:
                if _same_file(handle, part):
                    part.unlink(missing_ok=True)
                    removed.append(part.name)
            finally:
                _unlock(handle)
    return removed
