"""A PEP 503 simple repository on disk, and a loopback HTTP server for it."""

from __future__ import annotations

import email.parser
import functools
import html
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .wheels import normalize, sha256_of

__all__ = ["serve", "write_simple_index"]

_PAGE = (
    '<!DOCTYPE html>\n<html>\n<head><meta name="pypi:repository-version" content="1.0">'
    "<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
)


def _wheel_metadata(wheel: Path) -> tuple[str, str | None]:
    """Return (project name, Requires-Python or None) from a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(
            n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        msg = email.parser.Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    name = msg["Name"]
    if not name:
        raise ValueError(f"{wheel}: METADATA has no Name")
    requires_python = msg["Requires-Python"]
    return str(name), (str(requires_python) if requires_python else None)


def write_simple_index(wheels: Iterable[Path], root: Path) -> Path:
    """Copy ``wheels`` into ``root/files`` and write a PEP 503 index at ``root/simple``."""
    files_dir = root / "files"
    simple = root / "simple"
    files_dir.mkdir(parents=True, exist_ok=True)
    simple.mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[str]] = {}
    for wheel in wheels:
        target = files_dir / wheel.name
        if wheel.resolve() != target.resolve():
            shutil.copyfile(wheel, target)
        name, requires_python = _wheel_metadata(target)
        href = html.escape(f"../../files/{target.name}#sha256={sha256_of(target)}")
        attrs = f'href="{href}"'
        if requires_python is not None:
            attrs += f' data-requires-python="{html.escape(requires_python)}"'
        anchor = f"<a {attrs}>{html.escape(target.name)}</a><br>\n"
        projects.setdefault(normalize(name), []).append(anchor)
    for project, anchors in sorted(projects.items()):
        page = simple / project
        page.mkdir(exist_ok=True)
        body = "".join(sorted(anchors))
        title = f"Links for {html.escape(project)}"
        (page / "index.html").write_text(_PAGE.format(title=title, body=body), encoding="utf-8")
    root_body = "".join(
        f'<a href="{html.escape(p)}/">{html.escape(p)}</a><br>\n' for p in sorted(projects)
    )
    (simple / "index.html").write_text(
        _PAGE.format(title="Simple index", body=root_body), encoding="utf-8"
    )
    return simple


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (ephemeral port); yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="simple-index", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
