"""The target interpreter sync and verify ask for its version (install/sync.py
``python_version``) when it has no pyvenv.cfg: one that never answers is stopped at verify's
deadline, and a wrapper that prints a banner first (module systems, conda wrappers) is not taken
for a Python "Welcome ... 3.11"."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from constraints_gen.errors import ConstraintsGenError, ToolError
from constraints_gen.install.sync import python_version

HERE = "{}.{}".format(*sys.version_info[:2])


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bin" / "python"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
def test_an_interpreter_that_never_answers_is_stopped_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: no timeout, and sync waited for ever."""
    monkeypatch.setenv("GEN_CONSTRAINTS_VERIFY_TIMEOUT", "1")
    python = script(tmp_path, "exec sleep 60\n")
    started = time.monotonic()
    with pytest.raises(ToolError) as caught:
        python_version(python)
    assert time.monotonic() - started < 10
    assert caught.value.message.startswith("python did not finish within 1 s and was stopped")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
def test_a_banner_before_the_version_is_not_the_version(tmp_path: Path) -> None:
    python = script(tmp_path, f'echo "Welcome to the cluster"\nexec "{sys.executable}" "$@"\n')
    assert python_version(python) == HERE


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script as the interpreter")
@pytest.mark.parametrize("printed", ["", "3.11 but not really", "python 3"])
def test_an_answer_that_is_no_version_is_refused_naming_it(tmp_path: Path, printed: str) -> None:
    python = script(tmp_path, f"echo '{printed}'\n")
    with pytest.raises(ConstraintsGenError) as caught:
        python_version(python)
    shown = repr(printed) if printed else "nothing"
    assert caught.value.message == f"{python}: asked for its version, it printed {shown}, not X.Y"
