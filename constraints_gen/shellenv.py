"""Shell lines that make every later ``pip install`` and ``uv pip install`` obey a profile.

pip reads ``PIP_CONSTRAINT`` and uv reads ``UV_CONSTRAINT``; both split the value on whitespace,
so a path with a space cannot be passed this way (an error says so).
"""

from __future__ import annotations

from pathlib import Path

from constraints_gen.errors import ConstraintsGenError

SHELLS = ("bash", "zsh", "sh", "fish", "powershell")
VARIABLES = ("UV_CONSTRAINT", "PIP_CONSTRAINT")


def _quote(value: str, shell: str) -> str:
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("'", "'\\''") + "'"


def env_lines(constraints: Path, shell: str) -> str:
    """The lines to ``eval`` (bash, zsh, sh), ``source`` (fish) or ``Invoke-Expression``."""
    value = str(constraints.resolve())
    if any(char.isspace() for char in value):
        raise ConstraintsGenError(
            f"{value}: pip and uv split PIP_CONSTRAINT/UV_CONSTRAINT on whitespace, and this"
            " path has some",
            tip="move the project to a path without spaces, or pass -c PATH to each install",
        )
    quoted = _quote(value, shell)
    lines = []
    for name in VARIABLES:
        if shell == "fish":
            lines.append(f"set -gx {name} {quoted}")
        elif shell == "powershell":
            lines.append(f"$env:{name} = {quoted}")
        else:
            lines.append(f"export {name}={quoted}")
    return "\n".join(lines) + "\n"
