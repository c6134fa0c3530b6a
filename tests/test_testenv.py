"""The project's own test environment (``python -m testenv``, issue 15): the committed hashed lock
is fresh, ``check`` says no to changed dependencies, a forged header and an edited lock, and
``lock`` resolves with the real uv (offline here, from tiny local wheels), keeps the pins it had
when an input is added, and moves them only with ``--upgrade``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from support.wheels import build_wheel

from constraints_gen.locks.file import seal

sys.path.insert(0, str(REPO))  # the testenv package lives beside constraints_gen, not in it
from testenv import lockfile

LOCK = lockfile.LOCK
TIP = "TIP: refresh it: .venv/bin/python -m testenv lock\n"


def run_testenv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testenv", "--root", str(root), *args],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip


def copy_of_this_project(tmp_path: Path) -> Path:
    (tmp_path / "testenv").mkdir()
    for name in ("pyproject.toml", str(LOCK)):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    return tmp_path


def test_the_committed_lock_is_fresh_and_hashed() -> None:
    lock = lockfile.read(REPO / LOCK)
    assert lockfile.stale_reasons(lock, lockfile.read_inputs(REPO / "pyproject.toml")) == []
    assert lock.command == ".venv/bin/python -m testenv lock"
    names = {p.name for p in lock.packages}
    assert {"click", "packaging", "uv", "pytest", "pip-tools", "pip", "hatchling"} <= names
    assert all(h.startswith("sha256:") for p in lock.packages for h in p.hashes)
    result = run_testenv(REPO, "check")
    assert (result.returncode, result.stderr) == (0, "testenv/lock.txt: fresh\n")


def test_check_says_no_when_a_dependency_section_changes(tmp_path: Path) -> None:
    root = copy_of_this_project(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    before = lockfile.read_inputs(pyproject).digest
    pyproject.write_text(text.replace('description = "', '# a comment\ndescription = "Now: '))
    assert run_testenv(root, "check").returncode == 0  # not a dependency section: still fresh

    pyproject.write_text(
        text.replace('  "pytest>=8",\n', '  "pytest>=8",\n  "never-locked-example>=2",\n')
    )
    result = run_testenv(root, "check")
    now = lockfile.read_inputs(pyproject).digest
    assert result.returncode == 1
    assert result.stderr == (
        "ERROR: testenv/lock.txt: stale: the dependency sections of pyproject.toml changed since"
        f" it was locked (pyproject.toml@{before}, now @{now});"
        " project.optional-dependencies.test: never-locked-example>=2 is not locked\n" + TIP
    )


def test_a_forged_header_still_says_no(tmp_path: Path) -> None:
    """The fingerprint line was made to match a raised floor without re-locking: each
    requirement is still checked against the pins."""
    root = copy_of_this_project(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"click>=8.1"', '"click>=99"'))
    inputs = lockfile.read_inputs(pyproject)
    lock = root / LOCK
    body = lockfile.read(lock).body
    lock.write_text(lockfile.render(inputs, body))
    pinned = re.search(r"^click==(\S+)", body, re.MULTILINE)
    assert pinned is not None
    result = run_testenv(root, "check")
    assert (result.returncode, result.stderr) == (
        1,
        "ERROR: testenv/lock.txt: stale: project.dependencies: click>=99: the lock pins click"
        f" {pinned[1]}\n" + TIP,
    )


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (
            lambda t: t.replace("pytest==", "pytest===", 1),
            "its body does not match the digest in its header (edited or cut)",
        ),
        (lambda t: t[: len(t) // 2], "its body does not match the digest in its header"),
        (lambda t: t.replace("# Fingerprint: sha256:", "# Fingerprint: "), "its header is missing"),
        (lambda t: "", "its header is missing or damaged"),
        (
            lambda t: seal(t[: t.index("# Integrity")], "tinydep==1.0\n    # via demo\n"),
            "no --hash for tinydep",
        ),
        (
            lambda t: seal(t[: t.index("# Integrity")], "tinydep @ https://x.invalid/t.whl\n"),
            "a direct URL requirement, which a lock never holds",
        ),
    ],
)
def test_a_damaged_lock_is_refused(tmp_path: Path, damage: object, problem: str) -> None:
    root = copy_of_this_project(tmp_path)
    lock = root / LOCK
    lock.write_text(damage(lock.read_text()))  # type: ignore[operator]
    result = run_testenv(root, "check")
    assert result.returncode == 2
    assert result.stderr.startswith(f"ERROR: {lock}")
    assert problem in result.stderr
    assert result.stderr.endswith("TIP: regenerate it: .venv/bin/python -m testenv lock\n")


def project(root: Path, test: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["tinybuild>=1"]\nbuild-backend = "tinybuild"\n\n'
        '[project]\nname = "demo"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["tinylib>=1"]\n\n'
        f"[project.optional-dependencies]\ntest = [{test}]\n"
    )
    return root


def test_lock_with_the_real_uv_keeps_pins_and_upgrades_on_request(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "tinylib", "1.0", requires=["tinydep>=1"])
    build_wheel(wheels, "tinydep", "1.0")
    build_wheel(wheels, "tinybuild", "1.0")
    build_wheel(wheels, "tinytest", "1.0")
    build_wheel(wheels, "editables", "0.5")  # hatchling's editable build needs it
    root = project(tmp_path / "demo", '"tinytest>=1"')
    (root / "testenv").mkdir()
    offline = ("--uv-arg=--no-index", f"--uv-arg=--find-links={wheels}")

    result = run_testenv(root, "check")
    assert (result.returncode, result.stderr) == (
        1,
        "ERROR: testenv/lock.txt: missing\nTIP: create it: .venv/bin/python -m testenv lock\n",
    )
    result = run_testenv(root, "lock", "--fail-on-change", *offline)
    assert (result.returncode, result.stderr) == (
        1,
        "testenv/lock.txt: written\ntestenv/lock.txt changed: review it (git diff), commit it\n",
    )
    lock = lockfile.read(root / LOCK)
    assert {(p.name, p.version) for p in lock.packages} == {
        ("editables", "0.5"), ("tinybuild", "1.0"), ("tinydep", "1.0"), ("tinylib", "1.0"),
        ("tinytest", "1.0"),
    }  # fmt: skip
    assert all(len(p.hashes) == 1 for p in lock.packages)
    assert run_testenv(root, "check").returncode == 0
    first = (root / LOCK).read_text()
    assert run_testenv(root, "lock", "--fail-on-change", "--uv-arg=--offline").stderr == (
        "testenv/lock.txt: unchanged\n"  # fresh: nothing resolved, so no index needed
    )

    build_wheel(wheels, "tinylib", "1.1", requires=["tinydep>=1"])
    build_wheel(wheels, "tinyplug", "1.0")
    project(root, '"tinytest>=1", "tinyplug"')
    assert run_testenv(root, "check").returncode == 1
    assert run_testenv(root, "lock", *offline).returncode == 0
    pins = {p.name: p.version for p in lockfile.read(root / LOCK).packages}
    assert (pins["tinylib"], pins["tinyplug"]) == ("1.0", "1.0")  # the old pin is kept
    assert run_testenv(root, "check").returncode == 0
    assert (root / LOCK).read_text() != first

    assert run_testenv(root, "lock", "--upgrade", *offline).returncode == 0
    pins = {p.name: p.version for p in lockfile.read(root / LOCK).packages}
    assert pins["tinylib"] == "1.1"
