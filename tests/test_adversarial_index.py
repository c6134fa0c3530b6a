"""Package indexes that answer badly: each case is one line (what the page says, what the error
must say). Pages are served on loopback; the same checks guard `wheelhouse fill` and
`sync --wheelhouse URL`, which both read pages through install.index.list_files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.faulty_server import Route, faulty_server
from support.sync_project import gen, scenario_project

from constraints_gen import runner
from constraints_gen.install.download import Client
from constraints_gen.install.index import FetchError, RemoteFile, Source, list_files
from constraints_gen.install.transport import Settings

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"
WHL = "pkg-1.0-py3-none-any.whl"
SHA = "ab" * 32
FAST = Settings(timeout=2, stall=2, retries=0)


def entry(**fields: object) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "files": [fields]}).encode()


BAD_PAGES = [
    (JSON, b"{not json", "not valid PEP 691 JSON (Expecting property name enclosed in double"
     " quotes: line 1 column 2 (char 1))"),
    (JSON, b"[]", "a PEP 691 page must be a JSON object, got list"),
    (JSON, b'{"files": {}}', "files: expected a list, got dict"),
    (JSON, b'{"files": [1]}', "files[0]: expected an object, got int"),
    (JSON, entry(filename=WHL), "files[0].url: expected a string, got nothing"),
    (JSON, entry(url="/f"), "files[0].filename: expected a string, got nothing"),
    (JSON, entry(filename=WHL, url=7), "files[0].url: expected a string, got int"),
    (JSON, entry(filename=WHL, url="/f", hashes=["sha256", SHA]),
     "files[0].hashes: expected an object of algorithm: digest, got list"),
    (JSON, entry(filename=WHL, url="/f", hashes={"sha256": 5}),
     "files[0].hashes.sha256: expected a string"),
    (JSON, entry(filename=f"../../{WHL}", url="/f"),
     f"files[0]: file name '../../{WHL}' is not a plain file name"),
    (JSON, entry(filename="..", url="/f"), "files[0]: file name '..' is not a plain file name"),
    (JSON, entry(filename=WHL, url="file:///etc/passwd"),
     "files[0]: link 'file:///etc/passwd' is not an http or https URL"),
    (JSON, b"[" * 100_000 + b"]" * 100_000, "not valid PEP 691 JSON (maximum recursion depth"
     " exceeded while decoding a JSON array from a unicode string)"),
    (HTML, b'<a href="/f/..%2F..%2Fpkg-1.0-py3-none-any.whl">x</a>',
     "link 1 ('/f/..%2F..%2Fpkg-1.0-py3-none-any.whl'): file name '../../pkg-1.0-py3-none-any.whl'"
     " is not a plain file name"),
    (HTML, b'<a href="x%5C..%5Cpkg.whl">x</a>',
     "link 1 ('x%5C..%5Cpkg.whl'): file name 'x\\\\..\\\\pkg.whl' is not a plain file name"),
    (HTML, b'<a href="%2E%2E">x</a>', "link 1 ('%2E%2E'): file name '..' is not a plain file name"),
    (HTML, b'<a href="pkg%00.whl">x</a>',
     "link 1 ('pkg%00.whl'): file name 'pkg\\x00.whl' is not a plain file name"),
    (HTML, b'<a href="file:///etc/passwd">x</a>',
     "link 1 ('file:///etc/passwd'): link 'file:///etc/passwd' is not an http or https URL"),
    (HTML, b'<a href="javascript:alert(1)">x</a>',
     "link 1 ('javascript:alert(1)'): link 'javascript:alert(1)' is not an http or https URL"),
]  # fmt: skip


@pytest.mark.parametrize(("content_type", "body", "message"), BAD_PAGES)
def test_a_bad_page_is_an_error_naming_it(content_type: str, body: bytes, message: str) -> None:
    with faulty_server() as server:
        server.routes["/simple/pkg/"] = Route(body=body, content_type=content_type)
        source = Source(location=f"{server.url}/simple", kind="index")
        with pytest.raises(FetchError) as caught:
            list_files(source, "pkg", Client(FAST))
    assert caught.value.message == f"{server.url}/simple/pkg/: {message}"
    assert caught.value.exit_code == 1


def test_a_page_of_100000_links_is_read() -> None:
    links = b"".join(b'<a href="/f/pkg-1.%d-py3-none-any.whl#sha256=%s">x</a>\n'
                     % (n, SHA.encode()) for n in range(100_000))  # fmt: skip
    with faulty_server() as server:
        server.routes["/simple/pkg/"] = Route(body=links, content_type=HTML)
        source = Source(location=f"{server.url}/simple", kind="index")
        files = list_files(source, "pkg", Client(FAST))
    assert len(files) == 100_000
    assert files[-1] == RemoteFile(
        filename="pkg-1.99999-py3-none-any.whl", url=f"{server.url}/f/pkg-1.99999-py3-none-any.whl",
        sha256=SHA,
    )  # fmt: skip


def test_folder_links_in_a_directory_listing_are_not_files() -> None:
    body = b'<a href="../">up</a><a href="sub/">sub</a><a href="pkg-1.0-py3-none-any.whl">w</a>'
    with faulty_server() as server:
        server.routes["/links/"] = Route(body=body, content_type=HTML)
        source = Source(location=f"{server.url}/links/", kind="links")
        files = list_files(source, "pkg", Client(FAST))
    assert [f.filename for f in files] == [WHL]


def test_a_local_page_may_link_to_local_files(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    wheel = tmp_path / WHL
    (tmp_path / "pkg" / "index.html").write_text(f'<a href="{wheel.as_uri()}">w</a>')
    files = list_files(Source(location=str(tmp_path), kind="index"), "pkg")
    assert files == [RemoteFile(filename=WHL, url=wheel.as_uri(), sha256=None)]


def test_a_redirect_to_another_host_is_refused() -> None:
    with faulty_server() as server, faulty_server("localhost") as other:
        other.routes["/simple/pkg/"] = Route(body=b"", content_type=HTML)
        server.routes["/simple/pkg/"] = Route(location=f"{other.url}/simple/pkg/")
        source = Source(location=f"{server.url}/simple", kind="index")
        with pytest.raises(FetchError) as caught:
            list_files(source, "pkg", Client(FAST, sources=[source.location]))
        assert caught.value.message == (
            f"{server.url}/simple/pkg/: refused a redirect to another host (localhost), which is"
            f" not one of the configured indexes or find-links: {other.url}/simple/pkg/"
        )
        assert other.seen == []
        both = Client(FAST, sources=[source.location, other.url])
        assert list_files(source, "pkg", both) == []


def test_a_page_with_credentials_never_shows_them() -> None:
    with faulty_server() as server:
        server.routes["/simple/pkg/"] = Route(body=b"[]", content_type=JSON, credentials="u:pw")
        location = server.url.replace("http://", "http://u:pw@") + "/simple"
        with pytest.raises(FetchError) as caught:
            list_files(Source(location=location, kind="index"), "pkg", Client(FAST))
    assert caught.value.message == (
        f"{server.url}/simple/pkg/: a PEP 691 page must be a JSON object, got list"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [(b"[]", JSON, "a PEP 691 page must be a JSON object, got list"),
     (b'<a href="..%2F..%2Fx.whl">x</a>', HTML, "is not a plain file name")],
)  # fmt: skip
def test_fill_and_sync_report_a_bad_index_without_a_traceback(
    tmp_path: Path, body: bytes, content_type: str, message: str
) -> None:
    scenario_project(tmp_path)
    venv = [runner.uv_bin(), "venv", "-q", "--python", sys.executable, str(tmp_path / "venv")]
    subprocess.run(venv, check=True)
    with faulty_server() as server:
        for project in ("torch", "transformers", "peft"):
            server.routes[f"/simple/{project}/"] = Route(body=body, content_type=content_type)
        index = f"{server.url}/simple"
        fill = gen("wheelhouse", "fill", "--profile", "demo", "--root", "proj", "--wheelhouse",
                   "wh", "--index-url", index, "--retries", "0", cwd=tmp_path)  # fmt: skip
        sync = gen("sync", "--profile", "demo", "--root", "proj", "--wheelhouse", index,
                   "--python", "venv", cwd=tmp_path)  # fmt: skip
    for done in (fill, sync):
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "ERROR: " in done.stderr
        assert re.search(rf"{re.escape(index)}/(torch|transformers|peft)/: ", done.stderr)
        assert message in done.stderr
        assert ":pw@" not in done.stderr
    assert (
        not (tmp_path / "wh").exists()
        or [p.name for p in (tmp_path / "wh").iterdir() if p.suffix in (".whl", ".part")] == []
    )
