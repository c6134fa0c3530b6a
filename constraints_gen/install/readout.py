"""Run :mod:`constraints_gen.install._in_target_probe` in a target interpreter and read its answer.

The probe's answer travels on a channel of its own, never on the target's stdout: each run gets a
private folder (``tempfile``: mode 0700) holding a copy of the probe, the request goes on stdin
with a random nonce, and the answer is the file ``result.json`` the probe renames into place once
it is whole. What the target prints (a package's banner at import, bytes written to fd 1) is kept
only as a diagnostic. An answer is believed only when the target exited 0 and the file is a
JSON object of the shape the probe writes, carrying this run's nonce; anything else is "no answer"
with the reason, never a traceback.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constraints_gen import runner
from constraints_gen.errors import ConstraintsGenError, ToolError

_PROBE = Path(__file__).with_name("_in_target_probe.py")
_ANY_EXIT = tuple(range(-128, 256))  # the probe may crash: that is a finding
#: The most of ``result.json`` that is read (the answer for torch's ~15,000 files, every one of
#: them bad, is a few MB); of ``steps``, the tail that is kept.
ANSWER_LIMIT = 64 << 20
STEPS_LIMIT = 64 << 10

#: The longest one probe may run (importing torch and the stack, one operation per GPU): a GPU
#: or driver that hangs makes verify exit 2 instead of hanging sync. $GEN_CONSTRAINTS_VERIFY_TIMEOUT
#: in seconds overrides it.
PROBE_TIMEOUT_S = 600.0


class Malformed(Exception):
    """The answer is not of the shape the probe writes (message: key path and expectation)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A value of the answer and its key path (``distributions[2].version``), read by type."""

    value: Any
    where: str = "answer"

    def _fail(self, expected: str) -> Malformed:
        return Malformed(f"{self.where}: expected {expected}, got {type(self.value).__name__}")

    def get(self, key: str) -> Node:
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        if key not in self.value:
            raise Malformed(f"{self.where}.{key}: missing")
        return Node(self.value[key], f"{self.where}.{key}")

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("a string")
        return self.value

    def text_or_none(self) -> str | None:
        return None if self.value is None else self.text()

    def integer(self) -> int:
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise self._fail("an integer")
        return self.value

    def integer_or_none(self) -> int | None:
        return None if self.value is None else self.integer()

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._fail("true or false")
        return self.value

    def items(self) -> tuple[Node, ...]:
        if not isinstance(self.value, list):
            raise self._fail("an array")
        return tuple(Node(item, f"{self.where}[{i}]") for i, item in enumerate(self.value))

    def texts(self) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeRun:
    """One run of the probe: its answer, or why there is none, and the target's diagnostics."""

    answer: Node | None
    problem: str | None  # why there is no answer
    result: runner.Result  # exit code; stdout and stderr are only diagnostics
    step: str | None  # the last step the probe reached

    def describe(self) -> str:
        """Why there is no answer: ``the probe crashed while importing torch (exit code 9)``."""
        during = f" while {self.step}" if self.step else ""
        code = self.result.returncode
        if code != 0:
            head = f"the probe crashed{during} (exit code {code})"
        else:
            head = f"the probe {self.problem}{during} (exit code 0)"
        tail = self.result.stderr.strip().splitlines()[-1:]
        return head + (f"; the last line of its stderr: {tail[0][:300]}" if tail else "")


def probe_timeout() -> float:
    raw = os.environ.get("GEN_CONSTRAINTS_VERIFY_TIMEOUT")
    if raw is None:
        return PROBE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConstraintsGenError(
            f"$GEN_CONSTRAINTS_VERIFY_TIMEOUT: expected a number of seconds above 0, got {raw!r}"
        )
    return value


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes, else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(limit + 1)
    return data if len(data) <= limit else None


def read_answer(path: Path, nonce: str) -> tuple[Node | None, str | None]:
    """(the answer in ``path``, or None and why not)."""
    if not path.exists():
        return None, "wrote no result"
    data = _read_regular(path, ANSWER_LIMIT)
    if data is None:
        return None, f"left a result that is not a regular file of at most {ANSWER_LIMIT} bytes"
    try:
        answer = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        return None, "left a result that is not JSON (cut short or written by another program)"
    if not isinstance(answer, dict):
        return None, f"left a result that is not a JSON object but {type(answer).__name__}"
    if answer.get("nonce") != nonce:
        return None, "left a result that is not this run's (its nonce differs)"
    return Node(answer), None


def _last_step(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - STEPS_LIMIT))
            lines = handle.read(STEPS_LIMIT).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


def probe_text() -> str:
    """The probe's source, as it is copied into the target."""
    return _PROBE.read_text(encoding="utf-8")


def run_probe(python: Path, request: Mapping[str, object]) -> ProbeRun:
    """Run the probe in ``python`` (isolated: no PYTHONPATH, no user site, no script folder on
    sys.path), with a deadline; raise ConstraintsGenError (exit 2) when it runs past it."""
    nonce = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(
        prefix="gen-constraints-probe-", ignore_cleanup_errors=True
    ) as tmp:
        folder = Path(tmp)
        script = folder / "probe.py"
        script.write_text(probe_text(), encoding="utf-8")
        message = json.dumps({**request, "folder": str(folder), "nonce": nonce})
        try:
            result = runner.run(
                [python, "-I", script], ok_codes=_ANY_EXIT, timeout=probe_timeout(), input=message
            )
        except ToolError as exc:  # it ran past the deadline: verify could not run (exit 2)
            raise ConstraintsGenError(
                f"cannot read the environment of {python}: {exc.message}",
                tip="a hung GPU driver or import can do this; for a slow machine raise"
                " $GEN_CONSTRAINTS_VERIFY_TIMEOUT (seconds)",
            ) from None
        step = _last_step(folder / "steps")
        answer, problem = read_answer(folder / "result.json", nonce)
    if result.returncode != 0:
        answer = None
    return ProbeRun(answer=answer, problem=problem, result=result, step=step)
