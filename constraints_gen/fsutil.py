"""Atomic file writes and the lock that serialises refreshes of ``generated/``.

A reader sees the old file or the new one, never half of either: data goes to a temporary file
``.<name>.<random>.tmp`` beside the target, is fsynced, then renamed into place. A process killed
half way leaves at most such a temporary file, which the next refresh removes (under the lock).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from constraints_gen.redact import redact

TEMP_GLOB = ".*.tmp"


def _create_temp(path: Path) -> tuple[int, str]:
    """Create ``.<name>.<random>.tmp`` beside ``path``, exclusively, with mode 0o666 less the
    umask (like any file a program creates; ``tempfile.mkstemp`` would make it 0o600, which
    others could not read once renamed into place)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


def atomic_write(path: Path, data: str | bytes, *, edited: str = "") -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.
    A text has its credentials masked first (:func:`constraints_gen.redact.redact`): no file the
    tool writes holds a password it put there. ``edited``: the file's text before this edit
    (a user's file): a URL it held stays byte for byte (masking ``git+ssh://git@github.com`` in
    a user's pyproject.toml would break their file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = redact(data, edited).encode() if isinstance(data, str) else data
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno and exc.filename is None:  # write, fsync: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def remove_stale_temps(directory: Path) -> list[Path]:
    """Remove temporary files left by a killed writer; call it only while holding the lock."""
    removed = sorted(directory.rglob(TEMP_GLOB)) if directory.is_dir() else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# POSIX (Linux, macOS): flock(2), the call filelock's UnixFileLock makes too; filelock is not
# imported here because it costs 40-78 ms (7 runs, 2-core Linux machine, after `lock`'s own
# imports: it brings decimal and two dozen modules of its own) on `lock`, which misses its budget
# already (BENCHMARKS.md). Windows: filelock (LockFileEx), imported only there.
if sys.platform != "win32":
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); call ``on_wait`` before blocking.

    The operating system releases it when the process dies, so a killed run never blocks the
    next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - tests/test_fsutil.py runs it with filelock
        with library_lock(path, on_wait):
            yield
        return
    with path.open("a+b") as handle:
        if not _try_lock(handle):
            if on_wait is not None:
                on_wait()
            _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


@contextmanager
def library_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """:func:`exclusive_lock` through filelock (Windows: its lock is LockFileEx; elsewhere the
    same code runs over flock, which is how the tests run it on Linux)."""
    from filelock import FileLock, Timeout

    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
