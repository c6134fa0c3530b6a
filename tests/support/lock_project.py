"""A tiny gen-constraints project in a temporary folder: profiles, manifest, config and wheels.

Every index is mirrored to a local folder of tiny real wheels (constraints-gen.toml), so locking
works offline and no committed file names an index host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .wheels import build_wheel

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

PROFILES: Mapping[str, str] = {
    "manifest.toml": '[requirements]\ntorch = ">=2"\ntinylib = ">=1"\n',
    "base.toml": f"""\
# shared pins
name = "base"
abstract = true

[target]
platform = "x86_64-manylinux_2_28"
python = ["{PYTHON}"]

[pins]
tinylib = "1.0"
""",
    "alpha.toml": """\
name = "alpha"
description = "alpha"
extends = "base"

[hardware]
vendor = "cpu"

[pins]
torch = "2.0.0"
""",
    "beta.toml": """\
name = "beta"
description = "beta: torch from another index"
extends = "base"

[hardware]
vendor = "cpu"

[pins]
torch = "2.1.0+cpu"

[[indexes]]
name = "pytorch-test"
url = "https://download.pytorch.org/whl/test"
""",
    "gamma.toml": f"""\
name = "gamma"
description = "gamma: extends nothing"

[hardware]
vendor = "cpu"

[target]
platform = "x86_64-manylinux_2_28"
python = ["{PYTHON}"]

[pins]
torch = "2.0.0"
""",
}

CONFIG = '[mirrors]\npypi = "wheels"\npytorch-test = "torchwheels"\n'


def make_project(root: Path) -> Path:
    """Write the tiny project into ``root`` and return it."""
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    for name, text in PROFILES.items():
        (root / "profiles" / name).write_text(text, encoding="utf-8")
    (root / "constraints-gen.toml").write_text(CONFIG, encoding="utf-8")
    wheels = root / "wheels"
    build_wheel(wheels, "torch", "2.0.0")
    build_wheel(wheels, "tinylib", "1.0", requires=["tinydep>=1"])
    build_wheel(wheels, "tinylib", "1.1", requires=["tinydep>=1"])
    build_wheel(wheels, "tinydep", "1.0")
    build_wheel(root / "torchwheels", "torch", "2.1.0+cpu", requires=["tinydep"])
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def gen(
    *args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``gen-constraints`` (this interpreter's) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
