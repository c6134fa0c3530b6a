"""pip and pip-tools users: the hashed lock installs with pip-sync and pip, and pip-compile
(``lock --resolver pip-tools``) gives the same pins as uv. Real programs, tiny local wheels.

Supported (README, "Keeping the locks fresh"): pip-tools 7.4 to 7.7. ``pip-sync`` refuses a target
whose pip does not satisfy pip-tools' own ``pip`` requirement (its ``Requires-Dist``: ``pip>=22.2``
up to 7.6.x, ``pip>=26.2.2`` from 7.7.0; ``piptools/scripts/sync.py``,
``_validate_python_executable``). The locked test environment runs the upper end (7.7.0),
``python -m testenv lowest`` the lower end (7.4.x)."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support.lock_project import PYTHON, edit, gen, make_project
from support.repack import repack
from support.wheels import build_wheel

from constraints_gen.locks.file import parse_lock

#: pip without this machine's pip.conf and PIP_* settings: only what each command names.
PIP_ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
#: The pip that pip-tools runs with here.
PIP = md.version("pip")


@pytest.fixture(autouse=True)
def _plain_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def pins(path: Path) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in parse_lock(path.read_text())}


def test_pip_tools_resolver_gives_the_same_pins_as_uv(tmp_path: Path) -> None:
    with_uv = make_project(tmp_path / "uv")
    assert gen("lock", "--root", with_uv).returncode == 0
    with_pip_tools = make_project(tmp_path / "pt")
    result = gen("lock", "--resolver", "pip-tools", "--root", with_pip_tools)
    assert result.returncode == 0, result.stderr
    for name in ("alpha", "beta", "gamma"):
        lock = Path("generated", name, f"py{PYTHON}.lock.txt")
        assert pins(with_pip_tools / lock) == pins(with_uv / lock)
        assert (with_pip_tools / lock).read_text() == (with_uv / lock).read_text()
    assert pins(with_uv / "generated" / "beta" / f"py{PYTHON}.lock.txt") == {
        ("tinydep", "1.0"),
        ("tinylib", "1.0"),
        ("torch", "2.1.0+cpu"),
    }
    check = gen("lock", "--check", "--root", with_pip_tools)
    assert check.returncode == 0


def test_pip_tools_refuses_another_python(tmp_path: Path) -> None:
    root = make_project(tmp_path / "pt")
    edit(root / "profiles" / "gamma.toml", f'python = ["{PYTHON}"]', 'python = ["3.99"]')
    result = gen("lock", "gamma", "--resolver", "pip-tools", "--root", root)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "ERROR: --resolver pip-tools resolves for the running interpreter (CPython"
        f" {PYTHON}, {sys.platform} "
    )
    assert result.stderr.endswith(
        "and cannot lock: gamma (CPython 3.99, x86_64-manylinux_2_28)\n"
        f"TIP: limit the targets with --python {PYTHON}, or lock them with uv (the default)\n"
    )


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        env={**os.environ, **PIP_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def installed(python: Path) -> set[tuple[str, str]]:
    freeze = run(python, "-m", "pip", "freeze", "--exclude-editable", "--all").stdout
    found = {tuple(line.split("==")) for line in freeze.splitlines()}
    return {(n, v) for n, v in found if n not in ("pip", "setuptools", "wheel")}


def pip_tools_needs() -> Requirement:
    """pip-tools' own requirement on pip, which pip-sync also applies to its target."""
    needs = [Requirement(r) for r in md.requires("pip-tools") or []]
    return next(r for r in needs if r.name == "pip" and r.marker is None)


def venv_with_our_pip(tmp_path: Path) -> Path:
    """A target as the README says to make one for pip-sync: its pip is the one pip-tools runs
    with here, which satisfies pip-tools' requirement (pip installed it so), installed offline
    from a wheel packed again from this environment."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = ("--no-index", "--find-links", repack("pip", tmp_path / "pip").parent, f"pip=={PIP}")
    run(sys.executable, "-m", "pip", "--python", python, "install", *pip)
    assert pip_version(python) == PIP
    assert pip_tools_needs().specifier.contains(pip_version(python), prereleases=True)
    return python


def pip_version(python: Path) -> str:
    return run(python, "-c", "import pip; print(pip.__version__)").stdout.strip()


def test_lock_installs_with_pip_and_pip_sync(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    assert gen("lock", "beta", "--root", root).returncode == 0
    lock = root / "generated" / "beta" / f"py{PYTHON}.lock.txt"
    links = ("--no-index", "--find-links", root / "wheels", "--find-links", root / "torchwheels")
    python = venv_with_our_pip(tmp_path)
    want = {("tinydep", "1.0"), ("tinylib", "1.0"), ("torch", "2.1.0+cpu")}

    run(python, "-m", "pip", "install", "--require-hashes", "--no-deps", *links, "-r", lock)
    assert installed(python) == want

    build_wheel(tmp_path / "extra", "stray", "1.0")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--no-index",
        tmp_path / "extra" / "stray-1.0-py3-none-any.whl",
    )
    run(python, "-m", "pip", "uninstall", "-y", "tinylib")
    pip_sync = Path(sys.executable).parent / "pip-sync"
    run(pip_sync, "--python-executable", python, *links, lock)
    assert installed(python) == want


def test_pip_sync_refuses_a_target_pip_that_pip_tools_does_not_accept(tmp_path: Path) -> None:
    """A target made by ``python -m venv`` has its CPython's bundled pip (23.2.1 for 3.11.7):
    it installs the lock with ``pip install --require-hashes``, but pip-tools 7.7 needs pip>=26.2.2
    there, so pip-sync refuses it, naming both versions, and changes nothing. Upgrading the
    target's pip (the README's fix) makes the same pip-sync call pass."""
    root = make_project(tmp_path / "proj")
    assert gen("lock", "gamma", "--root", root).returncode == 0
    lock = root / "generated" / "gamma" / f"py{PYTHON}.lock.txt"
    links = ("--no-index", "--find-links", root / "wheels")
    venv = tmp_path / "bundled"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--require-hashes", "--no-deps", *links, "-r", lock)
    assert installed(python) == pins(lock)
    run(python, "-m", "pip", "uninstall", "-y", "tinydep")

    bundled, needs = pip_version(python), pip_tools_needs()
    if needs.specifier.contains(bundled, prereleases=True):
        pytest.skip(f"pip-tools {md.version('pip-tools')} ({needs}) accepts pip {bundled}")
    pip_sync = (Path(sys.executable).parent / "pip-sync", "--python-executable", python, *links)
    refused = subprocess.run(
        [str(a) for a in (*pip_sync, lock)], env={**os.environ, **PIP_ENV},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        f"Target python executable '{python}' has pip version {bundled} installed."
        f" Version {needs.specifier} is expected." in refused.stderr
    )
    assert installed(python) == pins(lock) - {("tinydep", "1.0")}

    pip = ("--no-index", "--find-links", repack("pip", tmp_path / "pip").parent, f"pip=={PIP}")
    run(python, "-m", "pip", "install", *pip)  # the README's fix, offline
    run(*pip_sync, lock)
    assert installed(python) == pins(lock)


def test_tampered_wheel_is_refused_by_pip(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    assert gen("lock", "gamma", "--root", root).returncode == 0
    lock = root / "generated" / "gamma" / f"py{PYTHON}.lock.txt"
    build_wheel(root / "wheels", "tinydep", "1.0", files={"tinydep/__init__.py": "evil = 1\n"})
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--require-hashes", "--no-deps", "--no-index", "--find-links", str(root / "wheels"),
         "-r", str(lock)],
        env={**os.environ, **PIP_ENV}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in result.stderr
    shutil.rmtree(venv)
