"""A tiny constraints_gen project in a temporary folder, locked with the real uv (offline)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from constraints_gen import runner
from constraints_gen.lock import LockOptions, compile_one
from constraints_gen.profiles import load_profiles
from constraints_gen.project import find_project

__all__ = ["CP", "PY", "gen", "make_project", "make_venv"]

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"


def _toml_table(values: Mapping[str, str]) -> str:
    return "".join(f'{name} = "{value}"\n' for name, value in values.items())


def make_project(
    root: Path,
    wheels: Path,
    *,
    requirements: Mapping[str, str],
    profiles: Mapping[str, tuple[str, Mapping[str, str]]],
) -> Path:
    """Write ``root/profiles`` (manifest + one CPU profile per name: (platform, pins)) and lock
    each profile for the running CPython from the folder ``wheels`` only."""
    folder = root / "profiles"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text("[requirements]\n" + _toml_table(requirements))
    for name, (platform, pins) in profiles.items():
        (folder / f"{name}.toml").write_text(
            f'name = "{name}"\n[hardware]\nvendor = "cpu"\n'
            f'[target]\nplatform = "{platform}"\npython = ["{PY}"]\n'
            f"[pins]\n{_toml_table(pins)}"
        )
    project = find_project(root)
    loaded = load_profiles(project.profiles_dir)
    options = LockOptions(find_links=(str(wheels),), offline=True)
    for profile in loaded.profiles:
        compile_one(project, loaded, profile, PY, options)
    return root


def gen(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``gen-constraints`` in a subprocess, as a user would."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PIP_INDEX_URL")}
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def make_venv(path: Path, wheels: Path, requirements: Sequence[str]) -> Path:
    """A venv (uv venv) holding ``requirements`` from the folder ``wheels``; its interpreter."""
    uv = runner.uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, path], check=True)
    python = path / "bin" / "python"
    if requirements:
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", python, "--no-index", "--find-links", wheels,
             *requirements],
            check=True,
        )  # fmt: skip
    return python
