"""The HTTP transport under :class:`constraints_gen.install.download.Client`: its settings
(deadlines and retries), the urllib3 pool (with the user's proxies), transient failures worth a
retry, and reading an answer's body with the stall rule."""

from __future__ import annotations

import email.utils
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from constraints_gen import __version__
from constraints_gen.errors import ConstraintsGenError

ENV_TIMEOUT = "GEN_CONSTRAINTS_HTTP_TIMEOUT"
ENV_STALL = "GEN_CONSTRAINTS_STALL_TIMEOUT"
ENV_RETRIES = "GEN_CONSTRAINTS_HTTP_RETRIES"
ENV_DEADLINE = "GEN_CONSTRAINTS_DEADLINE"
MIN_PROGRESS = 1000  # bytes per stall window below which a download counts as stalled
_CHUNK = 1 << 16
_USER_AGENT = f"constraints-gen/{__version__}"


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


class Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
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


def pool() -> urllib3.PoolManager:
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


def finish(response: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back for reuse when its body was read to the end; close it when not
    (an unread or half-read body must not be read as the next answer)."""
    if not response.closed:
        response.close()
    response.release_conn()


def set_read_timeout(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
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


def reason_of(exc: BaseException) -> str:
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


def range_start(response: urllib3.BaseHTTPResponse) -> int | None:
    value = str(response.headers.get("Content-Range", ""))  # bytes START-END/TOTAL
    unit, _, spec = value.partition(" ")
    start = spec.partition("-")[0]
    return int(start) if unit == "bytes" and start.isascii() and start.isdigit() else None


def total(response: urllib3.BaseHTTPResponse, offset: int) -> int | None:
    length = str(response.headers.get("Content-Length", ""))
    return offset + int(length) if length.isascii() and length.isdigit() else None


def body(
    response: urllib3.BaseHTTPResponse, *, stall: float, check_deadline: Callable[[], None]
) -> Iterator[bytes]:
    """The body in chunks as they arrive; a stall (under MIN_PROGRESS bytes in ``stall`` seconds)
    ends it with :class:`Retryable`, the run's deadline (``check_deadline`` raises) with its
    error."""
    window_start, window_bytes = time.monotonic(), 0
    while True:
        check_deadline()
        try:
            chunk = response.read1(_CHUNK)
        except (Urllib3Error, OSError) as exc:
            reason = reason_of(exc)
            if reason == "timed out":
                raise Retryable(f"stalled: no data for {stall:g} s") from None
            raise Retryable(f"connection lost ({reason})") from None
        if not chunk:
            return
        yield chunk
        now = time.monotonic()
        window_bytes += len(chunk)
        if now - window_start >= stall:
            if window_bytes < MIN_PROGRESS:
                raise Retryable(f"stalled: {window_bytes} bytes in {now - window_start:.1f} s")
            window_start, window_bytes = now, 0
