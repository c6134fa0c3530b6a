"""A cache of the answers of emit and ``lock --check``: they skip loading the profiles when
nothing changed, but never skip checking the bytes they answer about.

An answer depends only on what the command reads, so an entry records every input's identity
(:func:`constraints_gen.caches.identity`: device, inode, size, mtime and ctime in nanoseconds,
which an edit that restores size and mtime still changes) and is served only when all of them
are the same. For emit, the question (the entry's key) is:

- the command: --profile, --python (else this interpreter and machine), --strict, the project;
- the code: this package's version and the identity of each of its modules;
- the hardware readout (--hardware or $GEN_CONSTRAINTS_HARDWARE) when selection uses one; live
  detection is never cached;
- and a digest of $GEN_CONSTRAINTS_MIRRORS (emit names the pins' indexes, mirrors applied); an
  answer whose index lines hold credentials (``USER:PASSWORD@HOST``) is never stored;
- the mirror folders the text names: the listing each had when emit checked it is kept with the
  answer and compared on a hit (:func:`listings_still`), so a folder that lost its wheels is
  checked again rather than served (a cache may save work, never a check).

Its inputs are every ``profiles/*.toml`` (the listing too: a new profile can change the
selection), the readout file and constraints-gen.toml. The answer is which lock pair was chosen
(profile, CPython, platform) and the exact header each of the two files had when they were read
whole and verified. A hit reads both files again: what emit prints is the constraints file's own
bytes, read now, whose body matches the digest in its header, whose header is the one the
answer stands on and names the profile, CPython and platform asked for; anything else is a miss,
and the whole work runs (and refuses a tampered file). ``lock --check``'s all-fresh report is
served the same way: every lock and constraints file is read and its body digest checked.

Only answers from a committed lock are cached (an on-demand lock lives in the user cache), and
only when no input changed within the clock's resolution of the command's start
(:func:`constraints_gen.caches.racy`). The entries are JSON in the user cache
(``cache_dir()/answers``), under the rules of :mod:`constraints_gen.caches`; a cache that cannot
be read or written, or may not be trusted, is simply not used.

Imports nothing beyond the standard library's cheapest modules, json and hashlib: a hit must
cost less than parsing the profiles.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from constraints_gen import __version__, caches
from constraints_gen.profiles.project import Project
from constraints_gen.redact import url_digest
from constraints_gen.reporter import KINDS, Kind

_FORMAT = 5  # 4: JSON entries, file identities with ctime, files checked on every hit; 5: kinds
#: of messages (constraints_gen.reporter.Capture)
ANSWERS = caches.Cache("answers", _FORMAT)
HEAD_LINES = 5  # locks/file.py HEAD_LINES: a generated file's header

#: (path, identity) of each input
Inputs = list[tuple[str, caches.Identity | None]]

#: the shape of a stored ``Inputs``
INPUTS = caches.list_of(
    lambda item: (
        type(item) is list
        and len(item) == 2
        and caches.is_str(item[0])
        and caches.is_identity(item[1])
    )
)
#: one lock pair an answer stands on: profile, CPython, platform, layout folder (or null), and
#: the header of the lock and of its constraints.txt as they were verified
_PAIR = caches.record(
    profile=caches.is_str,
    python=caches.is_str,
    platform=caches.is_str,
    layout=caches.optional(caches.is_str),
    lock_head=caches.is_str,
    constraints_head=caches.is_str,
)
#: [kind, line] of each message a command said (constraints_gen.reporter.Reporter.capture)
SAID = caches.list_of(
    lambda item: (
        type(item) is list and len(item) == 2 and item[0] in KINDS and caches.is_str(item[1])
    )
)
#: [folder, [names...]]: each mirror folder's listing when the command checked it
FOLDERS = caches.list_of(
    lambda item: (
        type(item) is list
        and len(item) == 2
        and caches.is_str(item[0])
        and caches.list_of(caches.is_str)(item[1])
    )
)
_EMIT = caches.record(
    inputs=INPUTS,
    pair=_PAIR,
    options=caches.list_of(caches.list_of(caches.is_str)),  # [# Index line, option line]
    messages=SAID,
    folders=FOLDERS,
)
_CHECK = caches.record(inputs=INPUTS, pairs=caches.list_of(_PAIR), lines=SAID)


def _machine() -> str:
    # emit decides with platform.machine(); importing platform costs more than a hit, and on
    # POSIX platform.machine() is os.uname().machine (a test may have replaced it: use it then)
    if "platform" in sys.modules or not hasattr(os, "uname"):
        import platform

        return platform.machine()
    return os.uname().machine


def _code_identity() -> list[tuple[str, int, int, int]]:
    package = Path(__file__).parent.parent  # constraints_gen/, and each stage's folder
    found = []
    for folder in (package, *(p for p in package.iterdir() if p.is_dir() and p.name[0] != "_")):
        for entry in os.scandir(folder):
            if entry.name.endswith(".py"):
                stat = entry.stat()
                found.append((entry.path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return sorted(found)


def code_key() -> dict[str, Any]:
    """The package's version and the identity of its modules."""
    return {"version": __version__, "modules": _code_identity()}


def profile_files(project: Project) -> list[str]:
    """Every ``profiles/*.toml`` (what load_profiles reads, in any case: its glob ignores case
    on Windows), sorted."""
    folder = project.profiles_dir
    names = sorted(os.listdir(folder))
    return [str(folder / name) for name in names if name.lower().endswith(".toml")]


def inputs(paths: Sequence[str]) -> Inputs | None:
    """The identity of each of ``paths`` now; None when one cannot be read (not cacheable)."""
    try:
        return [(path, caches.identity(path)) for path in paths]
    except OSError:
        return None


def unchanged(stored: list[list[Any]]) -> bool:
    """Has each stored input the identity it had (a stored null: it still does not exist)?"""
    try:
        for path, ident in stored:
            now = caches.identity(path)
            if (None if now is None else list(now)) != ident:
                return False
    except OSError:
        return False
    return True


def settled(found: Inputs, started: int) -> bool:
    """No input changed since shortly before the command started (see caches.racy)."""
    return not any(caches.racy(ident, started) for _, ident in found)


# -- the bytes an answer stands on ------------------------------------------------------------


def head_names(head: str, profile: str, python: str, platform: str) -> bool:
    """Does a generated file's ``head`` name this profile, CPython and platform (the first line
    as locks/file.py writes it)?"""
    first = head.split("\n", 1)[0]
    return first.startswith("# constraints_gen ") and first.endswith(
        f": profile {profile}, CPython {python}, {platform}. Do not edit."
    )


def split_sealed(data: bytes) -> tuple[str, bytes] | None:
    """(head, bytes) of a generated file whose body matches the sha256 in its Integrity line,
    else None; the bytes with CRLF line ends as LF, as the verified reader reads them. Works on
    bytes: the body is hashed where it lies, never decoded (a lock can be megabytes)."""
    import hashlib

    if data.find(b"\r") >= 0:  # memchr; `b"\r\n" in data` costs 0.5 ms on a 100 kB lock
        data = data.replace(b"\r\n", b"\n")
    end = -1
    for _ in range(HEAD_LINES):
        end = data.find(b"\n", end + 1)
        if end < 0:
            return None
    try:
        head = data[: end + 1].decode("utf-8")
    except UnicodeDecodeError:
        return None
    integrity = head.split("\n")[HEAD_LINES - 1]
    digest = integrity.rpartition(" body sha256:")[2]
    if not integrity.startswith("# Integrity: lock format ") or len(digest) != 64:
        return None
    if hashlib.sha256(memoryview(data)[end + 1 :]).hexdigest() != digest:
        return None
    return head, data


def _fingerprint(head: str) -> str:
    return head.split("\n")[3]


def read_pair(project: Project, pair: dict[str, Any]) -> str | None:
    """The text of the constraints file of ``pair`` (a stored answer's lock pair), read now,
    when both files are sealed (bodies match their digests), their headers are the ones stored,
    name the pair's profile, CPython and platform, and share one fingerprint; else None."""
    profile, python, platform = pair["profile"], pair["python"], pair["platform"]
    lock_head, constraints_head = pair["lock_head"], pair["constraints_head"]
    if not (
        head_names(lock_head, profile, python, platform)
        and head_names(constraints_head, profile, python, platform)
        and _fingerprint(lock_head) == _fingerprint(constraints_head)
    ):
        return None
    texts: list[bytes] = []
    for path, head in (
        (project.lock_path(profile, python, pair["layout"]), lock_head),
        (project.constraints_path(profile, python, pair["layout"]), constraints_head),
    ):
        try:
            sealed = split_sealed(path.read_bytes())
        except OSError:
            return None
        if sealed is None or sealed[0] != head:
            return None
        texts.append(sealed[1])
    try:
        return texts[1].decode("utf-8")
    except UnicodeDecodeError:
        return None


def stored_pair(
    project: Project, profile: str, python: str, platform: str, layout: str | None, started: int
) -> dict[str, Any] | None:
    """The lock pair a command just read and verified, to store with its answer; None when one
    of the files changed since shortly before the command started (what is read now may not be
    what it verified) or is not sealed."""
    pair: dict[str, Any] = {"profile": profile, "python": python, "platform": platform,
                            "layout": layout}  # fmt: skip
    for field, path in (
        ("lock_head", project.lock_path(profile, python, layout)),
        ("constraints_head", project.constraints_path(profile, python, layout)),
    ):
        try:
            ident = caches.identity(path)
            sealed = split_sealed(path.read_bytes())
        except OSError:
            return None
        if ident is None or caches.racy(ident, started) or sealed is None:
            return None
        pair[field] = sealed[0]
    return pair if read_pair(project, pair) is not None else None


def render(text: str, options: Sequence[Sequence[str]]) -> str | None:
    """Emit's text: each ``# Index NAME: URL`` line of ``text`` followed by its stored option
    line (mirrors applied), as locks/file.py ``emitted_text`` writes it; None when the stored
    options are not for these lines."""
    if not options:
        return None if "\n# Index " in text else text
    out, pending = [], list(options)
    for line in text.split("\n"):
        out.append(line)
        if line.startswith("# Index "):
            if not pending or len(pending[0]) != 2 or pending[0][0] != line:
                return None
            out.append(pending.pop(0)[1])
    return None if pending else "\n".join(out)


# -- emit ------------------------------------------------------------------------------------


def _digest(text: str | None) -> str | None:
    """A digest of a value that may hold credentials (a mirror URL): keys never hold a URL."""
    return None if text is None else url_digest(text)


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
) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """(key, input files) of one emit, or None when it cannot be cached (live detection)."""
    found = selection_files(project, hardware, profile, hardware_env)
    if found is None:
        return None
    files, readout = found
    files.append(str(project.root / "constraints-gen.toml"))  # its [mirrors]: in the text
    here = None if python is not None else [*sys.version_info[:2], sys.platform, _machine()]
    key = {
        "command": "emit",
        "mirrors": _digest(os.environ.get("GEN_CONSTRAINTS_MIRRORS")),
        "code": code_key(),
        "root": str(project.root),
        "builtin": project.builtin,
        "profile": profile,
        "python": python,
        "strict": strict,
        "readout": readout,
        "here": here,
        "files": files,
    }
    return key, tuple(files)


def load_emit(
    project: Project, key: dict[str, Any]
) -> tuple[str, list[tuple[Kind, str]], dict[str, Any]] | None:
    """(text, messages said, the lock pair it stands on) of a cached emit, its constraints read
    and checked now; None on a miss."""
    value = ANSWERS.get(key, _EMIT)
    if value is None or not unchanged(value["inputs"]):
        return None
    if not listings_still(value["folders"]):
        return None  # a mirror folder changed: emit checks it again
    pair = value["pair"]
    if key["profile"] is not None and pair["profile"] != key["profile"]:
        return None  # an answer for another question than the one asked
    asked = key["python"] or "{}.{}".format(*sys.version_info[:2])
    if pair["python"] != asked:
        return None
    text = read_pair(project, pair)
    if text is None:
        return None
    rendered = render(text, value["options"])
    if rendered is None:
        return None
    said = [(kind, line) for kind, line in value["messages"]]
    return rendered, said, pair


def store_emit(
    project: Project,
    key: dict[str, Any],
    before: Inputs,
    started: int,
    *,
    profile: str,
    python: str,
    platform: str,
    layout: str | None,
    text: str,
    options: Sequence[str],
    said: Sequence[tuple[Kind, str]],
    folders: Sequence[tuple[str, Sequence[str]]] = (),
) -> None:
    """Remember emit's answer: the pair it read and the option lines (mirrors applied) that
    follow its ``# Index`` lines; only when nothing changed meanwhile and the stored answer
    renders exactly ``text``."""
    if not settled(before, started) or inputs([p for p, _ in before]) != before:
        return
    pair = stored_pair(project, profile, python, platform, layout, started)
    if pair is None:
        return
    if any("@" in option for option in options):
        return  # an index URL with credentials: never written into a cache file
    index_lines = [line for line in text.split("\n") if line.startswith("# Index ")]
    stored_options = [list(pair) for pair in zip(index_lines, options, strict=False)]
    value = {"inputs": before, "pair": pair, "options": stored_options,
             "messages": [list(message) for message in said],
             "folders": [[folder, list(names)] for folder, names in folders]}  # fmt: skip
    sealed = read_pair(project, pair)
    if sealed is None or render(sealed, stored_options) != text:
        return
    ANSWERS.put(key, value)


def listings_still(folders: Sequence[Sequence[Any]]) -> bool:
    """Does each folder still list exactly as recorded? (The mirror folders an emitted text names:
    a cache may save work, never a check, so a folder that lost its wheels, or is gone, is a
    miss and emit checks it again.) One listdir per folder, no file read."""
    for folder, names in folders:
        try:
            if sorted(os.listdir(folder)) != list(names):
                return False
        except OSError:
            return False
    return True


# -- lock --check ----------------------------------------------------------------------------


def check_key(project: Project, names: Sequence[str], pythons: Sequence[str]) -> dict[str, Any]:
    return {
        "command": "check",
        "code": code_key(),
        "root": str(project.root),
        "names": list(names),
        "pythons": list(pythons),
    }


def load_check(project: Project, key: dict[str, Any]) -> list[tuple[Kind, str]] | None:
    """The messages (kind, line) of a cached all-fresh ``lock --check``, every lock pair read
    and checked now; None on a miss."""
    value = ANSWERS.get(key, _CHECK)
    if value is None or not unchanged(value["inputs"]):
        return None
    if [path for path, _ in value["inputs"]] != profile_files(project):
        return None
    if not all(read_pair(project, pair) is not None for pair in value["pairs"]):
        return None
    return [(kind, line) for kind, line in value["lines"]]


def store_check(
    project: Project,
    key: dict[str, Any],
    before: Inputs,
    started: int,
    targets: Sequence[tuple[str, str, str, str | None]],
    said: Sequence[tuple[Kind, str]],
) -> None:
    """Remember an all-fresh report of ``targets`` (profile, CPython, platform, layout)."""
    if not settled(before, started) or inputs([p for p, _ in before]) != before:
        return
    pairs = []
    for target in targets:
        pair = stored_pair(project, *target, started)
        if pair is None:
            return
        pairs.append(pair)
    ANSWERS.put(key, {"inputs": before, "pairs": pairs, "lines": [list(line) for line in said]})
