"""Download progress: what a download reports (:class:`Progress`), and its rendering for people:
sizes and rates, one status line on a terminal.

On a terminal one line on stderr is redrawn (at most ten times a second) with the files done, the
bytes so far of the total known, the overall rate and the file that is furthest from done; each
finished file then gets its own line. Elsewhere (CI logs, pipes) only the per-file lines and retry
notices are written, one line each.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, TextIO

from constraints_gen.reporter import shown


class Progress(Protocol):
    """What a download reports; the CLI renders it (:class:`StreamProgress` below)."""

    def started(self, filename: str, total: int | None, offset: int) -> None: ...
    def advanced(self, filename: str, amount: int) -> None: ...
    def finished(self, filename: str, size: int) -> None: ...
    def failed(self, filename: str) -> None: ...
    def note(self, message: str) -> None: ...


class _Silent:
    def started(self, filename: str, total: int | None, offset: int) -> None:
        pass

    def advanced(self, filename: str, amount: int) -> None:
        pass

    def finished(self, filename: str, size: int) -> None:
        pass

    def failed(self, filename: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


SILENT: Progress = _Silent()


_UNITS = ("bytes", "kB", "MB", "GB", "TB")


def human_size(size: float) -> str:
    """Decimal units, as pip and most download tools show them: ``3.2 GB``, ``512 bytes``."""
    if size < 1000:
        return f"{int(size)} {'byte' if int(size) == 1 else 'bytes'}"
    for unit in _UNITS[1:]:
        size /= 1000
        if size < 1000 or unit == _UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _rate(size: int, seconds: float) -> str:
    return f"{human_size(size / seconds)}/s" if seconds > 0 else "-"


class StreamProgress:
    """Render :class:`constraints_gen.install.download.Progress` events on ``stream``
    (thread-safe)."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._files: dict[str, tuple[int, int | None, float]] = {}  # name -> (done, total, t0)
        self._finished = 0
        self._bytes = 0  # this run's bytes, over all files
        self._last_draw = 0.0
        self._drawn = False

    def started(self, filename: str, total: int | None, offset: int) -> None:
        with self._lock:
            self._files[filename] = (offset, total, time.monotonic())
            if offset and not self._live:
                shown = f" of {human_size(total)}" if total else ""
                self._write(f"resuming {filename} at {human_size(offset)}{shown}")
            self._draw()

    def advanced(self, filename: str, amount: int) -> None:
        with self._lock:
            done, total, t0 = self._files.get(filename, (0, None, time.monotonic()))
            self._files[filename] = (done + amount, total, t0)
            self._bytes += amount
            self._draw()

    def finished(self, filename: str, size: int) -> None:
        with self._lock:
            _, _, t0 = self._files.pop(filename, (0, None, time.monotonic()))
            self._finished += 1
            seconds = time.monotonic() - t0
            self._write(f"fetched {filename} ({human_size(size)}, {_rate(size, seconds)})")
            self._draw(force=True)

    def failed(self, filename: str) -> None:
        with self._lock:
            self._files.pop(filename, None)
            self._draw(force=True)

    def note(self, message: str) -> None:
        with self._lock:
            self._write(message)
            self._draw(force=True)

    def close(self) -> None:
        with self._lock:
            self._clear()

    def _write(self, line: str) -> None:
        self._clear()
        self._stream.write(shown(line) + "\n")  # a retry note quotes the server's reason
        self._stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._drawn = False

    def _draw(self, *, force: bool = False) -> None:
        if not self._live or not self._files:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done = sum(d for d, _, _ in self._files.values())
        known = [t for _, t, _ in self._files.values() if t]
        total = f" of {human_size(sum(known))}" if len(known) == len(self._files) else ""
        name, (part, size, _) = min(
            self._files.items(), key=lambda item: (item[1][0] / item[1][1]) if item[1][1] else 0
        )
        percent = f" {100 * part // size}%" if size else ""
        line = (
            f"{plural(self._finished, 'file')} done, {len(self._files)} downloading:"
            f" {human_size(done)}{total}, {_rate(self._bytes, now - self._started)};"
            f" {name}{percent}"
        )
        self._stream.write("\r\x1b[K" + shown(line)[:200])
        self._stream.flush()
        self._drawn = True
