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
    stdin: str | None = None,
) -> Result:
    """Run ``args``; return its output, or raise ToolError when the exit code is not in ok_codes
    or it runs past ``timeout`` seconds (it is killed then).

    ``env`` is laid over this process's environment; a value of None removes that variable.
    ``stdin``: text for the program's standard input (None: it shares this process's)."""
    argv = tuple(str(arg) for arg in args)
    REPORT.debug(f"$ {shlex.join(argv)}")
    full_env = None
    if env is not None:
        full_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=full_env, capture_output=True, text=True, check=False,
            timeout=timeout, input=stdin,
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
