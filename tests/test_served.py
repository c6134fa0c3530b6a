"""The served path as fleets run it: many nodes sync at once from one wheelhouse.

`wheelhouse index` output served by a real index server (pypiserver, from PyPI: it serves a
folder of wheels with its own PEP 503 pages) and by a plain static HTTP server; and a shared,
read-only wheelhouse folder, as a cluster mounts it over NFS. Each scenario runs many syncs at
once, each into a fresh venv with its own uv cache (a fresh node): every sync must install and
verify the lock, and nothing may be written into what they share. Loopback only, bounded in count
(NODES) and time (each process has a deadline); the time per node is printed (`pytest -s`).

16 nodes sync from pypiserver and 16 from the shared folder; the static server gets 4 (the
client path is the one pypiserver's nodes take, and the server is tests/support/index.py's, which
test_sync.py also syncs from). Each sync costs about 0.6 s of CPU (gen-constraints, uv venv, uv
pip sync, the verify probe): the module measured 28 s of CPU with 16/16/8 nodes (2026-12, this
2-core machine), so 16/16/4 is about 25 s of CPU, some 15 s of wall time on CI's 2 cores when
the other worker is idle. 16 nodes outnumber the cores eight to one: the contention this tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.index import serve, write_simple_index
from support.sync_project import scenario_project

from constraints_gen import runner
from constraints_gen.install.wheelhouse import FOLDER_LOCK, HASH_CACHE

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

NODES = 16
DEADLINE = 120  # seconds, for any one process: a hung sync fails the test, it does not hang it
LOCKED = {"peft": "0.13.2", "torch": "2.5.1+cu121", "transformers": "4.51.3"}


def gen(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PIP_INDEX_URL")}
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *map(str, args)],
        cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, check=False,
        timeout=DEADLINE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project (profile demo) and its filled wheelhouse ``wh``, indexed into ``public``."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        fill = gen("wheelhouse", "fill", "--profile", "demo", "--root", "proj", "--wheelhouse",
                   "wh", "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
    assert fill.returncode == 0, fill.stderr
    index = gen("wheelhouse", "index", "public", "--wheelhouse", "wh", cwd=tmp_path)
    assert index.returncode == 0, index.stderr
    return tmp_path


def sync_node(root: Path, node: str, wheelhouse: str) -> tuple[float, dict[str, object], str]:
    """One fresh node: a new venv, its own uv cache, then `sync --json`; (seconds, JSON, stderr)."""
    venv = root / "nodes" / node
    subprocess.run([runner.uv_bin(), "venv", "-q", "--python", sys.executable, venv],
                   check=True, timeout=DEADLINE)  # fmt: skip
    env = {"UV_CACHE_DIR": str(root / "caches" / node)}
    started = time.perf_counter()
    done = gen("sync", "--profile", "demo", "--root", "proj", "--python", venv, "--wheelhouse",
               wheelhouse, "--json", cwd=root, env=env)  # fmt: skip
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"{node}: {done.stderr}"
    return seconds, json.loads(done.stdout), done.stderr


def many_nodes(root: Path, scenario: str, wheelhouse: str, nodes: int = NODES) -> None:
    """``nodes`` syncs at once; each installed the lock and verified it; times printed."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=nodes) as pool:
        names = [f"{scenario}-{n:02d}" for n in range(nodes)]
        results = list(pool.map(lambda node: sync_node(root, node, wheelhouse), names))
    total = time.perf_counter() - started
    for name, (_, payload, stderr) in zip(names, results, strict=True):
        assert payload["applied"] is True and payload["verified"] is True, (name, payload)
        assert payload["findings"] == [] and payload["lacking"] == []
        installed = {c["name"]: c["locked"] for c in payload["changes"]}  # type: ignore[attr-defined]
        assert installed == LOCKED, name
        assert "verified (profile demo" in stderr
    times = sorted(seconds for seconds, _, _ in results)
    each = " ".join(f"{s:.2f}" for s in times)
    print(f"\n{scenario}: {nodes} nodes at once in {total:.1f} s; per node: {each} s")


def snapshot(folder: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``folder``: (mode, size, mtime_ns, sha256 of a file's bytes)."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted([folder, *folder.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        size = info.st_size if path.is_file() else 0
        found[str(path.relative_to(folder))] = (info.st_mode, size, info.st_mtime_ns, digest)
    return found


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """chmod the tree read-only (a root process still writes: the snapshot is the real check)."""
    paths = sorted([folder, *folder.rglob("*")], key=lambda p: len(p.parts), reverse=True)
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path in reversed(paths):
            path.chmod(stat.S_IMODE(modes[path]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def pypiserver(folder: Path, log: Path) -> Iterator[str]:
    """pypiserver serving ``folder`` on loopback, no fallback to PyPI; its simple index URL."""
    port = free_port()
    # As README's "Fleets" serves a wheelhouse index (a console script there, -m here).
    command = [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1",
               "--disable-fallback", str(folder)]  # fmt: skip
    with (
        log.open("w") as sink,
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        ) as process,
    ):
        try:
            started = time.perf_counter()
            while not _healthy(port):
                if process.poll() is not None or time.perf_counter() - started > 20:
                    pytest.fail(f"pypiserver did not start in 20 s: {log.read_text()}")
                time.sleep(0.1)
            print(f"\npypiserver answered after {time.perf_counter() - started:.2f} s")
            yield f"http://127.0.0.1:{port}/simple/"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_many_nodes_sync_from_pypiserver(house: Path) -> None:
    public = house / "public"
    before = snapshot(public)
    with pypiserver(public, house / "pypiserver.log") as url:
        with urllib.request.urlopen(f"{url}torch/", timeout=10) as answer:
            page = answer.read().decode()
        assert "torch-2.5.1+cu121-" in page and "#sha256=" in page  # its pages, not ours
        many_nodes(house, "pypiserver", url)
    assert snapshot(public) == before


def test_many_nodes_sync_from_a_static_http_server(house: Path) -> None:
    public = house / "public"
    before = snapshot(public)
    with serve(public) as url:
        many_nodes(house, "static", f"{url}/simple", nodes=4)
    assert snapshot(public) == before


def test_many_nodes_sync_from_one_read_only_shared_folder(house: Path) -> None:
    """As on NFS: the nodes read the folder; none writes in it (not even the hash cache, which
    is removed first so that a sync would have every reason to write it)."""
    shared = house / "shared"
    shared.mkdir()
    for wheel in (house / "wh").glob("*.whl"):
        (shared / wheel.name).write_bytes(wheel.read_bytes())
    with read_only(shared):
        before = snapshot(shared)
        assert HASH_CACHE not in before and FOLDER_LOCK not in before
        many_nodes(house, "shared", str(shared))
        after = snapshot(shared)
        (shared / HASH_CACHE).write_text("{}")  # the check says no to a write, even as root
        assert snapshot(shared) != before
        (shared / HASH_CACHE).unlink()
    assert after == before
    check = gen("wheelhouse", "check", "--profile", "demo", "--root", "proj", "--wheelhouse",
                shared, cwd=house)  # fmt: skip
    assert check.returncode == 0, check.stdout  # every wheel still the lock's bytes
