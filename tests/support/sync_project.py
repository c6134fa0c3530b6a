"""A tiny constraints_gen project in a temporary folder, locked with the real uv (offline)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from constraints_gen import runner
from constraints_gen.locks.compile import LockOptions, compile_one
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import find_project

from .wheels import build_wheel

__all__ = ["CP", "PY", "gen", "make_project", "make_venv"]

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"


def _toml_table(values: Mapping[str, str]) -> str:
    return "".join(f'{name} = "{value}"\n' for name, value in values.items())


def make_project(
    root: Path,
    wheels: Path | None,
    *,
    requirements: Mapping[str, str],
    profiles: Mapping[str, tuple[str, Mapping[str, str]]],
    index: str | None = None,
) -> Path:
    """Write ``root/profiles`` (manifest + one CPU profile per name: (platform, pins)) and lock
    each profile for the running CPython from the folder ``wheels`` (offline), and the simple index
    at the URL ``index`` when given. uv 0.13.9 writes the hashes of every wheel of a version when
    it reads an index, but only the chosen wheel's hash when a --find-links folder offers it."""
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
    links = () if wheels is None else (str(wheels),)
    options = LockOptions(find_links=links, offline=index is None)
    saved = os.environ.get("UV_DEFAULT_INDEX")
    os.environ["UV_DEFAULT_INDEX"] = index or "http://127.0.0.1:9/unused"
    try:
        for profile in loaded.profiles:
            compile_one(project, loaded, profile, PY, options)
    finally:
        if saved is None:
            del os.environ["UV_DEFAULT_INDEX"]
        else:
            os.environ["UV_DEFAULT_INDEX"] = saved
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


REQUIREMENTS = {"torch": ">=2.5", "transformers": ">=4.51.3,!=4.52.*", "peft": ">=0.13"}
PINS = {"torch": "2.5.1+cu121", "transformers": "4.51.3"}
LINUX = "x86_64-manylinux_2_28"
TORCH_TAG = f"{CP}-{CP}-manylinux_2_28_x86_64"


def scenario_wheels(dest: Path) -> Path:
    """The incident's stack as tiny wheels: two transformers, a peft that imports it, two torch
    builds that differ only in their local label, and an unrelated package."""
    build_wheel(dest, "transformers", "4.51.3")
    build_wheel(dest, "transformers", "4.57.3")
    build_wheel(
        dest,
        "peft",
        "0.13.2",
        requires=["transformers>=4.51"],
        files={"peft/__init__.py": "import transformers\n__version__ = '0.13.2'\n"},
    )
    for label in ("cu121", "cu124"):
        build_wheel(dest, "torch", f"2.5.1+{label}", tag=TORCH_TAG)
    build_wheel(dest, "extra", "1.0")
    return dest


def scenario_project(tmp_path: Path) -> tuple[Path, Path]:
    """(project root, wheels folder): profile ``demo`` pins torch 2.5.1+cu121, transformers
    4.51.3, locked for the running CPython on x86_64-manylinux_2_28."""
    wheels = scenario_wheels(tmp_path / "wheels")
    root = make_project(
        tmp_path / "proj", wheels, requirements=REQUIREMENTS, profiles={"demo": (LINUX, PINS)}
    )
    return root, wheels
