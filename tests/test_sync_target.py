"""The target interpreter sync and verify ask for its version (install/sync.py
``python_version``) when it has no pyvenv.cfg: one that never answers is stopped at verify's
deadline, and a wrapper that prints a banner first (module systems, conda wrappers) is not taken
for a Python "Welcome ... 3.11"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.sync_project import LINUX, gen, make_project
from support.wheels import build_wheel

from constraints_gen import runner
from constraints_gen.errors import ConstraintsGenError, ToolError
from constraints_gen.install.interpreter import python_version

HERE = "{}.{}".format(*sys.version_info[:2])


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bin" / "python"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
def test_an_interpreter_that_never_answers_is_stopped_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: no timeout, and sync waited for ever."""
    monkeypatch.setenv("GEN_CONSTRAINTS_VERIFY_TIMEOUT", "1")
    python = script(tmp_path, "exec sleep 60\n")
    started = time.monotonic()
    with pytest.raises(ToolError) as caught:
        python_version(python)
    assert time.monotonic() - started < 10
    assert caught.value.message.startswith("python did not finish within 1 s and was stopped")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
def test_a_banner_before_the_version_is_not_the_version(tmp_path: Path) -> None:
    python = script(tmp_path, f'echo "Welcome to the cluster"\nexec "{sys.executable}" "$@"\n')
    assert python_version(python) == HERE


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
@pytest.mark.parametrize("printed", ["", "3.11 but not really", "python 3"])
def test_an_answer_that_is_no_version_is_refused_naming_it(tmp_path: Path, printed: str) -> None:
    python = script(tmp_path, f"echo '{printed}'\n")
    with pytest.raises(ConstraintsGenError) as caught:
        python_version(python)
    shown = repr(printed) if printed else "nothing"
    assert caught.value.message == f"{python}: asked for its version, it printed {shown}, not X.Y"


OTHER = Path.home() / ".pyenv" / "versions"


def _another_python() -> Path | None:
    """A CPython of another X.Y than this one, when the machine has one (pyenv's)."""
    for found in sorted(OTHER.glob("3.*/bin/python3")) if OTHER.is_dir() else []:
        if not found.parent.parent.name.startswith(HERE + "."):
            return found
    return None


@pytest.mark.skipif(_another_python() is None, reason="needs a CPython of another X.Y")
def test_an_environment_running_another_python_than_its_pyvenv_cfg_is_not_verified(
    tmp_path: Path,
) -> None:
    """A venv whose base Python was upgraded in place keeps the old version in pyvenv.cfg: the
    lock for that version (pure wheels install anywhere) was synced and reported "verified",
    exit 0, for an interpreter it does not describe."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "torch", "2.5.1+cpu")  # py3-none-any: installs into any CPython
    make_project(
        tmp_path / "proj",
        wheels,
        requirements={"torch": ">=2.5"},
        profiles={"pure": (LINUX, {"torch": "2.5.1+cpu"})},
    )
    other = _another_python()
    assert other is not None
    venv = tmp_path / "venv"
    subprocess.run([runner.uv_bin(), "venv", "-q", "--python", other, venv], check=True)
    cfg = venv / "pyvenv.cfg"
    cfg.write_text(
        "".join(
            f"version_info = {HERE}.0\n" if line.startswith("version_info") else line + "\n"
            for line in cfg.read_text().splitlines()
        )
    )
    args = ("--profile", "pure", "--root", "proj", "--python", venv, "--wheelhouse", wheels)
    done = gen("sync", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    runs = other.parent.parent.name
    assert (
        f"ERROR: {venv / 'bin' / 'python'} runs CPython {runs}, and was read as CPython {HERE}"
        in done.stderr
    )
    done = gen("verify", "--profile", "pure", "--root", "proj", "--python", venv, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
