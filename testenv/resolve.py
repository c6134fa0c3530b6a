"""Make ``testenv/lock.txt`` with the real uv (the one the ``uv`` dependency ships).

    uv pip compile pyproject.toml --extra test - --universal --python-version 3.10
        --fork-strategy fewest --generate-hashes --annotation-style line --no-header

``-`` is ``build-system.requires`` and what hatchling's editable build adds
(:data:`~testenv.lockfile.EDITABLE_BUILD`) on stdin, so that ``pip install --no-build-isolation
-e .`` builds the project from locked packages (build isolation would fetch them unpinned).
``--universal --python-version`` (the floor of ``requires-python``) resolves for every CPython the
project allows; ``--fork-strategy fewest`` keeps one version of each package for all of them
(``fewest`` in uv's docs, "Resolution: fork strategy"), so each is listed once, as the project's
lock reader requires, and every Python tests the same versions. ``--no-strip-extras`` keeps
``coverage[toml]==...``: pip's ``--require-hashes`` refuses a lock whose requirement with extras
(pytest-cov's ``coverage[toml]``) is not pinned as such.

The previous lock is handed to uv as its output file: uv keeps those versions where they still
satisfy the inputs (uv's "preferences"), so adding a dependency changes only what it must.
``--upgrade`` / ``--upgrade-package NAME`` drop them, as in uv.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.errors import InputError
from constraints_gen.fsutil import atomic_write
from constraints_gen.runner import run, uv_bin
from testenv import lockfile

#: Seconds one uv call may take (uv's own HTTP timeout bounds each request; this, the whole).
TIMEOUT = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    uv_args: tuple[str, ...] = ()  # e.g. --offline --find-links DIR (tests), an index


def compile_args(inputs: lockfile.Inputs, output: Path, options: Options) -> list[str]:
    args = [
        uv_bin(), "pip", "compile", "pyproject.toml", "--extra", "test", "-",
        "--universal", "--python-version", inputs.lowest_python, "--fork-strategy", "fewest",
        "--generate-hashes", "--no-strip-extras", "--annotation-style", "line", "--no-header",
        "--quiet", "--output-file", str(output),
    ]  # fmt: skip
    if options.upgrade:
        args.append("--upgrade")
    for name in options.upgrade_packages:
        args += ["--upgrade-package", name]
    return [*args, *options.uv_args]


def compile_body(
    root: Path, inputs: lockfile.Inputs, previous: str | None, options: Options
) -> str:
    """Resolve with uv; return the lock's body (no header)."""
    with tempfile.TemporaryDirectory(prefix="testenv-") as tmp:
        output = Path(tmp, "lock.txt")
        if previous is not None:
            output.write_text(previous, encoding="utf-8")
        stdin = "".join(f"{line}\n" for line in (*inputs.build, *lockfile.EDITABLE_BUILD))
        run(
            compile_args(inputs, output, options),
            cwd=root,
            input=stdin,
            hint=f"check the dependency sections of {inputs.path}",
            timeout=TIMEOUT,
        )
        return output.read_text(encoding="utf-8")


def lock(root: Path, options: Options = Options()) -> bool:
    """Write the lock when it is stale, missing or damaged, or with an upgrade; True if changed.

    A fresh lock is left alone without resolving (offline), as ``gen-constraints lock`` does."""
    inputs = lockfile.read_inputs(root / "pyproject.toml")
    path = root / lockfile.LOCK
    upgrading = options.upgrade or bool(options.upgrade_packages)
    try:
        current: lockfile.TestLock | None = lockfile.read(path)
    except InputError:  # missing or damaged (LockIntegrityError is one): made afresh below
        current = None
    if current is not None and not upgrading and not lockfile.stale_reasons(current, inputs):
        return False
    previous = None if options.upgrade or current is None else current.body  # preferences
    text = lockfile.render(inputs, compile_body(root, inputs, previous, options))
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if text == old:
        return False
    atomic_write(path, text)
    return True
