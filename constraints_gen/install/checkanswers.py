"""A cache of the answers of ``wheelhouse check``: an unchanged folder is answered without loading
the profiles, parsing the locks or classifying the wheels, but never without checking what the
answer stands on (a cache may save work, never a check).

The question (the entry's key) is the command as given: the project, ``--root`` and the
wheelhouse folder (as written, they are in the output, and absolute), the working folder,
``--profile``, ``--all``, ``--python``, ``--json``; the code (this package's version and the
identity of each module, :func:`constraints_gen.locks.answers.code_key`, and of packaging's,
which parses wheel names and tags); the hardware readout when selection uses one (live detection
is never cached); the running CPython; and a digest of ``$GEN_CONSTRAINTS_MIRRORS``.

Only an exact folder (exit 0) is remembered, with the output the command printed (``hashed``:
0, the wheels a served answer reads) and the messages it said. A hit is served only when:

- every ``profiles/*.toml`` (the listing too), constraints-gen.toml and the readout file have
  the identity they had (:func:`constraints_gen.caches.identity`: device, inode, size, mtime and
  ctime in nanoseconds, which an edit that puts size and mtime back still changes);
- each lock and its constraints.txt has the identity it had, and both are read again: each body
  matches the digest in its header, and the header is the one the check verified;
- the folder lists exactly as it did (a wheel added or removed is a miss) and each ``*.whl``
  entry has the identity it had: the sha256s the answer stands on were taken from those very
  bytes, as the hash cache (``install/wheelhouse.py``: :class:`HashCache`) trusts them.

Anything else is a miss, and the whole check runs. Only answers from committed locks are kept
(an on-demand lock lives in the user cache), and only when no input changed within the clock's
resolution of the command's start (:func:`constraints_gen.caches.racy`). Entries follow the
rules of :mod:`constraints_gen.caches` (user cache, sealed JSON; a malformed or forged entry is a
miss, never trusted).

Imports no more than emit's answer cache: a hit must cost less than the check it saves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constraints_gen import caches
from constraints_gen.locks import answers
from constraints_gen.redact import url_digest
from constraints_gen.reporter import REPORT, Kind

if TYPE_CHECKING:
    from constraints_gen.install.wheelhouse import LockRef
    from constraints_gen.profiles.project import Project

#: Their own folder in the user cache (emit's answers are ``answers``)
CHECKS = caches.Cache("wheelhouse-checks", 1)

#: one lock pair: its two files (absolute) and the header each had when the check verified it
_PAIR = caches.record(
    profile=caches.is_str,
    python=caches.is_str,
    platform=caches.is_str,
    lock=caches.is_str,
    lock_head=caches.is_str,
    constraints=caches.is_str,
    constraints_head=caches.is_str,
)
_ENTRY = caches.record(
    files=answers.INPUTS,  # profiles/*.toml, constraints-gen.toml, the readout (Question.files)
    pairs=caches.list_of(_PAIR),
    locks=answers.INPUTS,  # each pair's two files
    folder=caches.list_of(caches.is_str),  # the wheelhouse's listing
    wheels=answers.INPUTS,  # its *.whl entries
    output=caches.is_str,
    messages=caches.list_of(
        lambda item: (
            type(item) is list
            and len(item) == 2
            and item[0] in ("info", "always")
            and caches.is_str(item[1])
        )
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """One ``wheelhouse check`` as asked: the key of its answer and the files it reads."""

    project: Project
    folder: Path
    key: dict[str, Any]
    files: tuple[str, ...]  # absolute: profiles/*.toml, constraints-gen.toml, the readout


@dataclass(frozen=True, slots=True, kw_only=True)
class Before:
    """What the inputs were before the check read them (see :func:`observe`)."""

    started: int  # time.time_ns()
    files: answers.Inputs
    listing: list[str]
    wheels: answers.Inputs


def question(
    project: Project,
    *,
    root: Path | None,
    hardware: Path | None,
    names: Sequence[str],
    every: bool,
    pythons: Sequence[str],
    folder: Path,
    as_json: bool,
) -> Question | None:
    """The question a ``wheelhouse check`` asks; None when its answer is never cached (the
    machine detected live, or options that are a usage error)."""
    from constraints_gen.profiles.choose import HARDWARE_ENV

    if every and names:
        return None
    env = os.environ.get(HARDWARE_ENV) if hardware is None else None
    chosen = "named" if (names or every) else None  # a readout matters only without these
    try:
        found = answers.selection_files(project, hardware, chosen, env)
    except OSError:
        return None  # no profiles folder: the check says what is wrong
    if found is None:
        return None
    files, readout = found
    files.append(str(project.root / "constraints-gen.toml"))
    mirrors = os.environ.get("GEN_CONSTRAINTS_MIRRORS")
    try:
        where = os.getcwd()  # relative paths are part of the output
    except OSError:
        return None  # the working folder is gone: nothing to key on
    key = {
        "command": "wheelhouse check",
        "code": answers.code_key(),
        "packaging": _packaging_identity(),
        "python": list(sys.version_info[:3]),
        "mirrors": None if mirrors is None else url_digest(mirrors),
        "cwd": where,
        "root": [str(project.root), os.path.abspath(project.root), project.builtin],
        "given_root": None if root is None else str(root),
        "folder": [str(folder), os.path.abspath(folder)],
        "names": list(names),
        "every": every,
        "pythons": list(pythons),
        "readout": readout,
        "json": as_json,
        "files": files,
    }
    return Question(
        project=project,
        folder=folder,
        key=key,
        files=tuple(os.path.abspath(path) for path in files),
    )


def _packaging_identity() -> list[tuple[str, int, int, int]]:
    """The identity of packaging's modules: it parses the wheel names and ranks their tags."""
    import packaging  # its __init__ only: a few assignments

    folder = os.path.dirname(packaging.__file__ or "")
    found = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".py"):
            stat = entry.stat()
            found.append((entry.path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return sorted(found)


def _listing(folder: Path) -> list[str] | None:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return None


def _wheel_paths(folder: Path, listing: Sequence[str]) -> list[str]:
    """The entries ``wheelhouse check`` looks at (``*.whl``, in any case), absolute."""
    base = os.path.abspath(folder)
    return [os.path.join(base, name) for name in listing if name.lower().endswith(".whl")]


def _paths(found: Sequence[Sequence[Any]]) -> list[str]:
    return [path for path, _ in found]


def served(asked: Question) -> str | None:
    """The output of a remembered check whose inputs are all unchanged, its locks read and
    their seals checked now; what it said is said again. None on a miss."""
    value = CHECKS.get(asked.key, _ENTRY)
    if value is None or _paths(value["files"]) != list(asked.files):
        return None
    listing = _listing(asked.folder)
    if listing is None or listing != value["folder"]:
        return None  # a wheel added or removed
    if _paths(value["wheels"]) != _wheel_paths(asked.folder, listing):
        return None
    pairs = value["pairs"]
    locks = [path for pair in pairs for path in (pair["lock"], pair["constraints"])]
    if _paths(value["locks"]) != locks:
        return None
    if not all(answers.unchanged(value[part]) for part in ("files", "locks", "wheels")):
        return None
    if not all(_still_sealed(pair) for pair in pairs):
        return None
    REPORT.replay([(kind, line) for kind, line in value["messages"]])
    output: str = value["output"]
    return output


def _still_sealed(pair: dict[str, Any]) -> bool:
    """Are the pair's lock and constraints.txt, read now, sealed with the headers the check
    verified, and do those name the pair's target?"""
    for field in ("lock", "constraints"):
        head = pair[f"{field}_head"]
        if not answers.head_names(head, pair["profile"], pair["python"], pair["platform"]):
            return False
        try:
            sealed = answers.split_sealed(Path(pair[field]).read_bytes())
        except OSError:
            return False
        if sealed is None or sealed[0] != head:
            return False
    return True


def observe(asked: Question) -> Before | None:
    """The inputs' identities and the folder's listing before the check reads them; None when
    one cannot be read (then nothing is remembered)."""
    import time

    started = time.time_ns()
    listing = _listing(asked.folder)
    if listing is None:
        return None
    files = answers.inputs(asked.files)
    wheels = answers.inputs(_wheel_paths(asked.folder, listing))
    if files is None or wheels is None:
        return None
    return Before(started=started, files=files, listing=listing, wheels=wheels)


def remember(
    asked: Question,
    before: Before,
    locks: Sequence[LockRef],
    output: str,
    said: Sequence[tuple[Kind, str]],
) -> None:
    """Remember the output of an exact folder's check: only when nothing it read changed since
    shortly before it started, and every lock is a committed one, sealed as it was read."""
    from constraints_gen.locks.file import constraints_beside

    if not (
        answers.settled(before.files, before.started)
        and answers.settled(before.wheels, before.started)
        and _listing(asked.folder) == before.listing
        and answers.inputs(_paths(before.files)) == before.files
        and answers.inputs(_paths(before.wheels)) == before.wheels
    ):
        return
    project = asked.project
    pairs: list[dict[str, Any]] = []
    found: answers.Inputs = []
    for lock in locks:
        committed = {project.lock_path(lock.profile, lock.python, p) for p in (None, lock.platform)}
        if lock.path not in committed:
            return  # on demand: where it is found depends on more than these inputs
        pair = {"profile": lock.profile, "python": lock.python, "platform": lock.platform}
        for field, path in (("lock", lock.path), ("constraints", constraints_beside(lock.path))):
            absolute = os.path.abspath(path)
            try:
                ident = caches.identity(absolute)
                sealed = answers.split_sealed(Path(absolute).read_bytes())
            except OSError:
                return
            # changed since shortly before the check read it: what is sealed now may not be
            # what the check verified
            if ident is None or caches.racy(ident, before.started) or sealed is None:
                return
            pair[field], pair[f"{field}_head"] = absolute, sealed[0]
            found.append((absolute, ident))
        if not _still_sealed(pair):
            return
        pairs.append(pair)
    value = {
        "files": before.files,
        "pairs": pairs,
        "locks": found,
        "folder": before.listing,
        "wheels": before.wheels,
        "output": output,
        "messages": [list(message) for message in said],
    }
    CHECKS.put(asked.key, value)
