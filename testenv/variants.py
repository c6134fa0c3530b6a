"""The suite against other versions than the lock's: every dependency's newest release, or each
direct dependency's floor from pyproject.toml. Opt-in commands (the README's "Tests"), not CI:
they need the index, and their point is to meet a new release on purpose, not by surprise.

    newest: uv pip install --upgrade -e '.[test]'                       into .venv-newest
    lowest: uv pip install --resolution lowest-direct -e '.[test]'      into .venv-lowest

``lowest-direct`` takes the lowest version each requirement of ``dependencies`` and the ``test``
extra allows and the newest of everything else (uv's docs, "Resolution strategy"): it proves the
floors are true, so a user whose environment holds them is served.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from constraints_gen.runner import run, uv_bin
from testenv.resolve import TIMEOUT

Variant = Literal["newest", "lowest"]
RESOLUTION: dict[Variant, tuple[str, ...]] = {
    "newest": ("--upgrade",),
    "lowest": ("--resolution", "lowest-direct"),
}


def install_args(venv: Path, variant: Variant) -> list[str]:
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    where = ("--python", str(python))
    return [uv_bin(), "pip", "install", *where, *RESOLUTION[variant], "-e", ".[test]"]


def prepare(root: Path, variant: Variant) -> tuple[Path, str]:
    """Make ``.venv-<variant>`` afresh, install into it; return it and uv's list of what it put
    there (``+ name==version`` lines)."""
    venv = root / f".venv-{variant}"
    run([uv_bin(), "venv", "--clear", "--quiet", "--python", sys.executable, str(venv)], cwd=root)
    hint = "the index must be reachable"
    result = run(install_args(venv, variant), cwd=root, hint=hint, timeout=TIMEOUT)
    return venv, result.stderr


def run_suite(root: Path, venv: Path, pytest_args: Sequence[str]) -> int:
    """The suite in ``venv``, its output shown as it comes (runner.run would hold it to the end
    of a run of minutes), so this is the one plain subprocess call here."""
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    return subprocess.call([str(python), "-m", "pytest", *pytest_args], cwd=root)
