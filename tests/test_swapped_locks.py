"""Every reader checks what a lock says it is for (issue 16, section 3).

A profile for two platforms is locked with the real uv (offline, tiny pure-Python wheels); then
its x86_64 pair is replaced by its aarch64 pair: both files intact, bodies matching their
digests, one fingerprint, but their headers name another platform. Every command that reads the
pair (emit, env, lock --check, sync, sync --check, wheelhouse check/fill, verify) must refuse it
as it refuses an edited body (exit 2, naming the file), committed or locked on demand, and never
print the aarch64 pins on x86_64 with a "stale" warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.lock_project import PYTHON, edit, gen, make_project

from constraints_gen import runner
from constraints_gen.uvplatforms import platform_matches

pytestmark = pytest.mark.skipif(
    not platform_matches("x86_64-manylinux_2_28"), reason="reads this Linux x86_64 machine's pair"
)

X86, ARM = "x86_64-manylinux_2_28", "aarch64-manylinux_2_28"
PLATFORMS = [ARM, X86]  # the first is what an explicit --python reads: x86_64 is this machine's


def _two_platforms(root: Path, profile: str) -> None:
    path = root / "profiles" / f"{profile}.toml"
    edit(path, f'platform = "{X86}"', f"platforms = {json.dumps(PLATFORMS)}")
    with path.open("a", encoding="utf-8") as handle:  # each platform its own pins
        handle.write(f'\n[platform.{ARM}.pins]\ntinylib = "1.1"\n')


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("swapped") / "proj")
    _two_platforms(root, "gamma")
    edit(root / "profiles" / "gamma.toml", 'torch = "2.0.0"', 'torch = "2.0.0"\ntinylib = "1.0"')
    done = gen("lock", "gamma", "--root", root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "proj"
    shutil.copytree(pristine, copy)
    target = copy / "target"
    subprocess.run([runner.uv_bin(), "venv", "-q", str(target)], check=True, capture_output=True)
    house = copy / "wh"
    house.mkdir()
    for wheel in (copy / "wheels").glob("*.whl"):
        shutil.copy(wheel, house)
    return copy


def _swap(folder: Path) -> Path:
    """The x86_64 pair under ``folder`` replaced by the aarch64 pair; returns the x86_64 lock."""
    for kind in ("lock", "constraints"):
        name = f"py{PYTHON}.{kind}.txt"
        shutil.copyfile(folder / ARM / name, folder / X86 / name)
    return folder / X86 / f"py{PYTHON}.lock.txt"


def _env(root: Path) -> list[str | Path]:
    return ["--root", root, "--profile", "gamma", "--python", root / "target"]


#: (id, argv after `gen-constraints` given the project root)
READERS: list[tuple[str, Callable[[Path], list[str | Path]]]] = [
    ("emit", lambda root: ["--root", root, "--profile", "gamma"]),
    ("emit-hardware", lambda root: ["--root", root, "--hardware", root / "cpu.json"]),
    ("env", lambda root: ["env", "--root", root, "--profile", "gamma"]),
    ("lock-check", lambda root: ["lock", "--check", "--root", root, "gamma"]),
    ("sync-check", lambda root: ["sync", "--check", *_env(root), "--wheelhouse", root / "wh"]),
    ("sync", lambda root: ["sync", *_env(root), "--wheelhouse", root / "wh"]),
    ("verify", lambda root: ["verify", *_env(root)]),
    ("wheelhouse-check", lambda root: ["wheelhouse", "check", "--root", root, "--profile",
                                       "gamma", "--wheelhouse", root / "wh"]),
    ("wheelhouse-fill", lambda root: ["wheelhouse", "fill", "--root", root, "--profile", "gamma",
                                      "--wheelhouse", root / "wh", "--no-index"]),
]  # fmt: skip


def _only_gamma(root: Path) -> None:
    """gamma the only profile that fits a CPU machine (for emit --hardware)."""
    for name in ("alpha", "beta"):
        (root / "profiles" / f"{name}.toml").unlink()
    cpu: dict[str, object] = {"driver_version": None, "cuda_driver_version": None, "gpus": []}
    (root / "cpu.json").write_text(json.dumps(cpu), encoding="utf-8")


@pytest.mark.parametrize(("reader", "argv"), READERS, ids=[r[0] for r in READERS])
def test_every_reader_refuses_a_pair_swapped_in_from_another_platform(
    root: Path, reader: str, argv: Callable[[Path], list[str | Path]]
) -> None:
    _only_gamma(root)
    intact = gen(*argv(root))
    assert "refused" not in intact.stderr and intact.returncode in (0, 1), intact.stderr
    if reader.startswith("emit"):
        assert intact.returncode == 0 and "tinylib==1.0" in intact.stdout
        assert gen(*argv(root)).stdout == intact.stdout  # served from the answer cache
    lock = _swap(root / "generated" / "gamma")
    done = gen(*argv(root))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith(
        f"ERROR: {lock}: its header is for profile gamma, CPython {PYTHON}, {ARM}, and it was"
        f" read as the file of profile gamma, CPython {PYTHON}, {X86} (copied or swapped from"
        " another target); it is generated, never edited, so it is refused\n"
    ), done.stderr
    assert "stale" not in done.stderr and "Traceback" not in done.stderr


def test_an_on_demand_pair_swapped_in_from_another_platform_is_refused(root: Path) -> None:
    (root / "profiles" / "delta.toml").write_text(
        'name = "delta"\nextends = "gamma"\n\n[target]\ncommit_lock = false\n', encoding="utf-8"
    )
    for args in (["--python", PYTHON], []):  # aarch64's (the first platform), then this machine's
        made = gen("--root", root, "--profile", "delta", *args)
        assert made.returncode == 0, made.stderr
    from constraints_gen.caches import cache_dir

    folders = {}
    for lock in (cache_dir() / "locks" / "delta").glob(f"*/py{PYTHON}.lock.txt"):
        platform = lock.read_text(encoding="utf-8").split("\n", 1)[0].split(", ")[-1]
        folders[platform.removesuffix(". Do not edit.")] = lock.parent
    assert sorted(folders) == sorted(PLATFORMS)
    for kind in ("lock", "constraints"):
        name = f"py{PYTHON}.{kind}.txt"
        shutil.copyfile(folders[ARM] / name, folders[X86] / name)
    done = gen("--root", root, "--profile", "delta")
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    swapped = folders[X86] / f"py{PYTHON}.lock.txt"
    assert f"ERROR: {swapped}: its header is for profile delta" in done.stderr
    assert f"{ARM}, and it was read as the file of profile delta, CPython {PYTHON}, {X86}" in (
        done.stderr
    )


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")
def test_on_demand_locks_in_a_cache_others_can_write_are_neither_read_nor_made_there(
    root: Path,
) -> None:
    from constraints_gen.caches import cache_dir

    (root / "profiles" / "delta.toml").write_text(
        'name = "delta"\nextends = "gamma"\n\n[target]\ncommit_lock = false\n', encoding="utf-8"
    )
    made = gen("--root", root, "--profile", "delta")
    assert made.returncode == 0, made.stderr
    assert f"locking it into {cache_dir() / 'locks' / 'delta'}" in made.stderr
    (lock,) = (cache_dir() / "locks" / "delta").glob(f"*/py{PYTHON}.lock.txt")
    before = sorted(p.name for p in lock.parent.iterdir())
    cache_dir().chmod(0o777)  # a shared XDG_CACHE_HOME: whoever can write it could swap locks
    done = gen("--root", root, "--profile", "delta")
    assert (done.returncode, done.stdout) == (0, made.stdout), done.stderr
    assert done.stderr.count(f"warning: {cache_dir()}: not used as a cache: group or others") == 1
    assert "locking it into " in done.stderr  # locked again, for this run, elsewhere
    assert f"locking it into {cache_dir()}" not in done.stderr
    assert sorted(p.name for p in lock.parent.iterdir()) == before  # nothing made there


def test_lock_replaces_a_swapped_pair_without_keeping_its_versions(root: Path) -> None:
    lock = _swap(root / "generated" / "gamma")
    done = gen("lock", "gamma", "--root", root)
    assert done.returncode == 0, done.stderr
    text = lock.read_text(encoding="utf-8")
    assert text.split("\n", 1)[0].endswith(f"CPython {PYTHON}, {X86}. Do not edit.")
    assert "\ntinylib==1.0 " in text  # this platform's pin, not the aarch64 one's 1.1
    assert gen("lock", "--check", "--root", root, "gamma").returncode == 0
