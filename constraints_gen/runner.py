"""The one wrapper for every external program (uv, pip-compile, pip, git).

It shows the command (with ``-v``, through :mod:`constraints_gen.reporter`), captures output,
and turns a failure into a :class:`ToolError` that shows the command, exit code and the program's
own explanation, plus a hint.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.errors import ToolError
from constraints_gen.reporter import REPORT


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


#: uv's settings that send it to other sources than its command line names (index URLs,
#: find-links, no-index, a config file): cleared for a uv child whose sources the user named
#: (``--wheelhouse``, ``--index-url``, ``--mirror``), so that the explicit choice wins; the
#: command lines also hold ``--no-config`` (uv.toml, pyproject.toml's [tool.uv]). pip's own
#: (PIP_*, pip.conf) are cleared for pip-compile by :data:`constraints_gen.locks.piptools.ENV`.
AMBIENT_SOURCES = (
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CONFIG_FILE",
)
#: The default index: cleared only when the user named one (else it is the user's choice).
AMBIENT_DEFAULT = ("UV_DEFAULT_INDEX", "UV_INDEX_URL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """uv's options naming its sources, and the environment that goes with them: credentials
    travel in the environment (uv's ``UV_INDEX_<NAME>_USERNAME`` and ``_PASSWORD`` for a named
    index), never in argv, which every local user can read (``ps``, /proc/PID/cmdline)."""

    args: tuple[str, ...]
    env: Mapping[str, str | None]


def uv_sources(
    default: str | None,
    extra: Sequence[str] = (),
    *,
    clear_default: bool = True,
    default_name: str = "cg0",
) -> Sources:
    """``--default-index`` and ``--index`` options for the index URLs ``default`` and ``extra``
    (in priority order), credentials moved to the environment, every ambient setting of
    :data:`AMBIENT_SOURCES` cleared (the default index's only with ``clear_default``).

    An index with credentials is named (the default ``default_name``, the others ``cg1``,
    ``cg2``, ...): uv reads ``UV_INDEX_<NAME>_USERNAME`` and ``UV_INDEX_<NAME>_PASSWORD`` for a
    named index (https://docs.astral.sh/uv/reference/environment/; seen working with uv 0.13.9
    for ``--default-index NAME=URL``); the others are given as plain URLs."""
    from constraints_gen.redact import split_credentials

    keep = () if clear_default else AMBIENT_DEFAULT
    env: dict[str, str | None] = {key: None for key in AMBIENT_SOURCES if key not in keep}
    args: list[str] = []
    for number, (option, url) in enumerate(
        [*([("--default-index", default)] if default is not None else []),
         *(("--index", url) for url in extra)]
    ):  # fmt: skip
        clean, credentials = split_credentials(url)
        if credentials is None:
            args += [option, clean]
            continue
        name = default_name if option == "--default-index" else f"cg{number}"
        args += [option, f"{name}={clean}"]
        env[f"UV_INDEX_{name.upper()}_USERNAME"] = credentials[0]
        env[f"UV_INDEX_{name.upper()}_PASSWORD"] = credentials[1]
    return Sources(args=tuple(args), env=env)


@functools.cache
def uv_bin() -> str:
    """The uv binary shipped by the ``uv`` package (imported only when needed).

    Cached, and called once before any thread pool: ``find_uv_bin`` reads ``sysconfig``, whose
    first use is not thread-safe (seen here as a TypeError from two threads at once)."""
    from uv import find_uv_bin

    return str(find_uv_bin())


def run(
    args: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    hint: str | None = None,
    timeout: float | None = None,
    input: str | None = None,
) -> Result:
    """Run ``args``; return its output, or raise ToolError when the exit code is not in ok_codes
    or it runs past ``timeout`` seconds (it is killed then). ``input`` is its stdin (else it
    inherits ours); bytes of its output that do not decode are replaced, never an error.

    ``env`` is laid over this process's environment; a value of None removes that variable."""
    argv = tuple(str(arg) for arg in args)
    REPORT.debug(f"$ {shlex.join(argv)}")
    full_env = None
    if env is not None:
        full_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=full_env, capture_output=True, text=True, errors="replace",
            check=False, timeout=timeout, input=input,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{Path(argv[0]).name} did not finish within {timeout:g} s and was stopped"
            f"\ncommand: {shlex.join(argv)}",
            tip=hint,
        ) from None
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror}", tip=hint) from None
    result = Result(args=argv, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    if proc.returncode not in ok_codes:
        raise ToolError(describe_failure(result), tip=hint)
    return result


def describe_failure(result: Result) -> str:
    name = Path(result.args[0]).name
    parts = [
        f"{name} failed with exit code {result.returncode}",
        f"command: {shlex.join(result.args)}",
    ]
    for label, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            parts.append(
                f"{label}:\n" + "\n".join("    " + line for line in text.rstrip().splitlines())
            )
    return "\n".join(parts)
