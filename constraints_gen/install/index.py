"""Find a project's files on package indexes and link pages, and download them with hash checks.

An index is read with the PEP 691 JSON simple API (``Accept: application/vnd.pypi.simple.v1+json``)
and falls back to PEP 503 HTML when the server sends HTML (static indexes do). A find-links source
is a local folder of wheels or one HTML page of links. HTTP goes through
:class:`constraints_gen.install.download.Client` (retries, deadlines, credentials, redirect rules).

A page is untrusted input: it is parsed with a size limit, every entry is checked (a JSON page's
shape, key by key; each file name must be a plain file name, no path separators or ``..`` once
percent-decoded, since it names the file written into the wheelhouse), and a remote page may link
only to http(s) URLs, never to ``file:`` ones. Any violation is an error naming the page and the
entry. pypi-simple 1.8 parses the same pages but was not taken: it brings beautifulsoup4, pydantic
and requests (304 ms to import), takes 20.5 s for a page of 100,000 links where this parser takes
6.9 s (one run on a loaded 2-core machine; the stdlib HTMLParser alone is about 1 s of it), names
a file by its link text and keeps ``file:`` links, so the checks below would still be ours.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from constraints_gen.errors import FetchError as FetchError
from constraints_gen.errors import NotFound, PageError
from constraints_gen.install.download import Client
from constraints_gen.install.progress import SILENT, Progress
from constraints_gen.profiles.config import local_folder
from constraints_gen.redact import redact

__all__ = ["FetchError", "RemoteFile", "Source", "default_index", "download", "list_files"]

PYPI = "https://pypi.org/simple"
INDEX_ENV = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_JSON = "application/vnd.pypi.simple.v1+json"
MAX_PAGE = 64_000_000  # bytes; PyPI's largest project pages are a few MB
_SEPARATORS = ("/", "\\", "\0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    location: str  # an index URL, a link-page URL, or a folder
    kind: str  # "index" or "links"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFile:
    filename: str
    url: str
    sha256: str | None  # hex, as the source states it (None when it does not)


def default_index() -> str:
    """The index uv and pip would use: $UV_DEFAULT_INDEX, $UV_INDEX_URL, $PIP_INDEX_URL, PyPI."""
    return next((os.environ[n] for n in INDEX_ENV if os.environ.get(n)), PYPI)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _plain_filename(name: str) -> bool:
    """A file name that stays inside the folder it is written to."""
    return (
        bool(name)
        and name not in (".", "..")
        and not any(sep in name for sep in _SEPARATORS)
        and name.isprintable()
    )


def _file(
    base: str, where: Callable[[], str], filename: str, url: str, sha256: str | None
) -> RemoteFile:
    if not _plain_filename(filename):
        raise PageError(
            f"{redact(base)}: {where()}: file name {filename!r} is not a plain file name"
        )
    scheme = url.partition(":")[0].lower()
    allowed = ("http", "https", "file") if base.startswith("file:") else ("http", "https")
    if scheme not in allowed:
        raise PageError(
            f"{redact(base)}: {where()}: link {redact(url)!r} is not an {' or '.join(allowed)} URL"
        )
    return RemoteFile(filename=filename, url=url, sha256=sha256)


def _json_files(data: Any, base: str) -> list[RemoteFile]:
    page = redact(base)
    if not isinstance(data, dict):
        raise PageError(f"{page}: a PEP 691 page must be a JSON object, got {type(data).__name__}")
    items = data.get("files", [])
    if not isinstance(items, list):
        raise PageError(f"{page}: files: expected a list, got {type(items).__name__}")
    files = []
    for number, item in enumerate(items):
        where = f"files[{number}]"
        if not isinstance(item, dict):
            raise PageError(f"{page}: {where}: expected an object, got {type(item).__name__}")
        for key in ("filename", "url"):
            if not isinstance(item.get(key), str):
                got = "nothing" if key not in item else type(item[key]).__name__
                raise PageError(f"{page}: {where}.{key}: expected a string, got {got}")
        hashes = item.get("hashes", {})
        if not isinstance(hashes, dict):
            raise PageError(
                f"{page}: {where}.hashes: expected an object of algorithm: digest,"
                f" got {type(hashes).__name__}"
            )
        sha256 = hashes.get("sha256")
        if sha256 is not None and not isinstance(sha256, str):
            raise PageError(f"{page}: {where}.hashes.sha256: expected a string")
        url = urllib.parse.urljoin(base, item["url"])
        files.append(_file(base, functools.partial(str, where), item["filename"], url, sha256))
    return files


def _link(number: int, href: str) -> str:
    return f"link {number + 1} ({href[:80]!r})"


def parse_page(body: bytes, content_type: str, base: str) -> list[RemoteFile]:
    """The files a simple-API page (JSON or HTML) or a link page lists, with absolute URLs.

    Raises :class:`PageError` naming ``base`` and the entry for a page that breaks the rules."""
    if content_type.split(";")[0].strip().lower() == _JSON:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise PageError(f"{redact(base)}: not valid PEP 691 JSON ({exc})") from None
        return _json_files(data, base)
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    files = []
    for number, href in enumerate(parser.hrefs):
        url, _, fragment = urllib.parse.urljoin(base, href.strip()).partition("#")
        segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
        if not segment:  # a folder (a directory listing's "../", "sub/"): no file
            continue
        filename = urllib.parse.unquote(segment)
        algo, _, digest = fragment.partition("=")
        where = functools.partial(_link, number, href)
        files.append(_file(base, where, filename, url, digest if algo == "sha256" else None))
    return files


def list_files(
    source: Source, project: str, client: Client | None = None, progress: Progress = SILENT
) -> list[RemoteFile]:
    """Every file ``source`` offers for ``project`` (canonical name); [] when it has none."""
    location = source.location
    folder = local_folder(location)
    if source.kind == "links" and folder is not None:
        return [
            RemoteFile(filename=path.name, url=path.resolve().as_uri(), sha256=None)
            for path in sorted(folder.glob("*.whl"))
        ]
    if folder is not None:  # a static index on disk
        path = folder / project / "index.html"
        if not path.is_file():
            return []
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise FetchError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return parse_page(body, "text/html", path.resolve().as_uri())
    client = client or Client(sources=[location])
    url = location if source.kind == "links" else f"{location.rstrip('/')}/{project}/"
    try:
        page = client.get_page(url, accept=_ACCEPT, limit=MAX_PAGE, progress=progress)
    except NotFound:
        return []
    return parse_page(page.body, page.content_type, page.url)


def download(
    remote: RemoteFile,
    folder: Path,
    expected: Collection[str],
    client: Client | None = None,
    progress: Progress = SILENT,
) -> tuple[Path, str, int]:
    """Fetch ``remote`` into ``folder`` (as ``.<name>.part``, resumed when present) while hashing
    it; keep it only when its sha256 is one of ``expected`` (hex). Returns (path, sha256, size)."""
    if not _plain_filename(remote.filename):
        raise FetchError(f"{remote.filename!r}: not a plain file name")
    target = folder / remote.filename
    client = client or Client()
    sha, size = client.download(remote.url, target, expected, progress=progress)
    return target, sha, size
