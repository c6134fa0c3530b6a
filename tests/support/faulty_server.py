"""A loopback HTTP server that misbehaves on request: it stalls, trickles, drops the connection,
answers 429/503 (with Retry-After), redirects, asks for credentials, and serves Range requests
(or ignores them). Every request is logged with its headers for the tests to inspect."""

from __future__ import annotations

import base64
import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FaultyServer", "Route", "faulty_server"]


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answered first
    drops: int = 0  # how many answers send ``cut_at`` bytes of the body, then close
    cut_at: int = 0
    stall_after: int | None = None  # send this many bytes, then go silent (until shutdown)
    silent: bool = False  # accept the request, never answer
    trickle: float | None = None  # seconds between single bytes
    ranges: bool = True  # answer Range requests with 206 (else ignore them: 200, whole body)
    location: str | None = None  # answer 302 to this URL
    credentials: str | None = None  # "user:password" required (Basic), else 401
    length: bool = True  # send Content-Length (else the body ends with the connection)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class FaultyServer:
    def __init__(self, host: str = "127.0.0.1", root: Path | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.root = root  # files served as they are for paths without a route
        self.credentials: str | None = None  # "user:password" the files under root require
        self.seen: list[Seen] = []
        self.closing = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                path = self.path.split("?")[0]
                route = server.routes.get(path) or server.file_route(path)
                if route is None:
                    return self._answer(404, b"not found", {})
                if route.silent:
                    server.closing.wait(30)
                    return None
                if route.credentials is not None:
                    token = base64.b64encode(route.credentials.encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        return self._answer(401, b"who are you", {"WWW-Authenticate": "Basic"})
                if route.location is not None:
                    return self._answer(302, b"", {"Location": route.location})
                if route.failures:
                    status, headers = route.failures.pop(0)
                    return self._answer(status, b"try later", headers)
                self._body(route)
                return None

            def do_HEAD(self) -> None:  # uv asks before a range read of a wheel's metadata
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self, route: Route) -> None:
                body, start = route.body, 0
                wanted = self.headers.get("Range", "")
                if route.ranges and wanted.startswith("bytes=") and wanted.endswith("-"):
                    start = int(wanted[6:-1])
                    if start >= len(body):
                        return self._answer(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                if route.length:
                    self.send_header("Content-Length", str(len(body) - start))
                else:  # the body ends when the connection does (http.client drops conn.sock)
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                rest = body[start:]
                if route.drops:
                    route.drops -= 1
                    self.wfile.write(rest[: route.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                if route.stall_after is not None:
                    self.wfile.write(rest[: route.stall_after])
                    self.wfile.flush()
                    server.closing.wait(30)
                    self.close_connection = True
                    return None
                if route.trickle is not None:
                    for i in range(len(rest)):
                        if server.closing.wait(route.trickle):
                            break
                        self.wfile.write(rest[i : i + 1])
                        self.wfile.flush()
                    self.close_connection = True
                    return None
                self.wfile.write(rest)
                return None

        self.handler = Handler
        self.host = host
        self.url = ""

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def file_route(self, path: str) -> Route | None:
        if self.root is None:
            return None
        file = self.root / urllib.parse.unquote(path).lstrip("/")
        if file.is_dir():
            file = file / "index.html"
        if not file.is_file() or self.root.resolve() not in file.resolve().parents:
            return None
        kind = "text/html" if file.suffix == ".html" else "application/octet-stream"
        return Route(body=file.read_bytes(), content_type=kind, credentials=self.credentials)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a stalled or trickled answer: expected here


@contextmanager
def faulty_server(host: str = "127.0.0.1", root: Path | None = None) -> Iterator[FaultyServer]:
    """Start a :class:`FaultyServer` on ``host`` (an ephemeral port), serving the files under
    ``root`` where no route is set; its base URL is ``.url``."""
    state = FaultyServer(host, root)
    server = _Server((host, 0), state.handler)
    thread = threading.Thread(target=server.serve_forever, name="faulty-server", daemon=True)
    thread.start()
    state.url = f"http://{host}:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
