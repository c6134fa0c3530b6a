"""Shell lines that make every later ``pip install`` and ``uv pip install`` obey a profile.

pip reads ``PIP_CONSTRAINT`` and uv reads ``UV_CONSTRAINT``; both split the value on whitespace,
so a path with a space cannot be passed this way (an error says so). A profile whose pins come
from another index (the PyTorch CPU index) also needs that index: ``PIP_EXTRA_INDEX_URL`` and
``UV_EXTRA_INDEX_URL`` (or ``PIP_FIND_LINKS`` and ``UV_FIND_LINKS`` for a mirror that is a
folder of wheels). These replace an extra index or find-links set in pip.conf or uv.toml.

pip applies ``PIP_CONSTRAINT`` to the isolated build environments of packages it builds from
source too, so a package outside the lock whose build needs, say, a setuptools the lock pins
otherwise fails to build. Measured with each pip (a tiny sdist whose build needs a backend
version the constraints exclude, tests/test_env.py): pip 26.2 and later never apply it to builds;
pip 25.3 to 26.1 do unless ``PIP_USE_FEATURE=build-constraint`` (``PIP_BUILD_CONSTRAINT`` alone
does not help: the child pip still inherits ``PIP_CONSTRAINT``); pip before 25.3 always do and
reject that feature name. So ``env`` sets ``PIP_USE_FEATURE`` only for a pip 25.3 to 26.1 in
the active environment, and notes the caveat for an older one (:data:`NOTE`).
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
    " lock whose build needs a version the constraints exclude fails to build; upgrade pip"
    " (26.2 or later) or use uv"
)


def _quote(value: str, shell: str) -> str:
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("'", "'\\''") + "'"


def variables(
    constraints: Path, index_options: Sequence[str] = (), pip: tuple[int, int] | None = None
) -> dict[str, str]:
    """Variable -> value: the constraints for pip and uv, the indexes their pins need, and for
    a ``pip`` (major, minor) from 25.3 to 26.1 the feature that keeps builds unconstrained."""
    value = str(constraints.resolve())
    if any(char.isspace() for char in value):
        raise ConstraintsGenError(
            f"{value}: pip and uv split PIP_CONSTRAINT/UV_CONSTRAINT on whitespace, and this"
            " path has some",
            tip="move the project to a path without spaces, or pass -c PATH to each install",
        )
    values = dict.fromkeys(VARIABLES, value)
    if pip is not None and (25, 3) <= pip < (26, 2):
        values["PIP_USE_FEATURE"] = "build-constraint"
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


def env_lines(
    constraints: Path,
    shell: str,
    index_options: Sequence[str] = (),
    pip: tuple[int, int] | None = None,
) -> str:
    """The lines to ``eval`` (bash, zsh, sh), ``source`` (fish) or ``Invoke-Expression``."""
    lines = []
    for name, value in variables(constraints, index_options, pip).items():
        quoted = _quote(value, shell)
        if shell == "fish":
            lines.append(f"set -gx {name} {quoted}")
        elif shell == "powershell":
            lines.append(f"$env:{name} = {quoted}")
        else:
            lines.append(f"export {name}={quoted}")
    return "\n".join(lines) + "\n"


def active_pip() -> tuple[int, int] | None:
    """(major, minor) of the active environment's pip ($VIRTUAL_ENV, else this interpreter's),
    read from its metadata (running pip would cost a second); None when there is none."""
    import importlib.metadata

    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        found = [
            *Path(venv).glob("lib*/python*/site-packages/pip-*.dist-info"),
            *Path(venv).glob("Lib/site-packages/pip-*.dist-info"),
        ]
        if not found:
            return None
        version = max(found).name.removeprefix("pip-").removesuffix(".dist-info")
    else:
        try:
            version = importlib.metadata.version("pip")
        except importlib.metadata.PackageNotFoundError:
            return None
    parts = [*version.split("."), "0"]
    if not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])
