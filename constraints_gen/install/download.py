"""HTTP for package indexes and wheel downloads: deadlines, retries, resume and credentials.

Every network wait has a deadline: connecting and each wait for the server (``timeout``), a
download that stalls (under 1 kB received in ``stall`` seconds, so a server trickling a byte every
few seconds counts as stalled), and optionally the whole run (``deadline``). Connection errors,
timeouts, stalls, 429 and 5xx answers are retried with exponential backoff (a ``Retry-After``
answer is honoured, capped at ``max_wait``). A download goes to ``.<name>.part`` beside its target,
resumes with an HTTP ``Range`` request when a part is there (a 206 answer appends, a 200 starts
over), and is renamed into place only once its sha256 is one the lock allows.

Every URL in a message goes through :func:`constraints_gen.redact.redact`. The parts, each its
own module: credentials and which redirects are followed (:mod:`.credentials`), part files and
their locks (:mod:`.partfile`), the settings (deadlines, retries), the urllib3 pool, retryable
failures and the stall rule (:mod:`.transport`), what a download reports (:mod:`.progress`);
here, the :class:`Client` that ties them together.

Library: urllib3 2 (maintained; the transport under pip's vendored requests): pooled keep-alive
connections (one fill reads hundreds of pages), ``Timeout`` objects, ``read1`` for stall
detection, Content-Length enforcement (a cut answer is an error, not a short file). Retries, Range
and redirects are ours, since each needs our rules (resume, host checks, our messages). Import cost
(python -X importtime, min of 20 runs on the 2-core dev machine under load): urllib.request 38 ms,
urllib3 74 ms, httpx 87 ms, requests 114 ms. None of it is on the emit path: this module and its
parts are imported only by ``wheelhouse fill`` and ``sync --wheelhouse URL``
(tests/test_lockflow.py checks emit's imports). requests would add idna, charset_normalizer and
certifi (its own CA store instead of the system's) and httpx httpcore, anyio and h11, for
nothing we use.
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, ReadTimeoutError, SSLError

from constraints_gen.errors import FetchError, NotFound
from constraints_gen.install.credentials import Credentials
from constraints_gen.install.partfile import (
    Part,
    copy_local,
    locked_part,
    part_path,
    remove_part,
    sha256_file,
)
from constraints_gen.install.progress import SILENT, Progress
from constraints_gen.install.transport import (
    ENV_DEADLINE,
    Retryable,
    Settings,
    body,
    finish,
    parse_retry_after,
    pool,
    range_start,
    reason_of,
    set_read_timeout,
    total,
)
from constraints_gen.redact import redact

MAX_REDIRECTS = 10


class Cancelled(BaseException):
    """The run was interrupted (Ctrl-C in the main thread): stop, keep parts for a resume."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    body: bytes
    content_type: str
    url: str  # after redirects


class Client:
    """One run's HTTP: a connection pool, the run's deadline, credentials and trusted hosts."""

    def __init__(self, settings: Settings | None = None, *, sources: Iterable[str] = ()) -> None:
        self.settings = settings or Settings.from_env()
        self._pool = pool()
        self._started = time.monotonic()
        self._credentials = Credentials()
        self._cancelled = threading.Event()
        for url in sources:
            self.trust(url)

    def cancel(self) -> None:
        """Make every download and wait of this client stop soon (at its next chunk)."""
        self._cancelled.set()

    def trust(self, url: str) -> str:
        """Allow redirects to ``url``'s host, remember its credentials; return it without them."""
        return self._credentials.trust(url)

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
        """Call ``attempt`` until it returns, retrying on :class:`Retryable` with backoff."""
        settings = self.settings
        for number in range(settings.retries + 1):
            self._check_deadline(what)
            try:
                attempt()
                return
            except Retryable as exc:
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

    @contextmanager
    def _open(
        self, url: str, *, headers: Mapping[str, str], pinned: bool = False
    ) -> Iterator[tuple[urllib3.BaseHTTPResponse, str]]:
        """GET ``url``, following allowed redirects; yield (the response, its final URL) with the
        body unread. Raise :class:`Retryable` for transient failures, :class:`FetchError` for the
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
                        headers=self._credentials.headers(current, headers),
                        redirect=False,
                        retries=False,
                        preload_content=False,
                        decode_content=False,
                        timeout=self._timeout(timeout),
                    )
                except (SSLError, LocationParseError) as exc:
                    raise FetchError(f"{redact(current)}: cannot connect ({exc})") from None
                except ReadTimeoutError:
                    raise Retryable(f"no answer within {timeout:g} s") from None
                except (Urllib3Error, OSError) as exc:
                    raise Retryable(f"cannot connect ({reason_of(exc)})") from None
                location = response.get_redirect_location()
                if not location:
                    break
                try:
                    target = urllib.parse.urljoin(current, location)
                    refused = self._credentials.refused_redirect(current, target, pinned=pinned)
                except ValueError:  # "http://[::1/x": urlsplit's "Invalid IPv6 URL"
                    target, refused = location, "a redirect to a URL that cannot be read"
                finish(response)
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
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise Retryable(f"HTTP {status} {reason}".rstrip(), retry_after)
            if status in (404, 410):
                raise NotFound(shown)
            if status in (401, 403):
                refused_credentials = "Authorization" in self._credentials.headers(current, {})
                raise FetchError(
                    shown,
                    tip="the credentials for this host were refused"
                    if refused_credentials
                    else "put credentials in ~/.netrc or in the index URL (https://USER:PASSWORD@HOST/...)",
                )
            if status not in (200, 206, 416):
                raise FetchError(shown)
            set_read_timeout(response, min(self.settings.stall, timeout))
            yield response, current
        finally:
            if response is not None:
                finish(response)

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
                for chunk in body(
                    response,
                    stall=self.settings.stall,
                    check_deadline=lambda: self._check_deadline(shown),
                ):
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
        url = self._credentials.remember(url)
        name = target.name
        try:
            with locked_part(target) as handle:
                if target.is_file() and (sha := sha256_file(target)) in expected:
                    remove_part(target, handle)  # a concurrent run fetched it meanwhile
                    return sha, target.stat().st_size
                try:
                    if url.startswith("file:"):
                        sha, size = copy_local(url, handle, expected, progress, name)
                    else:
                        sha, size = self._fetch_into(url, Part(handle), expected, progress, name)
                    handle.flush()
                    os.fsync(handle.fileno())
                    os.replace(part_path(target), target)
                except BaseException as exc:
                    interrupted = (KeyboardInterrupt, SystemExit, Cancelled)
                    if isinstance(exc, interrupted) and handle.tell() > 0:
                        raise  # keep the part: the next run resumes it
                    remove_part(target, handle)
                    progress.failed(name)
                    if isinstance(exc, FetchError) and not exc.message.startswith(name):
                        raise FetchError(f"{name}: {exc.message}", tip=exc.tip) from None
                    raise
        except OSError as exc:  # the folder: read-only, full, missing
            progress.failed(name)
            raise FetchError(f"{part_path(target)}: cannot write ({exc.strerror or exc})") from None
        progress.finished(name, size)
        return sha, size

    def _fetch_into(
        self, url: str, part: Part, expected: Collection[str], progress: Progress, name: str
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
                    raise Retryable("HTTP 416 (the partial file is not a prefix); starting over")
                if not (offset and response.status == 206 and range_start(response) == offset):
                    part.restart()  # a full answer (the server ignored Range): start over
                    if response.status != 200:
                        raise Retryable(f"HTTP {response.status} without a usable Content-Range")
                progress.started(name, total(response, part.size), part.size)
                for chunk in body(
                    response,
                    stall=self.settings.stall,
                    check_deadline=lambda: self._check_deadline(what),
                ):
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
