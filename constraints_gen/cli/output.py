"""What the CLI writes: data to stdout (whole, or a one-line error), messages to stderr.

Messages are :data:`constraints_gen.reporter.REPORT`'s, the one channel of every layer; ``-q``
and ``-v`` set its level for the whole run (``-v`` shows each external command).
"""

from __future__ import annotations

import os
import sys

from constraints_gen.errors import ConstraintsGenError as ConstraintsGenError
from constraints_gen.errors import OutputError as OutputError
from constraints_gen.redact import redact
from constraints_gen.reporter import REPORT


def write_out(text: str) -> None:
    """Write the whole text at once: nothing partial ever reaches stdout unnoticed; credentials
    in it are masked (:func:`constraints_gen.redact.redact`)."""
    stream = sys.stdout
    if stream is None:  # started with stdout closed (`>&-`)
        raise OutputError(
            "stdout is closed; nothing was written",
            tip="send it to a file or a pipe: gen-constraints ... > FILE",
        )
    try:
        stream.write(redact(text))
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from None


def drop_stdout() -> None:
    """Point stdout at the null device, so that Python's flush at exit cannot fail again."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (OSError, ValueError):  # not a real file (tests) or already gone
        pass


def describe_os_error(exc: OSError) -> str:
    """``PATH: reason`` (both paths of a rename) for an OSError that reached the CLI."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def echo_error(exc: ConstraintsGenError) -> None:
    """The one-line ``ERROR`` (and ``TIP``) of an error, on stderr."""
    REPORT.always(f"ERROR: {exc.message}")
    if exc.tip:
        REPORT.always(f"TIP: {exc.tip}")
