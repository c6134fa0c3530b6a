"""Shell lines that make every later ``pip install`` and ``uv pip install`` obey a profile.

pip reads ``PIP_CONSTRAINT`` and uv reads ``UV_CONSTRAINT``; both split the value on whitespace,
so a path with a space cannot be passed this way (an error says so). A profile whose pins come
from another index (the PyTorch CPU index) also needs that index: ``PIP_EXTRA_INDEX_URL`` and
``UV_EXTRA_INDEX_URL`` (or ``PIP_FIND_LINKS`` and ``UV_FIND_LINKS`` for a mirror that is a
folder of wheels). These replace an extra index or find-links set in pip.conf or uv.toml.

pip applies ``PIP_CONSTRAINT`` to the isolated build environments of packages it builds from
source too, so a package outside the lock whose build needs, say, a setuptools the lock pins
otherwise would fail to build. pip 25.3 added build constraints: once any is given
(``PIP_BUILD_CONSTRAINT``), ``PIP_CONSTRAINT`` no longer reaches build environments (always so
since pip 26.2). We set ``PIP_BUILD_CONSTRAINT`` to an empty file (the null device), which pip
before 25.3 ignores (it has no such option); with such a pip the caveat stays (see ``NOTE``).
uv never applies ``UV_CONSTRAINT`` to builds (it has ``UV_BUILD_CONSTRAINT`` for that).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from constraints_gen.errors import ConstraintsGenError

SHELLS = ("bash", "zsh", "sh", "fish", "powershell")
VARIABLES = ("UV_CONSTRAINT", "PIP_CONSTRAINT")
NOTE = (
    "pip before 25.3 also applies PIP_CONSTRAINT to build environments: a package outside the"
    " lock whose build needs a version the constraints exclude fails there; use pip >= 25.3 or uv"
)


def _quote(value: str, shell: str) -> str:
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("'", "'\\''") + "'"


def variables(constraints: Path, index_options: Sequence[str] = ()) -> dict[str, str]:
    """Variable -> value: the constraints for pip and uv, and the indexes their pins need."""
    value = str(constraints.resolve())
    if any(char.isspace() for char in value):
        raise ConstraintsGenError(
            f"{value}: pip and uv split PIP_CONSTRAINT/UV_CONSTRAINT on whitespace, and this"
            " path has some",
            tip="move the project to a path without spaces, or pass -c PATH to each install",
        )
    values = dict.fromkeys(VARIABLES, value)
    values["PIP_BUILD_CONSTRAINT"] = os.devnull
    urls = [o.split(None, 1)[1] for o in index_options if o.startswith("--extra-index-url ")]
    links = [o.split(None, 1)[1] for o in index_options if o.startswith("--find-links ")]
    for where in (*urls, *links):
        if any(char.isspace() for char in where):
            raise ConstraintsGenError(
                f"{where}: an index or folder with a space cannot be exported"
            )
    if urls:  # both split on whitespace
        values["UV_EXTRA_INDEX_URL"] = values["PIP_EXTRA_INDEX_URL"] = " ".join(urls)
    if links:
        values["UV_FIND_LINKS"] = ",".join(links)  # uv splits on commas, pip on whitespace
        values["PIP_FIND_LINKS"] = " ".join(links)
    return values


def env_lines(constraints: Path, shell: str, index_options: Sequence[str] = ()) -> str:
    """The lines to ``eval`` (bash, zsh, sh), ``source`` (fish) or ``Invoke-Expression``."""
    lines = []
    for name, value in variables(constraints, index_options).items():
        quoted = _quote(value, shell)
        if shell == "fish":
            lines.append(f"set -gx {name} {quoted}")
        elif shell == "powershell":
            lines.append(f"$env:{name} = {quoted}")
        else:
            lines.append(f"export {name}={quoted}")
    return "\n".join(lines) + "\n"


def pip_without_build_constraints() -> str | None:
    """The version of the active environment's pip ($VIRTUAL_ENV, else this interpreter's) when
    it is older than 25.3, the first with build constraints; None when newer or not found."""
    import importlib.metadata

    venv = os.environ.get("VIRTUAL_ENV")
    try:
        if venv:
            found = sorted(Path(venv).glob("lib*/python*/site-packages/pip-*.dist-info"))
            found += sorted(Path(venv).glob("Lib/site-packages/pip-*.dist-info"))
            if not found:
                return None
            version = found[-1].name.removeprefix("pip-").removesuffix(".dist-info")
        else:
            version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None
    return version if (major, minor) < (25, 3) else None
