"""Hostile wheelhouse folders and faults: `wheelhouse check|prune|fill` touch only wheels, never
end in a traceback, and leave no file lost or partial. A new case is one line in a table below.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.index import write_simple_index
from support.sync_project import CP, PY, gen, scenario_project
from support.wheels import sha256_of

from constraints_gen import caches
from constraints_gen.caches import cache_dir
from constraints_gen.install.wheelhouse import FOLDER_LOCK, HASH_CACHE, HashCache, prune

COMMON = ("--profile", "demo", "--root", "proj", "--wheelhouse", "wh")
TORCH = f"torch-2.5.1+cu121-{CP}-{CP}-manylinux_2_28_x86_64.whl"
LOCKED = ["peft-0.13.2-py3-none-any.whl", TORCH, "transformers-4.51.3-py3-none-any.whl"]
STALE = "transformers-4.57.3-py3-none-any.whl"


def snapshot(folder: Path, *, own: bool = True) -> dict[str, object]:
    """Everything under ``folder``: each file's bytes, each folder, each link's target (without
    the tool's own hash cache and lock file unless ``own``)."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if not own and path.name in (HASH_CACHE, FOLDER_LOCK):
            continue
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = path.read_bytes()
    return found


def house(tmp_path: Path, *extra: str) -> Path:
    """The scenario project and a wheelhouse ``wh`` holding its locked wheels and ``extra``."""
    _, wheels = scenario_project(tmp_path)
    folder = tmp_path / "wh"
    folder.mkdir()
    for name in (*LOCKED, *extra):
        shutil.copy(wheels / name, folder)
    return folder


def no_bug(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr and "BUG" not in done.stderr, done.stderr


# -- entries that are not wheels: (name, how to make it, why check ignores it) ---------------------


def text_file(path: Path) -> None:
    path.write_text("my notes, not a wheel\n")


def folder_with_file(path: Path) -> None:
    path.mkdir()
    (path / "keep.txt").write_text("keep me\n")


def dangling_link(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere")


NOT_WHEELS: list[tuple[str, Callable[[Path], None], str]] = [
    ("notes.whl", text_file, "not a wheel file name"),
    (".whl", text_file, "not a wheel file name"),
    ("my notes.whl", text_file, "not a wheel file name"),
    ("x.whl", folder_with_file, "not a regular file"),
    ("extra-1.0-py3-none-any.whl", folder_with_file, "not a regular file"),
    ("gone.whl", dangling_link, "not a regular file"),
    ("transformers-4.57.3-py3-none-any.whl", folder_with_file, "not a regular file"),
]


@pytest.mark.parametrize(("name", "make", "reason"), NOT_WHEELS, ids=[c[0] for c in NOT_WHEELS])
def test_what_is_not_a_wheel_is_listed_and_never_touched(
    tmp_path: Path, name: str, make: Callable[[Path], None], reason: str
) -> None:
    folder = house(tmp_path)
    make(folder / name)
    check = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    no_bug(check)
    assert check.returncode == 0, check.stderr  # the folder is exactly what the lock needs
    assert check.stdout.endswith(f"ignored: {name} ({reason})\n")
    before = snapshot(folder, own=False)
    for args in (("--dry-run",), ()):
        done = gen("wheelhouse", "prune", *args, *COMMON, cwd=tmp_path)
        no_bug(done)
        assert (done.returncode, done.stdout) == (0, ""), done.stderr
        assert snapshot(folder, own=False) == before


# -- locks that cannot be read: prune deletes nothing ----------------------------------------------


def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "proj" / "generated" / "demo" / f"py{PY}.lock.txt"


def non_utf8_lock(tmp_path: Path) -> tuple[str, ...]:
    path = lock_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"transformers", b"transf\xffrmers", 1))
    return ()


def lock_is_a_folder(tmp_path: Path) -> tuple[str, ...]:
    lock_path(tmp_path).unlink()
    lock_path(tmp_path).mkdir()
    return ()


def one_python_unlocked(tmp_path: Path) -> tuple[str, ...]:
    return ("--python", PY, "--python", "3.99")  # the first lock reads; the second is missing


BAD_LOCKS: list[tuple[Callable[[Path], tuple[str, ...]], str]] = [
    (non_utf8_lock, "it is not UTF-8"),
    (lock_is_a_folder, "cannot read it"),
    (one_python_unlocked, "profile demo has no lock for CPython 3.99"),
]


@pytest.mark.parametrize(("spoil", "message"), BAD_LOCKS, ids=[c[0].__name__ for c in BAD_LOCKS])
def test_prune_with_an_unreadable_lock_deletes_nothing(
    tmp_path: Path, spoil: Callable[[Path], tuple[str, ...]], message: str
) -> None:
    folder = house(tmp_path, STALE, "extra-1.0-py3-none-any.whl")
    args = spoil(tmp_path)
    before = snapshot(folder)
    for command in ("prune", "check"):
        done = gen("wheelhouse", command, *COMMON, *args, cwd=tmp_path)
        no_bug(done)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert message in done.stderr
        assert snapshot(folder) == before


def test_prune_dry_run_writes_nothing(tmp_path: Path) -> None:
    folder = house(tmp_path, STALE)
    before = snapshot(folder)
    assert HASH_CACHE not in before
    done = gen("wheelhouse", "prune", "--dry-run", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{STALE}\n")
    assert done.stderr == "wheelhouse wh: would remove 1 wheels\n"
    assert snapshot(folder) == before  # not even the hash cache


def test_prune_lists_each_removal_and_a_failure_leaves_the_rest_consistent(tmp_path: Path) -> None:
    folder = house(tmp_path, STALE)
    time.sleep(0.1)  # a file written within the clock's resolution is not remembered
    cache = HashCache(folder)
    cache.sha256(STALE)  # a cache entry for a file about to go
    cache.save()
    assert list(HashCache(folder).entries) == [STALE]
    (folder / "zz-1.0-py3-none-any.whl").mkdir()  # turned into a folder after the check
    done = prune(folder, [STALE, "zz-1.0-py3-none-any.whl"], dry_run=False)
    assert done.removed == (STALE,)
    assert done.failed == (f"{folder / 'zz-1.0-py3-none-any.whl'}: not a regular file",)
    assert (folder / "zz-1.0-py3-none-any.whl").is_dir()
    assert sorted(p.name for p in folder.glob("*.whl") if p.is_file()) == LOCKED
    assert not HashCache(folder).entries  # the cache names only what is left


# -- the hash cache is best-effort -----------------------------------------------------------------


def cache_is_a_file(folder: Path) -> None:
    cache_dir().mkdir(mode=0o700, exist_ok=True)
    (cache_dir() / "hashes").write_text("not a folder")


def read_only_folder(folder: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    folder.chmod(0o555)


UNWRITABLE: list[Callable[[Path], None]] = [cache_is_a_file, read_only_folder]


@pytest.mark.parametrize("spoil", UNWRITABLE, ids=[f.__name__ for f in UNWRITABLE])
def test_check_of_a_folder_it_cannot_write_warns_and_checks(
    tmp_path: Path, spoil: Callable[[Path], None]
) -> None:
    folder = house(tmp_path)
    spoil(folder)
    try:
        done = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    finally:
        folder.chmod(0o755)
    no_bug(done)
    assert done.returncode == 0
    assert done.stdout.startswith(f"profile demo, CPython {PY} (x86_64-manylinux_2_28): exact,")
    if spoil is cache_is_a_file:  # said once: every wheel is read
        assert done.stderr.count(f"warning: {cache_dir() / 'hashes'}: not used as a cache") == 1
    assert sorted(p.name for p in folder.glob("*.whl")) == LOCKED


# -- two fills into one folder ---------------------------------------------------------------------


class _SlowHandler(http.server.SimpleHTTPRequestHandler):
    """Serves each wheel in two halves with a pause, so that concurrent downloads overlap."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        if not self.path.endswith(".whl"):
            return super().copyfile(source, outputfile)
        data = source.read()
        outputfile.write(data[: len(data) // 2])
        outputfile.flush()
        time.sleep(0.3)
        outputfile.write(data[len(data) // 2 :])


@contextmanager
def serve_slowly(directory: Path) -> Iterator[str]:
    handler = functools.partial(_SlowHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_concurrent_fills_into_one_folder_are_safe(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    with serve_slowly(tmp_path / "index") as url:
        fill = [sys.executable, "-m", "constraints_gen", "wheelhouse", "fill", *COMMON,
                "--index-url", f"{url}/simple"]  # fmt: skip
        pipe = subprocess.PIPE
        runs = [
            subprocess.Popen(fill, cwd=tmp_path, env=env, stdout=pipe, stderr=pipe, text=True)
            for _ in range(4)
        ]
        try:
            results = [(run.communicate(timeout=120), run.returncode) for run in runs]
        finally:
            for run in runs:
                run.kill()
    for (_, stderr), code in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
    fetched = sum(stderr.count("fetched ") - 1 for (_, stderr), _ in results)
    assert fetched == len(LOCKED)  # each file once: the later runs found it in place
    folder = tmp_path / "wh"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*LOCKED, FOLDER_LOCK])
    check = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    assert check.returncode == 0, check.stdout  # every file whole: hashes match the lock


# -- files others read get the umask's permissions -------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_index_pages_get_the_umask_permissions(tmp_path: Path, umask: int, mode: int) -> None:
    _, wheels = scenario_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    command = (
        f'umask {umask:03o} && exec "$0" -m constraints_gen wheelhouse index out --wheelhouse "$1"'
    )
    done = subprocess.run(
        ["sh", "-c", command, sys.executable, str(wheels)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = sorted((tmp_path / "out" / "simple").rglob("index.html"))
    assert len(pages) == 5  # the root page and 4 projects
    assert {oct(page.stat().st_mode & 0o777) for page in pages} == {oct(mode)}


# -- `wheelhouse index` into a folder that is in the way -------------------------------------------


def simple_is_a_file(out: Path) -> str:
    out.mkdir()
    (out / "simple").write_text("not a folder\n")
    return f"ERROR: {out / 'simple'}"


def a_page_folder_is_a_file(out: Path) -> str:
    (out / "simple").mkdir(parents=True)
    (out / "simple" / "peft").write_text("not a folder\n")
    return f"ERROR: {out / 'simple' / 'peft'}"


IN_THE_WAY: list[Callable[[Path], str]] = [simple_is_a_file, a_page_folder_is_a_file]


@pytest.mark.parametrize("spoil", IN_THE_WAY, ids=[f.__name__ for f in IN_THE_WAY])
def test_index_into_a_folder_in_the_way_is_an_error(
    tmp_path: Path, spoil: Callable[[Path], str]
) -> None:
    folder = house(tmp_path)
    expected = spoil(tmp_path / "out")
    before = snapshot(folder, own=False)
    done = gen("wheelhouse", "index", tmp_path / "out", "--wheelhouse", "wh", cwd=tmp_path)
    no_bug(done)
    assert done.returncode == 2
    assert done.stderr.startswith(expected), done.stderr
    assert snapshot(folder, own=False) == before
    assert not list((tmp_path / "out").rglob(".*.tmp"))  # nothing partial left


def test_index_elsewhere_replaces_a_stale_copy_of_the_same_size(tmp_path: Path) -> None:
    folder = house(tmp_path)
    stale = tmp_path / "out" / LOCKED[0]
    stale.parent.mkdir()
    stale.write_bytes(bytes(len((folder / LOCKED[0]).read_bytes())))  # same size, other bytes
    done = gen("wheelhouse", "index", "out", "--wheelhouse", "wh", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stale.read_bytes() == (folder / LOCKED[0]).read_bytes()  # what the page's hash says


# -- the hash cache saves reading, never a check (issue 16) ----------------------------------------


def tamper_in_place(path: Path) -> None:
    """Other bytes, the same size, the mtime put back: only the ctime tells."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    time.sleep(0.02)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def page_sha256(out: Path, project: str, filename: str) -> str:
    page = (out / "simple" / project / "index.html").read_text()
    return page.split(f"{filename}#sha256=", 1)[1].split('"', 1)[0]


#: A command that must not vouch for a wheel changed in place: (name, argv, check its outcome)
def _check(tmp_path: Path) -> None:
    done = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    no_bug(done)
    assert done.returncode == 1, done.stdout
    assert f"corrupt: {TORCH} (sha256:{sha256_of(tmp_path / 'wh' / TORCH)} is not" in done.stdout


def _index(tmp_path: Path) -> None:
    done = gen("wheelhouse", "index", "--wheelhouse", "wh", "wh", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    served = tmp_path / "wh" / TORCH
    assert page_sha256(tmp_path / "wh", "torch", TORCH) == sha256_of(served)  # the bytes served
    done = gen("wheelhouse", "index", "--wheelhouse", "wh", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert page_sha256(tmp_path / "out", "torch", TORCH) == sha256_of(tmp_path / "out" / TORCH)


def _fill(tmp_path: Path) -> None:
    done = gen("wheelhouse", "fill", *COMMON, "--no-index", "--find-links", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"fetched {TORCH}" in done.stderr  # not kept: fetched again
    assert sha256_of(tmp_path / "wh" / TORCH) == sha256_of(tmp_path / "wheels" / TORCH)


VOUCHERS: list[Callable[[Path], None]] = [_check, _index, _fill]


@pytest.mark.parametrize("command", VOUCHERS, ids=["check", "index", "fill"])
def test_a_wheel_changed_in_place_with_size_and_mtime_restored_is_read_again(
    tmp_path: Path, command: Callable[[Path], None]
) -> None:
    folder = house(tmp_path)
    time.sleep(0.1)  # older than the clock's resolution: its hash is remembered
    assert gen("wheelhouse", "check", *COMMON, cwd=tmp_path).returncode == 0
    again = gen("wheelhouse", "check", *COMMON, "--json", cwd=tmp_path)
    assert '"hashed": 0' in again.stdout  # every hash from the cache
    tamper_in_place(folder / TORCH)
    command(tmp_path)


def forge_folder_cache(folder: Path, locked: str) -> None:
    """The cache file earlier versions read from the folder, naming the locked hash."""
    stat = (folder / TORCH).stat()
    files = {TORCH: [stat.st_size, stat.st_mtime_ns, locked]}
    (folder / HASH_CACHE).write_text(json.dumps({"version": 1, "files": files}))


def forge_user_cache(folder: Path, locked: str) -> None:
    """The user cache's entry rewritten: the file's identity now, with the locked hash."""
    from constraints_gen.install.wheelhouse import HASHES

    key = HashCache(folder).key
    root = caches.trusted_dir("hashes")
    assert root is not None
    path = HASHES._file(root, caches.canonical(key))
    entry = json.loads(path.read_text())
    stat = (folder / TORCH).stat()
    identity = [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
    entry["value"][TORCH] = {"identity": identity, "sha256": locked}
    path.write_text(json.dumps(entry))


FORGERS: list[Callable[[Path, str], None]] = [forge_folder_cache, forge_user_cache]


@pytest.mark.parametrize("command", VOUCHERS, ids=["check", "index", "fill"])
@pytest.mark.parametrize("forge", FORGERS, ids=[f.__name__ for f in FORGERS])
def test_a_forged_hash_cache_is_not_believed(
    tmp_path: Path, command: Callable[[Path], None], forge: Callable[[Path, str], None]
) -> None:
    folder = house(tmp_path)
    locked = sha256_of(folder / TORCH)
    time.sleep(0.1)
    assert gen("wheelhouse", "check", *COMMON, cwd=tmp_path).returncode == 0
    tamper_in_place(folder / TORCH)
    time.sleep(0.1)
    forge(folder, locked)
    command(tmp_path)


def test_a_copy_in_the_index_folder_with_the_sources_size_and_mtime_is_replaced(
    tmp_path: Path,
) -> None:
    folder = house(tmp_path)
    out = tmp_path / "out"
    assert gen("wheelhouse", "index", "--wheelhouse", "wh", "out", cwd=tmp_path).returncode == 0
    served = out / TORCH
    served.unlink()  # a copy, not a link to the source
    shutil.copy2(folder / TORCH, served)
    tamper_in_place(served)
    done = gen("wheelhouse", "index", "--wheelhouse", "wh", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert served.read_bytes() == (folder / TORCH).read_bytes()
    assert page_sha256(out, "torch", TORCH) == sha256_of(served)
