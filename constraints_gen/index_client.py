"""Find a project's files on package indexes and link pages, and download them with hash checks.

An index is read with the PEP 691 JSON simple API (``Accept: application/vnd.pypi.simple.v1+json``)
and falls back to PEP 503 HTML when the server sends HTML (static indexes do). A find-links source
is a local folder of wheels or one HTML page of links. stdlib only (urllib).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from constraints_gen import __version__
from constraints_gen.errors import ConstraintsGenError

PYPI = "https://pypi.org/simple"
INDEX_ENV = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 60
_CHUNK = 1 << 20


class FetchError(ConstraintsGenError):
    """An index could not be read, or a file did not download as the lock says."""

    exit_code = 1


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


def _is_url(location: str) -> bool:
    return "://" in location


def _open(url: str) -> tuple[bytes, str]:
    request = urllib.request.Request(
        url, headers={"Accept": _ACCEPT, "User-Agent": f"constraints-gen/{__version__}"}
    )
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        return response.read(), str(response.headers.get("Content-Type", ""))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def parse_page(body: bytes, content_type: str, base: str) -> list[RemoteFile]:
    """The files a simple-API page (JSON or HTML) or a link page lists, with absolute URLs."""
    if content_type.split(";")[0].strip() == _JSON:
        data = json.loads(body)
        return [
            RemoteFile(
                filename=str(item["filename"]),
                url=urllib.parse.urljoin(base, str(item["url"])),
                sha256=(item.get("hashes") or {}).get("sha256"),
            )
            for item in data.get("files", [])
        ]
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    files = []
    for href in parser.hrefs:
        url, _, fragment = urllib.parse.urljoin(base, href).partition("#")
        filename = urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1])
        algo, _, digest = fragment.partition("=")
        files.append(
            RemoteFile(filename=filename, url=url, sha256=digest if algo == "sha256" else None)
        )
    return files


def list_files(source: Source, project: str) -> list[RemoteFile]:
    """Every file ``source`` offers for ``project`` (canonical name); [] when it has none."""
    location = source.location
    if source.kind == "links" and not _is_url(location):
        folder = Path(location)
        return [
            RemoteFile(filename=path.name, url=path.resolve().as_uri(), sha256=None)
            for path in sorted(folder.glob("*.whl"))
        ]
    if not _is_url(location):  # a static index on disk
        page = Path(location) / project / "index.html"
        if not page.is_file():
            return []
        return parse_page(page.read_bytes(), "text/html", page.resolve().as_uri())
    url = location if source.kind == "links" else f"{location.rstrip('/')}/{project}/"
    try:
        body, content_type = _open(url)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url}: cannot read ({reason})") from None
    return parse_page(body, content_type, url)


def download(remote: RemoteFile, folder: Path, expected: Collection[str]) -> tuple[Path, str, int]:
    """Stream ``remote`` into ``folder`` (as ``.<name>.part``) while hashing it; keep it only when
    its sha256 is one of ``expected`` (hex). Returns (path, sha256, size)."""
    part = folder / f".{remote.filename}.part"
    target = folder / remote.filename
    digest = hashlib.sha256()
    size = 0
    try:
        request = urllib.request.Request(
            remote.url, headers={"User-Agent": f"constraints-gen/{__version__}"}
        )
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response, part.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"{remote.filename}: download from {remote.url} failed ({reason})"
        ) from None
    got = digest.hexdigest()
    if got not in expected:
        part.unlink(missing_ok=True)
        want = ", ".join(f"sha256:{h}" for h in sorted(expected))
        raise FetchError(
            f"{remote.filename}: hash mismatch, file discarded: expected {want} (from the lock),"
            f" got sha256:{got} (downloaded from {remote.url})"
        )
    os.replace(part, target)
    return target, got, size
