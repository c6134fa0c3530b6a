"""The error types of constraints_gen and their exit codes.

Every error a user can cause is a :class:`ConstraintsGenError`: the CLI prints its message as one
``ERROR`` line (plus an optional ``TIP``) on stderr and exits with its code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Exit codes, as pre-commit and uv use them: 1 an expected "no" (no fit, stale, drift),
#: 2 bad input or usage, 3 a bug in this tool.
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_BUG = 3


class ConstraintsGenError(Exception):
    """A failure the user can act on."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class InputError(ConstraintsGenError):
    """Bad input files: carries every problem found, each naming file, key path and expectation."""

    def __init__(self, problems: Sequence[str], *, tip: str | None = None) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = self.problems[0] if count == 1 else f"{count} problems:\n  " + "\n  ".join(problems)
        super().__init__(head, tip=tip)


class NoFitError(ConstraintsGenError):
    """No profile can run on this machine."""

    exit_code = EXIT_FAILURE


class ToolError(ConstraintsGenError):
    """An external tool (uv, pip-compile, git) failed; the message holds its command and output."""

    exit_code = EXIT_FAILURE
