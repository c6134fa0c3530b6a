"""The target environment of ``sync`` and ``verify``: its interpreter and its CPython X.Y.

Imports only the standard library at module level: the no-op path of both commands
(:mod:`constraints_gen.install.noop`) resolves the target before it knows whether anything
else must load.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.errors import ConstraintsGenError


def interpreter(python: str | None) -> Path:
    """The target: ``--python`` (an interpreter or a venv folder), else the active venv."""
    where = python or os.environ.get("VIRTUAL_ENV")
    if not where:
        raise ConstraintsGenError(
            "no target environment: no --python given and no virtual environment is active",
            tip="name one: --python .venv/bin/python (or activate the venv)",
        )
    path = Path(where)
    if path.is_dir():
        scripts = "Scripts/python.exe" if sys.platform == "win32" else "bin/python"
        path = path / scripts
    if not path.exists():
        raise ConstraintsGenError(f"{path}: no such interpreter")
    return path


def python_version(python: Path) -> str:
    """X.Y of the target: from its venv's pyvenv.cfg when there is one, else by running it."""
    cfg = python.parent.parent / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            parts = [*value.strip().split("."), "", ""]
            if (
                key.strip() in ("version_info", "version")
                and parts[0].isdigit()
                and parts[1].isdigit()
            ):
                return f"{parts[0]}.{parts[1]}"
    import re

    from constraints_gen import runner
    from constraints_gen.install.readout import probe_timeout

    # -I -S: neither the current folder's modules nor a .pth file run; no stdin to read; the
    # same deadline as verify's probe (an interpreter that never answers hung sync); the
    # version is the last line, so a wrapper's banner (module systems print one) is not taken
    # for it (was: a lock looked for "CPython Welcome to ...\n3.11")
    hint = "--python must name a working Python interpreter"
    result = runner.run(
        [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        hint=hint,
        timeout=probe_timeout(),
        input="",
    )
    lines = result.stdout.strip().splitlines()
    if not lines or not re.fullmatch(r"[0-9]+\.[0-9]+", lines[-1].strip()):
        shown = repr(lines[-1][:200]) if lines else "nothing"
        raise ConstraintsGenError(
            f"{python}: asked for its version, it printed {shown}, not X.Y", tip=hint
        )
    return lines[-1].strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What ``sync`` and ``verify`` say an environment is: the profile, the interpreter, its
    CPython X.Y and the lock it should match (``packages``: how many the lock pins)."""

    profile: str
    python: Path
    version: str
    lock: Path
    packages: int

    @property
    def where(self) -> str:
        return f"profile {self.profile}, CPython {self.version}, {self.python}"
