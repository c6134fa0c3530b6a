"""The tool's messages on stderr, at one verbosity for the whole run (``-q``, ``-v``).

:data:`REPORT` is the one reporter: ``-v`` makes it ``verbose`` (each external command is shown,
see :mod:`constraints_gen.runner`), ``-q`` makes it ``quiet`` (only warnings and errors). Errors
reach the CLI's error boundary as exceptions, which prints them here (:meth:`Reporter.always`).
Every line passes :func:`constraints_gen.redact.redact`: no message shows a password.

One small object rather than :mod:`logging`: emit, which runs on every install and commit,
prints a message each run, and importing ``logging`` (it brings ``traceback``, ``textwrap`` and
``atexit``) added 4.1-4.6 ms to it (``python -X importtime``, 5 runs, 2-core machine under
load): more than a third of emit's margin over its budget.
"""

from __future__ import annotations

import sys
from typing import Literal

from constraints_gen.redact import redact

Level = Literal["quiet", "normal", "verbose"]
PREFIX = "gen-constraints: "


class Reporter:
    """Writes each message as one line to stderr (looked up at each call, so a test's capture
    sees it) when the level allows it."""

    __slots__ = ("level",)

    def __init__(self, level: Level = "normal") -> None:
        self.level: Level = level

    def debug(self, text: str) -> None:
        """Only with ``-v``."""
        if self.level == "verbose":
            _write(text)

    def info(self, text: str) -> None:
        """A line as given; ``-q`` silences it."""
        if self.level != "quiet":
            _write(text)

    def notice(self, message: str) -> None:
        """``gen-constraints: message``; ``-q`` silences it."""
        self.info(PREFIX + message)

    def warning(self, message: str) -> None:
        """``gen-constraints: warning: message``, shown even with ``-q``."""
        _write(f"{PREFIX}warning: {message}")

    def always(self, text: str) -> None:
        """A line as given, shown even with ``-q`` (errors, drift, verify's findings)."""
        _write(text)


#: Control characters a message may not carry to the terminal, each shown as ``\xNN``: text from
#: servers and targets (an HTTP reason phrase, a Location header, a relayed program's output)
#: could otherwise move the cursor, erase a line or retitle the window (``"\r\x1b[2K"`` followed
#: by a forged success line). A newline and a tab stay; a CR before a newline is dropped.
_CONTROLS = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\n\t"
}


def shown(text: str) -> str:
    """``text`` as it may reach a terminal: credentials masked (:mod:`constraints_gen.redact`),
    control characters shown, not obeyed (the download progress writes its lines through it)."""
    if not (text.isascii() and text.replace("\n", "").replace("\t", "").isprintable()):
        text = text.replace("\r\n", "\n").translate(_CONTROLS)
    return redact(text)


def _write(text: str) -> None:
    """Every message leaves through here (:func:`shown`)."""
    stream = sys.stderr
    if stream is not None:  # pythonw, or started with stderr closed
        stream.write(shown(text) + "\n")
        stream.flush()


#: The run's reporter; the CLI sets its level from -q/-v (and resets it for each run).
REPORT = Reporter()
