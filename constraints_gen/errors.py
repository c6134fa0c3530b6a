"""The error types of constraints_gen and their exit codes.

Every error a user can cause is a :class:`ConstraintsGenError`: the CLI prints its message as one
``ERROR`` line (plus an optional ``TIP``) on stderr and exits with its code, never a traceback.
Each class names its code; a stage raises them, the CLI only renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

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

    exit_code = EXIT_INPUT

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


class LockIntegrityError(InputError):
    """A generated file that is not as the tool wrote it (empty, cut, edited, undecodable)."""

    exit_code = EXIT_INPUT


class LockFormatError(LockIntegrityError):
    """A generated file written in another lock format: regenerate, nothing was tampered."""

    exit_code = EXIT_INPUT

    def __init__(self, problems: Sequence[str], *, tip: str | None, found: int) -> None:
        super().__init__(problems, tip=tip)
        self.found = found


class StaleLockError(ConstraintsGenError):
    """``--strict``: the lock emit reads was made from other inputs than today's."""

    exit_code = EXIT_FAILURE


class StaleLocks(ConstraintsGenError):
    """``lock --check``: some committed locks are stale or missing."""

    exit_code = EXIT_FAILURE


class ProfilesOutOfStep(ConstraintsGenError):
    """``profiles generate --check``: a profile's [hardware] or torch pin differs from the table."""

    exit_code = EXIT_FAILURE


class NewerReleases(ConstraintsGenError):
    """``profiles newer --fail``: an index has a newer torch than a profile pins."""

    exit_code = EXIT_FAILURE


class ChangedFiles(ConstraintsGenError):
    """``lock --fail-on-change``: a file under generated/ changed."""

    exit_code = EXIT_FAILURE


#: What a compile gives back (:class:`constraints_gen.locks.compile.LockResult`); a type
#: parameter, so that this leaf imports no stage.
R = TypeVar("R")


class LockFailed(ConstraintsGenError, Generic[R]):
    """Some targets of a parallel compile failed: ``failures`` holds each one's error,
    ``results`` the targets that were locked all the same."""

    exit_code = EXIT_FAILURE

    def __init__(
        self,
        *,
        results: Sequence[R],
        failures: Sequence[ConstraintsGenError],
        total: int,
    ) -> None:
        super().__init__(f"{len(failures)} of {total} locks failed")
        self.results = tuple(results)
        self.failures = tuple(failures)


class NoBuildInRange(ConstraintsGenError):
    """uv-project: no torch build for a profile's hardware satisfies the project's torch
    requirements (nothing is written)."""

    exit_code = EXIT_INPUT


class OutputError(ConstraintsGenError):
    """stdout is closed or cannot take the data (a full disk, a closed pipe's peer)."""

    exit_code = EXIT_INPUT


class NotInstallable(ConstraintsGenError):
    """The wheelhouse cannot install a lock: wheels missing, corrupt or of another version."""

    exit_code = EXIT_FAILURE


class FetchError(ConstraintsGenError):
    """An index could not be read, or a file did not download as the lock says."""

    exit_code = EXIT_FAILURE


class NotFound(FetchError):
    """HTTP 404/410: the index has no such page."""

    exit_code = EXIT_FAILURE


class PageError(FetchError):
    """A page that is not a simple-API page we can trust."""

    exit_code = EXIT_FAILURE


#: How to go on when the NVIDIA driver answered and then failed.
NVML_RECOVERY_TIP = (
    "read the machine another way and pass it with --hardware FILE (the JSON of"
    " `gen-constraints detect --json`, see README), or name the profile with --profile NAME;"
    " check the driver with nvidia-smi"
)


class NvmlError(ConstraintsGenError):
    """The NVIDIA driver answered but a query failed: a GPU machine that cannot be read."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message, tip=NVML_RECOVERY_TIP)
