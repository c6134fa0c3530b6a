"""A cache of emit's answer: the default command skips loading the profiles when nothing changed.

Emit's answer (the constraints text and its messages) depends only on what it reads, so a cache
entry records every input and is served only when all of them are still the same:

- the command: --profile, --python (else this interpreter and machine), --strict, the project;
- the code: this package's version and the identity (size, mtime) of each of its modules;
- the hardware readout (--hardware or $GEN_CONSTRAINTS_HARDWARE) when selection uses one; live
  detection is never cached;
- the files: every ``profiles/*.toml`` (the listing too: a new profile can change the selection),
  the readout file, and the constraints file the answer came from.

Each file is compared by identity (device, inode, size, mtime) AND by content (the entry holds
its bytes): an edit that keeps size and mtime is still seen, so a stale answer is never served.
Only answers from a committed lock are cached (an on-demand lock lives in the user cache), and
only when the files did not change while the answer was computed. The entries live in the user
cache (``cache_dir()/emit``); a cache that cannot be read or written is simply not used.

Imports nothing beyond the standard library's cheapest modules: a hit must cost less than
parsing the profiles.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any

from constraints_gen import __version__
from constraints_gen.project import Project, cache_dir

_FORMAT = 1
#: (path, device, inode, size, mtime_ns, content); content None: the file did not exist
Snapshot = tuple[str, int, int, int, int, bytes | None]


def _machine() -> str:
    # emit decides with platform.machine(); importing platform costs more than a hit, and on
    # POSIX platform.machine() is os.uname().machine (a test may have replaced it: use it then)
    if "platform" in sys.modules or not hasattr(os, "uname"):
        import platform

        return platform.machine()
    return os.uname().machine


def _code_identity() -> tuple[tuple[str, int, int], ...]:
    package = Path(__file__).parent
    found = []
    for folder in (package, *(p for p in package.iterdir() if p.is_dir() and p.name[0] != "_")):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py"):
                stat = entry.stat()
                found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


def command_key(
    project: Project,
    *,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
    hardware_env: str | None,
) -> tuple[tuple[Any, ...], tuple[str, ...]] | None:
    """(key, input files) of one emit, or None when it cannot be cached (live detection)."""
    files = [str(project.profiles_dir / name) for name in _profile_files(project.profiles_dir)]
    readout: object = None
    if profile is None:
        if hardware is not None:
            files.append(str(hardware))
        elif hardware_env and hardware_env.lstrip().startswith(("{", "[")):
            readout = hardware_env
        elif hardware_env:
            files.append(hardware_env)
        else:
            return None
    here = None if python is not None else (sys.version_info[:2], sys.platform, _machine())
    key = (
        _FORMAT,
        __version__,
        _code_identity(),
        str(project.root),
        project.builtin,
        profile,
        python,
        strict,
        readout,
        here,
        tuple(files),
    )
    return key, tuple(files)


def _profile_files(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".toml"))


def snapshot(path: str) -> Snapshot:
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            content: bytes | None = handle.read()
    except FileNotFoundError:
        return (path, 0, 0, -1, 0, None)
    return (path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, content)


def _still(entry: Snapshot) -> bool:
    """Is the file as recorded: identity first (cheap), then content?"""
    path = entry[0]
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return entry[5] is None
    if (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns) != entry[1:5]:
        return False
    return snapshot(path) == entry


def _entry_path(key: tuple[Any, ...]) -> Path:
    import zlib

    return cache_dir() / "emit" / f"{zlib.crc32(repr(key).encode()):08x}.marshal"


def load(key: tuple[Any, ...]) -> tuple[str, tuple[str, ...], str] | None:
    """(text, emit's notices, its closing notice) when every input is unchanged."""
    try:
        data = marshal.loads(_entry_path(key).read_bytes())
        stored_key, inputs, value = data
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if stored_key != key or not all(_still(entry) for entry in inputs):
        return None
    text, (notices, final) = value
    return text, tuple(notices), final


def store(
    key: tuple[Any, ...],
    before: tuple[Snapshot, ...],
    constraints: str,
    text: str,
    messages: tuple[tuple[str, ...], str],
) -> None:
    """Remember an answer computed from the files snapshotted ``before``, unless they changed
    meanwhile or the constraints file no longer holds ``text``; never raises."""
    try:
        after = snapshot(constraints)
        if after[5] is None or _universal(after[5]) != text:
            return
        if any(snapshot(entry[0]) != entry for entry in before):
            return
        path = _entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(marshal.dumps((key, (*before, after), (text, messages))))
        os.replace(temp, path)
    except (OSError, UnicodeDecodeError, ValueError):
        return


def _universal(content: bytes) -> str:
    """The text ``Path.read_text`` gives for ``content`` (universal newlines)."""
    return content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
