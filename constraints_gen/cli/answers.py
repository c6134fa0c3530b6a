"""A cache of the answers of emit and ``lock --check``: they skip loading the profiles when
nothing changed.

An answer (emit's constraints text and messages; the report of ``lock --check`` when every lock is
fresh) depends only on what the command reads, so a cache entry records every input and is served
only when all of them are still the same. For emit:

- the command: --profile, --python (else this interpreter and machine), --strict, the project;
- the code: this package's version and the identity (size, mtime) of each of its modules;
- the hardware readout (--hardware or $GEN_CONSTRAINTS_HARDWARE) when selection uses one; live
  detection is never cached;
- the files: every ``profiles/*.toml`` (the listing too: a new profile can change the selection),
  the readout file, the lock and constraints file the answer came from, and constraints-gen.toml
  with $GEN_CONSTRAINTS_MIRRORS (emit names the pins' indexes, mirrors applied).

For ``lock --check``: the profile names and Pythons asked for, the code, every ``profiles/*.toml``
and every lock and constraints file checked (whole files).

Each file is compared by identity (device, inode, size, mtime) AND by content (the entry holds
its bytes): an edit that keeps size and mtime is still seen, so a stale answer is never served.
Only answers from a committed lock are cached (an on-demand lock lives in the user cache), and
only when the files did not change while the answer was computed. The entries live in the user
cache (``cache_dir()/answers``); a cache that cannot be read or written is simply not used.

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
from constraints_gen.profiles.project import Project, cache_dir
from constraints_gen.redact import redact, url_digest

_FORMAT = 3  # 3: no folder states (sync and wheelhouse check are not cached)
#: (path, device, inode, size, mtime_ns, content); content None: the file did not exist (size
#: -1) or could not be read (size -2)
Snapshot = tuple[str, int, int, int, int, bytes | None]


def _machine() -> str:
    # emit decides with platform.machine(); importing platform costs more than a hit, and on
    # POSIX platform.machine() is os.uname().machine (a test may have replaced it: use it then)
    if "platform" in sys.modules or not hasattr(os, "uname"):
        import platform

        return platform.machine()
    return os.uname().machine


def _code_identity() -> tuple[tuple[str, int, int], ...]:
    package = Path(__file__).parent.parent  # constraints_gen/, and each stage's folder
    found = []
    for folder in (package, *(p for p in package.iterdir() if p.is_dir() and p.name[0] != "_")):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py"):
                stat = entry.stat()
                found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


def code_key() -> tuple[Any, ...]:
    """The format of the entries, the package's version and the identity of its modules."""
    return (_FORMAT, __version__, _code_identity())


def selection_files(
    project: Project, hardware: Path | None, profile: str | None, hardware_env: str | None
) -> tuple[list[str], object] | None:
    """(files, readout text) that choose the profile; None for live detection (not cached)."""
    files = profile_files(project)
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
    return files, readout


def emit_key(
    project: Project,
    *,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
    hardware_env: str | None,
) -> tuple[tuple[Any, ...], tuple[str, ...]] | None:
    """(key, input files) of one emit, or None when it cannot be cached (live detection)."""
    found = selection_files(project, hardware, profile, hardware_env)
    if found is None:
        return None
    files, readout = found
    files.append(str(project.root / "constraints-gen.toml"))  # its [mirrors]: in the text
    mirrors = os.environ.get("GEN_CONSTRAINTS_MIRRORS")
    mirrors = None if mirrors is None else url_digest(mirrors)  # a key holds no URL (redact)
    here = None if python is not None else (sys.version_info[:2], sys.platform, _machine())
    key = (
        "emit",
        mirrors,
        *code_key(),
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


def profile_files(project: Project) -> list[str]:
    """Every ``profiles/*.toml`` (what load_profiles reads), sorted."""
    folder = project.profiles_dir
    return [str(folder / name) for name in sorted(os.listdir(folder)) if name.endswith(".toml")]


def snapshot(path: str) -> Snapshot:
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            content: bytes | None = handle.read()
    except FileNotFoundError:
        return (path, 0, 0, -1, 0, None)
    except OSError:  # a folder, no permission...: an entry with it is never served
        return (path, 0, 0, -2, 0, None)
    if content is not None and b"@" in content:  # constraints-gen.toml's mirrors: never stored
        content = redact(content.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )
    return (path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, content)


def _still(entry: Snapshot) -> bool:
    """Is the file as recorded: the same identity and the same content (one open, one read)?"""
    return snapshot(entry[0]) == entry


def _entry_path(key: tuple[Any, ...]) -> Path:
    import zlib

    return cache_dir() / "answers" / f"{key[0]}-{zlib.crc32(repr(key).encode()):08x}.marshal"


def load(key: tuple[Any, ...]) -> Any:
    """The value stored under ``key`` when every input is unchanged, else None."""
    try:
        stored_key, inputs, value = marshal.loads(_entry_path(key).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if stored_key != key or not all(_still(entry) for entry in inputs):
        return None
    return value


def store(
    key: tuple[Any, ...],
    before: tuple[Snapshot, ...],
    value: Any,
    after: tuple[Snapshot, ...] = (),
) -> None:
    """Remember ``value``, computed from the files snapshotted ``before`` (and ``after``, taken
    once it was computed), unless they changed meanwhile; never raises. ``value`` is made of what
    marshal writes (str, tuples, numbers, None)."""
    try:
        if any(snapshot(entry[0]) != entry for entry in before):
            return
        path = _entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(marshal.dumps((key, (*before, *after), value)))
        os.replace(temp, path)
    except (OSError, ValueError):
        return


#: Margin for the kernel's coarse clock of file times (a jiffy: 1 to 10 ms)
_SETTLE_NS = 50_000_000


def settled(paths: tuple[str, ...], started: int) -> tuple[Snapshot, ...] | None:
    """Snapshots of files a command read after ``started`` (``time.time_ns()``), or None when one
    of them changed since shortly before that (its ctime, which no one can set back, is newer):
    then what the command read may not be what the snapshot holds, and nothing is stored."""
    found = []
    for path in paths:
        found.append(snapshot(path))  # then its ctime: a change in between is refused too
        try:
            if os.stat(path).st_ctime_ns >= started - _SETTLE_NS:
                return None
        except FileNotFoundError:
            if found[-1][5] is not None:
                return None
        except OSError:
            return None
    return tuple(found)


def universal(content: bytes) -> str:
    """The text ``Path.read_text`` gives for ``content`` (universal newlines)."""
    return content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
