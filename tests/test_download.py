"""The download client against a loopback server that stalls, trickles, drops the connection,
answers 429/503, redirects, wants credentials and serves (or ignores) Range requests.

Timeouts here are a fraction of a second, so every test ends in seconds."""

from __future__ import annotations

import hashlib
import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from support.faulty_server import Route, faulty_server
from support.index import write_simple_index
from support.sync_project import gen, scenario_project

from constraints_gen.cli.output import echo_error
from constraints_gen.errors import FetchError
from constraints_gen.install.download import Cancelled, Client
from constraints_gen.install.partfile import remove_stale_parts
from constraints_gen.install.progress import StreamProgress, human_size, plural
from constraints_gen.install.transport import Settings
from constraints_gen.redact import redact, split_credentials

BODY = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(BODY).hexdigest()
NAME = "pkg-1.0-py3-none-any.whl"
FAST = Settings(timeout=2, stall=2, retries=2, backoff=0.01, max_wait=0.2)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def started(self, filename: str, total: int | None, offset: int) -> None:
        self.events.append(("started", (total, offset)))

    def advanced(self, filename: str, amount: int) -> None:
        pass

    def finished(self, filename: str, size: int) -> None:
        self.events.append(("finished", size))

    def failed(self, filename: str) -> None:
        self.events.append(("failed", filename))

    def note(self, message: str) -> None:
        self.events.append(("note", message))

    def notes(self) -> list[str]:
        return [str(value) for kind, value in self.events if kind == "note"]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fetch(
    url: str, folder: Path, settings: Settings = FAST, progress: Recorder | None = None
) -> tuple[str, int]:
    return Client(settings, sources=[url]).download(
        url, folder / NAME, {SHA}, progress=progress or Recorder()
    )


def test_a_plain_download_is_verified_and_renamed(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY)
        progress = Recorder()
        assert fetch(f"{server.url}/f", tmp_path, progress=progress) == (SHA, len(BODY))
    assert (tmp_path / NAME).read_bytes() == BODY
    assert files(tmp_path) == [NAME]
    assert progress.events == [("started", (len(BODY), 0)), ("finished", len(BODY))]


def test_503_and_429_are_retried_and_retry_after_is_capped(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, failures=[(503, {}), (429, {"Retry-After": "3600"})])
        progress = Recorder()
        assert fetch(f"{server.url}/f", tmp_path, progress=progress)[0] == SHA
    notes = progress.notes()
    assert notes[0].startswith(f"{NAME}: download from {server.url}/f: HTTP 503 Service")
    assert notes[1] == (
        f"{NAME}: download from {server.url}/f: HTTP 429 Too Many Requests; retrying in 0.2 s"
    )


def test_retries_run_out_with_a_clear_error_and_no_part_left(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, failures=[(503, {})] * 5)
        progress = Recorder()
        with pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/f", tmp_path, progress=progress)
    assert caught.value.message == (
        f"{NAME}: download from {server.url}/f: HTTP 503 Service Unavailable (after 3 attempts)"
    )
    assert files(tmp_path) == []
    assert progress.events[-1] == ("failed", NAME)


def test_a_dropped_connection_resumes_with_range(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, drops=2, cut_at=3000)
        progress = Recorder()
        assert fetch(f"{server.url}/f", tmp_path, progress=progress) == (SHA, len(BODY))
        ranges = [seen.headers.get("range") for seen in server.seen]
    assert ranges == [None, "bytes=3000-", "bytes=6000-"]
    assert [e for e in progress.events if e[0] == "started"] == [
        ("started", (len(BODY), 0)),
        ("started", (len(BODY), 3000)),
        ("started", (len(BODY), 6000)),
    ]
    assert files(tmp_path) == [NAME]


def test_a_part_left_by_a_killed_run_is_resumed(tmp_path: Path) -> None:
    (tmp_path / f".{NAME}.part").write_bytes(BODY[:5000])
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY)
        assert fetch(f"{server.url}/f", tmp_path) == (SHA, len(BODY))
        assert server.seen[0].headers["range"] == "bytes=5000-"
    assert files(tmp_path) == [NAME]


def test_a_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / f".{NAME}.part").write_bytes(BODY[:5000])
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, ranges=False)
        assert fetch(f"{server.url}/f", tmp_path) == (SHA, len(BODY))
    assert (tmp_path / NAME).read_bytes() == BODY


def test_a_stale_part_of_other_bytes_is_caught_by_the_hash_and_fetched_again(
    tmp_path: Path,
) -> None:
    (tmp_path / f".{NAME}.part").write_bytes(b"x" * 5000)  # not a prefix of the file
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY)
        progress = Recorder()
        assert fetch(f"{server.url}/f", tmp_path, progress=progress) == (SHA, len(BODY))
        assert [seen.headers.get("range") for seen in server.seen] == ["bytes=5000-", None]
    assert progress.notes() == [
        f"{NAME}: the resumed file does not match the lock; downloading again"
    ]
    assert (tmp_path / NAME).read_bytes() == BODY


def test_a_complete_part_answered_416_is_kept(tmp_path: Path) -> None:
    (tmp_path / f".{NAME}.part").write_bytes(BODY)
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY)
        assert fetch(f"{server.url}/f", tmp_path) == (SHA, len(BODY))
    assert files(tmp_path) == [NAME]


def test_a_hash_mismatch_discards_the_file(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY + b"!")
        with pytest.raises(FetchError, match=f"^{NAME}: hash mismatch, file discarded"):
            fetch(f"{server.url}/f", tmp_path)
    assert files(tmp_path) == []


def test_a_stalled_download_is_retried_then_fails(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, stall_after=100)
        settings = Settings(timeout=2, stall=0.3, retries=1, backoff=0.01)
        progress = Recorder()
        with pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/f", tmp_path, settings, progress)
        assert [seen.headers.get("range") for seen in server.seen] == [None, "bytes=100-"]
    assert caught.value.message == (
        f"{NAME}: download from {server.url}/f: stalled: no data for 0.3 s (after 2 attempts)"
    )
    assert files(tmp_path) == []


@pytest.mark.parametrize("what", ["page", "file"])
def test_a_body_that_ends_with_the_connection_is_bounded_by_the_stall_rule(
    tmp_path: Path, what: str
) -> None:
    """Headers, 10 bytes, then silence, on an answer without Content-Length: http.client drops
    the connection's socket for such an answer, and the stall timeout was not applied to the
    one the body is read from: each attempt waited the 20 s read timeout (here 40 s)."""
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, stall_after=10, length=False)
        settings = Settings(timeout=20, stall=0.5, retries=1, backoff=0.01)
        client = Client(settings)
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            if what == "page":
                client.get_page(f"{server.url}/f", accept="text/html", limit=1 << 20)
            else:
                client.download(f"{server.url}/f", tmp_path / NAME, {SHA})
        elapsed = time.monotonic() - started
    assert caught.value.message.endswith(": stalled: no data for 0.5 s (after 2 attempts)")
    assert elapsed < 10, elapsed
    assert files(tmp_path) == []


def test_a_trickling_server_counts_as_stalled(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, trickle=0.02)
        settings = Settings(timeout=2, stall=0.3, retries=0)
        with pytest.raises(FetchError, match=r": stalled: \d+ bytes in \d+\.\d s$"):
            fetch(f"{server.url}/f", tmp_path, settings)
    assert files(tmp_path) == []


def test_the_deadline_ends_a_slow_download(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, trickle=0.02)
        settings = Settings(timeout=2, stall=60, retries=3, deadline=0.4)
        with pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/f", tmp_path, settings)
    assert caught.value.message == (
        f"{NAME}: download from {server.url}/f: the deadline of 0.4 s for all downloads passed"
    )
    assert caught.value.tip == ("allow more time: --deadline SECONDS or $GEN_CONSTRAINTS_DEADLINE")
    assert files(tmp_path) == []


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(silent=True)
        settings = Settings(timeout=0.3, stall=5, retries=0)
        with pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/f", tmp_path, settings)
    assert caught.value.message == f"{NAME}: download from {server.url}/f: no answer within 0.3 s"


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with faulty_server() as server:
        url = f"{server.url}/f"
    progress = Recorder()  # the server is gone: its port refuses
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path, FAST, progress)
    assert caught.value.message == (
        f"{NAME}: download from {url}: cannot connect ([Errno 111] Connection refused)"
        " (after 3 attempts)"
    )
    assert len(progress.notes()) == 2


def test_credentials_from_the_url_are_sent_and_never_shown(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, credentials="me:s3cret")
        base = server.url.replace("http://", "http://me:s3cret@")
        assert fetch(f"{base}/f", tmp_path)[0] == SHA
        bad = server.url.replace("http://", "http://me:wrong@")
        with pytest.raises(FetchError) as caught:
            Client(FAST).download(f"{bad}/f", tmp_path / "other.whl", {SHA})
    assert caught.value.message == (f"other.whl: {server.url}/f: HTTP 401 Unauthorized")
    assert "s3cret" not in str(caught.value) and "wrong" not in str(caught.value)
    assert caught.value.tip == "the credentials for this host were refused"


def test_credentials_from_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login me password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh2").mkdir()
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, credentials="me:s3cret")
        assert fetch(f"{server.url}/f", tmp_path / "wh")[0] == SHA
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with faulty_server() as server, pytest.raises(FetchError) as caught:
        server.routes["/f"] = Route(body=BODY, credentials="me:s3cret")
        fetch(f"{server.url}/f", tmp_path / "wh2")
    assert caught.value.tip == (
        "put credentials in ~/.netrc or in the index URL (https://USER:PASSWORD@HOST/...)"
    )


def test_redirects_stay_on_the_host_or_go_to_a_configured_one(tmp_path: Path) -> None:
    with faulty_server() as server, faulty_server("localhost") as other:
        other.routes["/f"] = Route(body=BODY)
        server.routes["/same"] = Route(location="/f")
        server.routes["/f"] = Route(body=BODY, credentials="me:pw")
        server.routes["/away"] = Route(location=f"{other.url}/f")
        server.routes["/local"] = Route(location="file:///etc/passwd")
        base = server.url.replace("http://", "http://me:pw@")
        assert fetch(f"{base}/same", tmp_path)[0] == SHA
        with pytest.raises(FetchError) as caught:
            Client(FAST, sources=[base]).download(f"{base}/away", tmp_path / "b.whl", {SHA})
        assert caught.value.message == (
            f"b.whl: {server.url}/away: refused a redirect"
            " to another host (localhost), which is not one of the configured indexes or"
            f" find-links: {other.url}/f"
        )
        with pytest.raises(FetchError, match="refused a redirect to a file URL: file:///etc/"):
            Client(FAST, sources=[base]).download(f"{base}/local", tmp_path / "c.whl", {SHA})
        trusted = Client(FAST, sources=[base, other.url])
        assert trusted.download(f"{base}/away", tmp_path / "d.whl", {SHA})[0] == SHA
        assert "authorization" not in other.seen[0].headers  # credentials stay on their host
    assert files(tmp_path) == ["d.whl", NAME]


@pytest.mark.parametrize(
    ("source", "target", "pinned", "refused"),
    [("https://idx.example/f", "https://idx.example/g", False, None),
     ("https://idx.example/f", "https://s3.example/g", False,
      "a redirect to another host (s3.example), which is not one of the configured indexes or"
      " find-links"),
     ("https://idx.example/f", "https://s3.example/g", True, None),
     ("https://idx.example/f", "https://mirror.example/g", False, None),
     ("http://idx.example/f", "http://s3.example/g", True,
      "a redirect to another host (s3.example), which is not one of the configured indexes or"
      " find-links"),
     ("https://idx.example/f", "http://idx.example/g", True, "a redirect from https to http"),
     ("https://idx.example/f", "file:///etc/passwd", True, "a redirect to a file URL")],
)  # fmt: skip
def test_the_redirect_rule(source: str, target: str, pinned: bool, refused: str | None) -> None:
    client = Client(FAST, sources=["https://idx.example/simple", "https://mirror.example/s"])
    assert client._credentials.refused_redirect(source, target, pinned=pinned) == refused


def test_two_runs_fetching_one_file_share_it(tmp_path: Path) -> None:
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, trickle=None)
        results: list[object] = []

        def run() -> None:
            try:
                results.append(fetch(f"{server.url}/f", tmp_path))
            except Exception as exc:  # pragma: no cover - reported by the assert below
                results.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert results == [(SHA, len(BODY))] * 4
    assert files(tmp_path) == [NAME]


def test_an_interrupted_download_keeps_its_part_for_the_next_run(tmp_path: Path) -> None:
    class Interrupt(Recorder):
        def advanced(self, filename: str, amount: int) -> None:
            raise KeyboardInterrupt

    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY)
        with pytest.raises(KeyboardInterrupt):
            fetch(f"{server.url}/f", tmp_path, progress=Interrupt())
        assert files(tmp_path) == [f".{NAME}.part"]
        assert fetch(f"{server.url}/f", tmp_path)[0] == SHA
        assert server.seen[-1].headers["range"].startswith("bytes=")
    assert files(tmp_path) == [NAME]


def test_cancel_stops_a_download_and_keeps_its_part(tmp_path: Path) -> None:
    class CancelOnData(Recorder):
        def advanced(self, filename: str, amount: int) -> None:
            client.cancel()  # as fill does from the main thread on Ctrl-C

    client = Client(Settings(timeout=2, stall=30, retries=0))
    with faulty_server() as server:
        server.routes["/f"] = Route(body=BODY, trickle=0.01)
        with pytest.raises(Cancelled):
            client.download(f"{server.url}/f", tmp_path / NAME, {SHA}, progress=CancelOnData())
    assert files(tmp_path) == [f".{NAME}.part"]


def test_stale_parts_are_removed_unless_another_run_holds_them(tmp_path: Path) -> None:
    (tmp_path / ".a.whl.part").write_bytes(b"a")
    (tmp_path / ".b.whl.part").write_bytes(b"b")
    assert remove_stale_parts(tmp_path, keep={"b.whl"}) == [".a.whl.part"]
    assert files(tmp_path) == [".b.whl.part"]


def test_an_unwritable_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FetchError) as caught:
        Client(FAST).download("http://127.0.0.1:9/f", tmp_path / "none" / NAME, {SHA})
    assert caught.value.message == (
        f"{tmp_path / 'none' / ('.' + NAME + '.part')}: cannot write (No such file or directory)"
    )


def test_local_files_are_copied_and_checked(tmp_path: Path) -> None:
    source = tmp_path / "src.whl"
    source.write_bytes(BODY)
    (tmp_path / "wh").mkdir()
    got = Client(FAST).download(source.as_uri(), tmp_path / "wh" / NAME, {SHA})
    assert got == (SHA, len(BODY))
    with pytest.raises(FetchError, match="hash mismatch"):
        Client(FAST).download(source.as_uri(), tmp_path / "wh" / "x.whl", {"00" * 32})
    assert files(tmp_path / "wh") == [NAME]


def test_url_credentials_belong_to_one_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETRC", "/nonexistent")
    client = Client(FAST, sources=["https://u:p@h.example/simple"])
    assert "Authorization" in client._credentials.headers("https://h.example:443/files/x.whl", {})
    for other in ("http://h.example/x", "https://h.example:8443/x", "https://cdn.example/x"):
        assert "Authorization" not in client._credentials.headers(other, {})


@pytest.mark.parametrize(
    ("url", "shown", "clean"),
    [
        ("https://u:p@h.example/simple", "https://u:****@h.example/simple",
         "https://h.example/simple"),
        ("https://tok@h.example:8443/s", "https://****@h.example:8443/s",
         "https://h.example:8443/s"),
        ("https://h.example/simple", "https://h.example/simple", "https://h.example/simple"),
    ],
)  # fmt: skip
def test_redact_and_split(url: str, shown: str, clean: str) -> None:
    assert redact(url) == shown
    assert split_credentials(url)[0] == clean


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GEN_CONSTRAINTS_HTTP_TIMEOUT": "abc"},
         "$GEN_CONSTRAINTS_HTTP_TIMEOUT='abc': expected a positive number of seconds"),
        ({"GEN_CONSTRAINTS_STALL_TIMEOUT": "0"},
         "$GEN_CONSTRAINTS_STALL_TIMEOUT='0': expected a positive number of seconds"),
        ({"GEN_CONSTRAINTS_HTTP_RETRIES": "-1"},
         "$GEN_CONSTRAINTS_HTTP_RETRIES='-1': expected a positive number (0 or more)"),
        ({"GEN_CONSTRAINTS_DEADLINE": "nan"},
         "$GEN_CONSTRAINTS_DEADLINE='nan': expected a positive number of seconds"),
    ],
)  # fmt: skip
def test_settings_from_the_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(FetchError.__mro__[1], match="^" + re.escape(message) + "$"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("timeout", float("nan"), "--timeout: expected a finite number above 0, got nan"),
     ("deadline", float("inf"), "--deadline: expected a finite number above 0, got inf"),
     ("stall", 0.0, "--stall-timeout: expected a finite number above 0, got 0.0"),
     ("retries", -1, "--retries: expected 0 or more, got -1")],
)  # fmt: skip
def test_settings_refuse_values_no_deadline_can_use(field: str, value: float, message: str) -> None:
    with pytest.raises(FetchError.__mro__[1], match="^" + re.escape(message) + "$"):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_settings_from_the_environment_apply() -> None:
    env = {"GEN_CONSTRAINTS_HTTP_TIMEOUT": "5", "GEN_CONSTRAINTS_HTTP_RETRIES": "0"}
    assert Settings.from_env(env) == Settings(timeout=5.0, retries=0)


def test_sizes_and_counts_for_people() -> None:
    assert [human_size(n) for n in (0, 1, 999, 1000, 3_175_740_435, 10**13)] == [
        "0 bytes", "1 byte", "999 bytes", "1.0 kB", "3.2 GB", "10.0 TB",
    ]  # fmt: skip
    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]


def test_progress_lines_off_a_terminal() -> None:
    out = io.StringIO()
    progress = StreamProgress(out, live=False)
    progress.started(NAME, 2000, 1000)
    progress.advanced(NAME, 1000)
    progress.note("x: HTTP 503; retrying in 0.5 s")
    progress.finished(NAME, 2000)
    lines = out.getvalue().splitlines()
    assert lines[:2] == [f"resuming {NAME} at 1.0 kB of 2.0 kB", "x: HTTP 503; retrying in 0.5 s"]
    assert lines[2].startswith(f"fetched {NAME} (2.0 kB, ")
    assert "\r" not in out.getvalue()


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    progress = StreamProgress(out, live=True)
    progress.started(NAME, 2000, 0)
    progress.finished(NAME, 2000)
    progress.close()
    text = out.getvalue()
    assert text.startswith("\r\x1b[K0 files done, 1 downloading: 0 bytes of 2.0 kB, ")
    assert f"\r\x1b[Kfetched {NAME} (2.0 kB, " in text


FILL = ("wheelhouse", "fill", "--profile", "demo", "--root", "proj", "--wheelhouse", "wh")


def served_scenario(tmp_path: Path) -> Path:
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    return tmp_path / "index"


def torch_route(index: Path, **faults: object) -> tuple[str, Route]:
    wheel = next((index / "files").glob("torch-*.whl"))
    return f"/files/{wheel.name}", Route(body=wheel.read_bytes(), **faults)  # type: ignore[arg-type]


def test_fill_retries_resumes_and_reports_one_line_per_file(tmp_path: Path) -> None:
    index = served_scenario(tmp_path)
    path, route = torch_route(index, failures=[(503, {"Retry-After": "0"})], drops=1, cut_at=100)
    with faulty_server(root=index) as server:
        server.routes[path] = route
        done = gen(*FILL, "--index-url", f"{server.url}/simple", "--retries", "2", cwd=tmp_path)
        ranges = [s.headers.get("range") for s in server.seen if s.path == path]
    assert done.returncode == 0, done.stderr
    assert ranges == [None, None, "bytes=100-"]
    lines = done.stderr.splitlines()
    where = f"{path.rsplit('/', 1)[1]}: download from {server.url}{path}"
    assert f"{where}: HTTP 503 Service Unavailable; retrying in 0.0 s" in lines
    assert any(line.startswith(f"{where}: connection lost") for line in lines)
    assert sum(line.startswith("fetched ") for line in lines) == 3
    assert lines[-1].startswith("wheelhouse wh: fetched 3 files (")
    assert not [p.name for p in (tmp_path / "wh").iterdir() if p.name.endswith(".part")]


def test_fill_stops_at_the_deadline_and_leaves_no_part(tmp_path: Path) -> None:
    index = served_scenario(tmp_path)
    path, route = torch_route(index, trickle=0.05)
    with faulty_server(root=index) as server:
        server.routes[path] = route
        done = gen(*FILL, "--index-url", f"{server.url}/simple", "--deadline", "0.5", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "the deadline of 0.5 s for all downloads passed" in done.stderr
    assert not [p for p in (tmp_path / "wh").iterdir() if p.name.endswith(".part")]


def test_fill_ends_when_a_page_and_a_file_stall_without_a_length(tmp_path: Path) -> None:
    """``--stall-timeout 3 --retries 1`` against headers, 10 bytes, then nothing (no
    Content-Length) ends in about 2 x 3 s, a page's read as a file's (before: no end in 60 s)."""
    index = served_scenario(tmp_path)
    path, route = torch_route(index, stall_after=10, length=False)
    page = (index / "simple" / "transformers" / "index.html").read_bytes()
    with faulty_server(root=index) as server:
        server.routes[path] = route
        server.routes["/simple/transformers/"] = Route(
            body=page, content_type="text/html", stall_after=10, length=False
        )
        started = time.monotonic()
        done = gen(*FILL, "--index-url", f"{server.url}/simple", "--stall-timeout", "3",
                   "--retries", "1", cwd=tmp_path)  # fmt: skip
        elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{server.url}/simple/transformers/: stalled: no data for 3 s (after 2 attempts)" in (
        done.stderr
    )
    assert f"download from {server.url}{path}: stalled: no data for 3 s" in done.stderr
    assert elapsed < 40, elapsed  # 2 attempts x 3 s each, on a loaded machine
    assert not [p for p in (tmp_path / "wh").iterdir() if p.name.endswith(".part")]


def test_fill_with_credentials_in_the_index_url_never_prints_them(tmp_path: Path) -> None:
    index = served_scenario(tmp_path)
    with faulty_server(root=index) as server:
        for project in ("torch", "transformers", "peft"):
            page = (index / "simple" / project / "index.html").read_bytes()
            server.routes[f"/simple/{project}/"] = Route(
                body=page, content_type="text/html", credentials="me:s3cret"
            )
        secret = server.url.replace("http://", "http://me:s3cret@") + "/simple"
        done = gen(*FILL, "--index-url", secret, cwd=tmp_path)
        wrong = gen(*FILL, "--index-url", secret.replace("s3cret", "nope"), "--wheelhouse",
                    "wh2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert wrong.returncode == 1
    assert f"{server.url}/simple/torch/: HTTP 401 Unauthorized" in wrong.stderr
    for run in (done, wrong):
        assert "s3cret" not in run.stderr + run.stdout and "nope" not in run.stderr


def test_fill_interrupted_by_ctrl_c_resumes_on_the_next_run(tmp_path: Path) -> None:
    index = served_scenario(tmp_path)
    path, route = torch_route(index, trickle=0.01)
    part = tmp_path / "wh" / f".{path.rsplit('/', 1)[1]}.part"
    with faulty_server(root=index) as server:
        server.routes[path] = route
        args = [
            sys.executable,
            "-m",
            "constraints_gen",
            *FILL,
            "--index-url",
            f"{server.url}/simple",
        ]
        run = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        for _ in range(1000):  # until some bytes are in (10 s at most)
            if (part.is_file() and part.stat().st_size > 10) or run.poll() is not None:
                break
            time.sleep(0.01)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=30)
        assert run.returncode == 130, stderr
        kept = part.stat().st_size
        assert kept > 10
        route.trickle = None
        done = gen(*FILL, "--index-url", f"{server.url}/simple", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert [s.headers.get("range") for s in server.seen if s.path == path][-1] == (
            f"bytes={kept}-"
        )
    assert not part.exists()


@contextmanager
def raw_server(answer: bytes, *, gap: float = 0.0, until: float = 6.0) -> Iterator[str]:
    """A loopback server that sends ``answer`` to every request, one line per ``gap`` seconds,
    for at most ``until`` seconds; its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def answer_one(conn: socket.socket) -> None:
        with conn, suppress(OSError):
            conn.recv(65536)
            ends = time.monotonic() + until
            for line in answer.splitlines(keepends=True):
                if stop.is_set() or time.monotonic() > ends:
                    return
                conn.sendall(line)
                stop.wait(gap)

    def serve() -> None:
        while not stop.is_set():
            with suppress(OSError):
                conn, _ = listener.accept()
                threading.Thread(target=answer_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.mark.parametrize("kind", ["page", "file"])
def test_headers_that_trickle_are_bounded_as_a_whole(tmp_path: Path, kind: str) -> None:
    """A header line every 0.2 s: each wait is short, so only a bound on the whole head ends it
    (was: the request lasted as long as the server kept sending, with a 200 and no body)."""
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: 1\r\n" * 99 + b"\r\n"
    settings = Settings(timeout=0.8, stall=0.8, retries=1, backoff=0.01, max_wait=0.1)
    with raw_server(head, gap=0.2) as base:
        client = Client(settings, sources=[base])
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            if kind == "page":
                client.get_page(f"{base}/simple/", accept="text/html", limit=1 << 20)
            else:
                client.download(f"{base}/f", tmp_path / NAME, {SHA})
        took = time.monotonic() - started
    assert caught.value.message.endswith("no answer within 0.8 s (after 2 attempts)")
    assert took < 4, took
    assert files(tmp_path) == []


def test_a_redirect_to_a_url_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    """Location: http://[::1/x was a ValueError traceback from urljoin."""
    answer = b"HTTP/1.1 302 Found\r\nLocation: http://[::1/x\r\nContent-Length: 0\r\n\r\n"
    with raw_server(answer) as base, pytest.raises(FetchError) as caught:
        Client(FAST, sources=[base]).download(f"{base}/f", tmp_path / NAME, {SHA})
    assert caught.value.message == (
        f"{NAME}: {base}/f: refused a redirect to a URL that cannot be read: http://[::1/x"
    )
    assert files(tmp_path) == []


def test_a_servers_control_characters_reach_the_terminal_shown_not_obeyed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HTTP reason phrase is the server's text: "\\r\\x1b[2K" in it erased the ERROR line on a
    terminal and printed a forged success line in its place."""
    forged = b"Nope\r\x1b[2Kgen-constraints: all 3 wheels fetched\x07\x9b"
    answer = b"HTTP/1.1 404 " + forged + b"\r\nContent-Length: 0\r\n\r\n"
    with raw_server(answer) as base, pytest.raises(FetchError) as caught:
        Client(FAST, sources=[base]).get_page(f"{base}/simple/", accept="text/html", limit=1 << 10)
    echo_error(caught.value)
    err = capsys.readouterr().err
    assert err == (
        f"ERROR: {base}/simple/: HTTP 404 Nope\\x0d\\x1b[2Kgen-constraints: all 3 wheels"
        " fetched\\x07\\x9b\n"
    ), err


def test_a_retry_note_quoting_the_server_is_masked_and_shown_not_obeyed(tmp_path: Path) -> None:
    """The progress lines are written to stderr by StreamProgress itself: a 503's reason phrase
    reached the terminal raw (and a credentialed URL in a note unmasked)."""
    out = io.StringIO()
    answer = b"HTTP/1.1 503 Busy\r\x1b[2Kall fetched\r\nContent-Length: 0\r\n\r\n"
    settings = Settings(timeout=2, stall=2, retries=1, backoff=0.01, max_wait=0.05)
    with raw_server(answer) as base, pytest.raises(FetchError):
        Client(settings, sources=[base]).download(
            f"{base}/f", tmp_path / NAME, {SHA}, progress=StreamProgress(out, live=False)
        )
    note = out.getvalue().splitlines()[0]
    assert note.startswith(
        f"{NAME}: download from {base}/f: HTTP 503 Busy\\x0d\\x1b[2Kall fetched;"
    )
    progress = StreamProgress(out, live=False)
    progress.note("http://me:S3cr@127.0.0.1:9/simple: HTTP 503")
    assert out.getvalue().splitlines()[-1] == "http://me:****@127.0.0.1:9/simple: HTTP 503"
