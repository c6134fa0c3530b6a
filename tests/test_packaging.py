"""The built wheel carries the built-in profiles and locks and works with no checkout around."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import HARDWARE, REPO


def test_non_editable_wheel_emits_from_its_builtin_data(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("constraints_gen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "constraints_gen/_builtin/profiles/manifest.toml" in names
    assert "constraints_gen/_builtin/profiles/cuda132.toml" in names
    assert "constraints_gen/_builtin/generated/cuda132/py3.11.lock.txt" in names
    assert "constraints_gen/py.typed" in names
    assert not [n for n in names if "/." in n]  # no generated/.lock, no refresh .tmp files
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "--hardware", str(HARDWARE / "h200-real.json"),
         "--python", "3.11"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPO / "generated" / "cuda132" / "py3.11.constraints.txt").read_text()
    used = target / "constraints_gen" / "_builtin" / "generated" / "cuda132"
    assert str(used) in done.stderr
