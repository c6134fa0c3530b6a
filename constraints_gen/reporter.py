"""The tool's messages on stderr, at one verbosity for the whole run (``-q``, ``-v``).

:data:`REPORT` is the one reporter: ``-v`` makes it ``verbose`` (each external command is shown,
see :mod:`constraints_gen.runner`), ``-q`` makes it ``quiet`` (only warnings and errors). Errors
reach the CLI's error boundary as exceptions, which prints them here (:meth:`Reporter.always`).
Every line passes :func:`constraints_gen.redact.redact`: no message shows a password.

Every layer speaks here, stages included (no ``notice=`` callbacks, no hooks): a stage says what
it has to say through :data:`REPORT`, and the CLI sets the level once. Where an answer is cached
with its messages (emit's answer cache), :meth:`Reporter.capture` records what was said so that a
hit can :meth:`Reporter.replay` it at the same levels.

One small object rather than :mod:`logging`: emit, which runs on every install and commit,
prints a message each run, and importing ``logging`` (it brings ``traceback``, ``textwrap`` and
``atexit``) added 4.1-4.6 ms to it (``python -X importtime``, 5 runs, 2-core machine under
load): more than a third of emit's margin over its budget.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Literal

from constraints_gen.redact import redact

Level = Literal["quiet", "normal", "verbose"]
#: how a message was said: ``info`` (``-q`` silences it), ``always`` (shown even with ``-q``)
Kind = Literal["info", "always"]
PREFIX = "gen-constraints: "
#: the kinds a captured message may have (what a cache may replay)
KINDS: tuple[Kind, ...] = ("info", "always")


class Reporter:
    """Writes each message as one line to stderr (looked up at each call, so a test's capture
    sees it) when the level allows it."""

    __slots__ = ("_captures", "level")

    def __init__(self, level: Level = "normal") -> None:
        self.level: Level = level
        self._captures: list[Capture] = []

    def debug(self, text: str) -> None:
        """Only with ``-v`` (never captured: it tells what ran in this process, e.g. a command)."""
        if self.level == "verbose":
            _write(text)

    def info(self, text: str) -> None:
        """A line as given; ``-q`` silences it."""
        if self._record("info", text) and self.level != "quiet":
            _write(text)

    def notice(self, message: str) -> None:
        """``gen-constraints: message``; ``-q`` silences it."""
        self.info(PREFIX + message)

    def warning(self, message: str) -> None:
        """``gen-constraints: warning: message``, shown even with ``-q``."""
        self.always(f"{PREFIX}warning: {message}")

    def always(self, text: str) -> None:
        """A line as given, shown even with ``-q`` (errors, drift, verify's findings)."""
        if self._record("always", text):
            _write(text)

    def capture(self, *, silent: bool = False) -> Capture:
        """``with REPORT.capture() as said:``: ``said`` collects (kind, line) of every message
        said inside (``-v``'s debug lines excepted), credentials already masked; the messages
        are still written as usual, unless ``silent`` (shell completion: nothing may reach the
        terminal in the middle of a command line)."""
        return Capture(self, silent)

    def replay(self, said: Iterable[tuple[Kind, str]]) -> None:
        """Say captured messages again, each at the level it was said at."""
        for kind, text in said:
            (self.always if kind == "always" else self.info)(text)

    def _record(self, kind: Kind, text: str) -> bool:
        """Add the message to each capture; False when a silent one holds it back."""
        loud = True
        for capture in self._captures:
            capture.said.append((kind, redact(text)))
            loud = loud and not capture.silent
        return loud


class Capture:
    """The context manager of :meth:`Reporter.capture` (a class: ``contextlib`` is not on
    emit's import path)."""

    __slots__ = ("_reporter", "said", "silent")

    def __init__(self, reporter: Reporter, silent: bool) -> None:
        self._reporter = reporter
        self.silent = silent
        self.said: list[tuple[Kind, str]] = []

    def __enter__(self) -> list[tuple[Kind, str]]:
        self._reporter._captures.append(self)
        return self.said

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._reporter._captures.remove(self)


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
