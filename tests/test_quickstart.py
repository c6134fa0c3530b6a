"""The README's quick start in a fresh clone, on a CPU machine without the build machine's folders.

``gen-constraints > constraints.txt`` runs verbatim in a ``git clone`` of this repository, with a
temporary ``HOME``, no pip configuration (``PIP_CONFIG_FILE`` is the empty file, no
``PIP_FIND_LINKS``) and no ``GEN_CONSTRAINTS_*`` or ``UV_*`` variables: what a newcomer has. The
machine is read from the CPU readout (``$GEN_CONSTRAINTS_HARDWARE``), so the ``cpu`` profile is
chosen on any test machine. Then ``uv pip install -c constraints.txt torch transformers peft``,
the README's next line, runs with the real uv against two loopback stand-ins:

- PyPI: uv's own setting ``UV_DEFAULT_INDEX`` names the stand-in (nothing in the file changes);
- the PyPI team's CPU index: the file names ``https://download.pytorch.org/whl/cpu``, which a test
  cannot reach. That one line is replaced by the stand-in's URL, after asserting that it is the
  line emit printed (exactly once) and that nothing else in the file differs from the committed
  constraints. A second install without that line fails: the line, and only it, makes uv find
  ``torch==2.13.0+cpu``.

The stand-in wheels are tiny real wheels at the pinned versions (PyPI's stand-in also offers a
plain ``torch 2.13.0``, as PyPI does, which the local label must win over).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uv
from conftest import HARDWARE, REPO
from support.index import serve, write_simple_index
from support.wheels import build_wheel
from test_repo_paths import machine_paths

PYTORCH_CPU = "--extra-index-url https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64",
    reason="the cpu profile's committed lock is for CPython 3.11 on Linux x86_64",
)


def clean_env(home: Path) -> dict[str, str]:
    """A newcomer's environment: this PATH and locale, a fresh HOME, nothing configured."""
    dropped = ("PIP_", "UV_", "GEN_CONSTRAINTS_", "VIRTUAL_ENV", "XDG_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    (home / "empty.conf").write_text("")
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        PIP_CONFIG_FILE=str(home / "empty.conf"),  # not pip.conf's find-links of this machine
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


def fresh_clone(tmp_path: Path) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, capture_output=True)
    return clone


def test_readme_quick_start_in_a_fresh_clone_installs_against_stand_in_indexes(
    tmp_path: Path,
) -> None:
    clone = fresh_clone(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    assert not (clone / "constraints-gen.toml").exists()  # the repository configures no mirror

    # `gen-constraints > constraints.txt`, verbatim, inside the clone (this checkout's code)
    env["GEN_CONSTRAINTS_HARDWARE"] = str(HARDWARE / "cpu.json")
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    committed = (clone / "generated" / "cpu" / "py3.11.constraints.txt").read_text()
    index = "# Index pytorch-cpu: https://download.pytorch.org/whl/cpu\n"
    assert text == committed.replace(index, f"{index}{PYTORCH_CPU}\n")
    assert "--find-links" not in text and machine_paths(text) == []  # every line works anywhere
    (clone / "constraints.txt").write_text(text)

    # the stand-ins: PyPI (plain torch too, as on PyPI) and the PyTorch CPU index (+cpu only)
    pins = dict(
        line.split("  #")[0].strip().split("==") for line in text.splitlines() if "==" in line
    )
    assert pins["torch"] == "2.13.0+cpu"
    pypi = tmp_path / "pypi-wheels"
    build_wheel(pypi, "torch", "2.13.0")
    build_wheel(pypi, "transformers", pins["transformers"], requires=["filelock"])
    build_wheel(pypi, "transformers", "9.9.9")  # newer than the pin: the constraint must hold
    build_wheel(pypi, "peft", pins["peft"], requires=["torch", "transformers"])
    build_wheel(pypi, "filelock", pins["filelock"])
    write_simple_index(sorted(pypi.glob("*.whl")), tmp_path / "pypi")
    build_wheel(tmp_path / "cpu-wheels", "torch", pins["torch"])
    write_simple_index(sorted((tmp_path / "cpu-wheels").glob("*.whl")), tmp_path / "cpu")

    venv = clone / ".venv"
    uv_bin = uv.find_uv_bin()
    subprocess.run([uv_bin, "venv", "-q", str(venv)], cwd=clone, env=env, check=True)
    with serve(tmp_path / "pypi") as pypi_url, serve(tmp_path / "cpu") as cpu_url:
        env["UV_DEFAULT_INDEX"] = f"{pypi_url}/simple"
        assert text.count(PYTORCH_CPU + "\n") == 1
        standin = text.replace(PYTORCH_CPU, f"--extra-index-url {cpu_url}/simple")
        (clone / "constraints.txt").write_text(standin)
        # the README's line as it is: uv installs into ./.venv, found from the current folder
        install = [uv_bin, "pip", "install", "-c", "constraints.txt"]
        done = subprocess.run(
            [*install, "torch", "transformers", "peft"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        versions = installed(venv)
        assert versions["torch"] == "2.13.0+cpu"  # from the CPU index's stand-in, label and all
        assert versions["transformers"] == pins["transformers"]
        assert versions["peft"] == pins["peft"]

        # without the index line, uv finds no torch==2.13.0+cpu: the line is what makes it work
        shutil.rmtree(venv)
        subprocess.run([uv_bin, "venv", "-q", str(venv)], cwd=clone, env=env, check=True)
        (clone / "constraints.txt").write_text(
            standin.replace(f"--extra-index-url {cpu_url}/simple\n", "")
        )
        done = subprocess.run(
            [*install, "torch", "transformers", "peft"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode != 0
        assert "torch==2.13.0+cpu" in done.stderr


def installed(venv: Path) -> dict[str, str]:
    """name -> version of what the venv holds, read by its own interpreter."""
    probe = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.name: d.version for d in m.distributions()}))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found
