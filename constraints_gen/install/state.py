"""The environment state: what the last verify found intact, so that the next costs what changed.

After a verify that passed, the state records, for the environment's interpreter (one entry per
interpreter path, in the named cache ``verified-env`` of :mod:`constraints_gen.caches`: sealed,
owner-only, a malformed or forged entry is a miss):

- what the probes depend on (:func:`depends`): the interpreter's identity and its
  ``pyvenv.cfg``, the lock's sha256, the profile's name, vendor and ``[verify] imports``, the names
  of the stack the default imports come from, deep or not, the tool's version and the probe's own
  text (``install/_in_target_probe.py``), the machine's readout (a GPU profile) and the environment
  variables the probes inherit (all but the shell's bookkeeping: :data:`IGNORED`). Two tiers:
  what the hashing of files against their RECORD depends on (:data:`FILE_DEPENDS`: the
  interpreter, ``pyvenv.cfg``, deep, the tool and the probe) and the rest, which only the
  version check and the import and GPU probes depend on; when only the rest differs, the files
  that kept their identities are not hashed again, and those checks and probes run again;
- per distribution (its ``.dist-info`` folder): the identity of RECORD and of each file it
  lists (device, inode, size, mtime_ns, ctime_ns: an edit that puts size and mtime back still
  moves the ctime), and of each folder holding one, with a digest of the folder's names
  (``__pycache__`` left out: imports write it), all taken by the probe BEFORE it read them;
- each folder of the target's ``sys.path`` the same way, and each ``.pth`` file in it.

The next verify stats all of it (:func:`compare`), in this process, without starting the
target. Nothing differs: the probes are skipped, and the report is the stored one. Something
differs: the target is read again; every distribution whose RECORD, files or folders differ is
hashed again, and so is any ``.dist-info`` the state does not know (a package installed or
replaced behind the tool's back); a folder whose identity moved but whose names did not (a
``__pycache__`` written) counts as unchanged; the import and GPU probes run again. A file added
to a package's folder, a ``.pth`` or a ``.dist-info`` added to ``site-packages``, each changes a
listing. A state is advice: it saves work, never a check of the bytes; ``--full`` ignores it.
An identity whose ctime is within the clock's margin of the check (:func:`caches.racy`) is
stored as unknown, which counts as changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constraints_gen import caches

if TYPE_CHECKING:
    from constraints_gen.install.findings import Report
    from constraints_gen.profiles.manifest import Manifest
    from constraints_gen.profiles.model import Profile

STATE = caches.Cache("verified-env", 2)  # 2: each folder's names as one text

#: Variables that cannot change what the probes find (the shell's bookkeeping). Every other one
#: is a dependency: the probes inherit the environment, and any package may read any variable at
#: import (``LD_LIBRARY_PATH``, ``CUDA_VISIBLE_DEVICES``, a package's own switch).
IGNORED = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES"})


def environ_digest() -> str:
    items = sorted((k, v) for k, v in os.environ.items() if k not in IGNORED)
    return hashlib.sha256(caches.canonical(items).encode("utf-8", "surrogateescape")).hexdigest()


def listing(folder: str) -> str:
    """A digest of the names in ``folder``, ``__pycache__`` left out (the probe's rule)."""
    names = sorted(name for name in os.listdir(folder) if name != "__pycache__")
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def _stat(path: str, *, follow: bool = False) -> list[int] | None:
    """The identity of ``path`` as a list; of the link itself unless ``follow`` (a folder of
    sys.path, a .pth: as the probe takes them, following links); None when it cannot be read."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


#: The probe that runs in the target (install/readout.py copies it there): its text is a
#: dependency of every answer it gave.
PROBE = Path(__file__).with_name("_in_target_probe.py")


def file_digest(path: Path) -> str | None:
    """The sha256 of a file's bytes; None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def machine_digest(machine: object | None) -> str | None:
    """What the state keeps of the machine a GPU check ran on (its readout's repr)."""
    if machine is None:
        return None
    return hashlib.sha256(repr(machine).encode("utf-8")).hexdigest()


def depends(
    *,
    python: Path,
    lock_digest: str | None,
    profile: str,
    vendor: str,
    imports: Sequence[str] | None,
    stack: Iterable[str],
    deep: bool,
    machine: str | None,
) -> dict[str, Any]:
    """What the probes' answers depend on, beside the installed files (see the module doc);
    ``lock_digest``: :func:`file_digest` of the lock."""
    from constraints_gen import __version__

    real = os.path.realpath(python)
    return {
        "interpreter": [real, _stat(real)],
        "cfg": _stat(str(python.parent.parent / "pyvenv.cfg"), follow=True),
        "lock": lock_digest,
        "profile": [profile, vendor, None if imports is None else list(imports)],
        "stack": sorted(stack),
        "deep": deep,
        "tool": __version__,
        "probe": file_digest(PROBE),
        "machine": machine,
        "environ": environ_digest(),
    }


# --- the stored form -----------------------------------------------------------------------
# A distribution: {"name", "checked": files hashed, "record": identity, "folders": [[folder,
# identity, listing]], "files": the paths relative to the folder holding the .dist-info,
# grouped as [[folder relative to that, "name/name/..."], ...] (a name holds no "/": each is
# the last part of a normalized path; one text per folder parses ten times faster than a list
# of 24,000 strings for torch's stack); shorter to load, and each folder's files
# are stat'ed relative to it, which spares the kernel the walk of the whole path each time),
# "ids": the sha256 of the 5 numbers of each file's identity, in that order, as unsigned 64-bit
# integers (the walk builds the same list and compares one digest: 120,000 numbers for torch's
# stack need not be parsed from JSON); a file whose identity is unknown is left out, and
# "unknown" is true}. A path of sys.path: [folder, identity, listing, [[name, identity]] of each
# .pth].

_is_folder = caches.list_of(
    lambda v: (
        type(v) is list
        and len(v) == 3
        and type(v[0]) is str
        and caches.is_identity(v[1])
        and (v[2] is None or type(v[2]) is str)
    )
)
_is_pth = caches.list_of(
    lambda v: type(v) is list and len(v) == 2 and type(v[0]) is str and caches.is_identity(v[1])
)
_is_path = caches.list_of(
    lambda v: type(v) is list and len(v) == 4 and _is_folder([v[:3]]) and _is_pth(v[3])
)
_is_dist = caches.record(
    name=caches.is_str,
    checked=caches.is_int,
    record=caches.is_identity,
    folders=_is_folder,
    files=caches.list_of(
        lambda v: type(v) is list and len(v) == 2 and type(v[0]) is str and type(v[1]) is str
    ),
    ids=caches.is_str,
    unknown=lambda v: type(v) is bool,
)
_SHAPE = caches.record(
    depends=caches.dict_of(lambda v: True),
    summary=caches.dict_of(lambda v: True),
    paths=_is_path,
    dists=caches.dict_of(_is_dist),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """A stored state: its dependencies, the verified report's summary, and the identities."""

    depends: Mapping[str, Any]
    summary: Mapping[str, Any]
    paths: list[Any]
    dists: dict[str, dict[str, Any]]  # .dist-info folder -> its distribution

    def to_json(self) -> dict[str, Any]:
        return {
            "depends": dict(self.depends),
            "summary": dict(self.summary),
            "paths": self.paths,
            "dists": self.dists,
        }


def _key(python: Path) -> dict[str, str]:
    return {"python": os.path.abspath(python)}


#: The dependencies of the hashing of installed files against their RECORD (the first tier).
FILE_DEPENDS = ("interpreter", "cfg", "deep", "tool", "probe")


def load(python: Path, needs: Mapping[str, Any]) -> State | None:
    """The state of ``python`` when there is one, well-formed and sealed, whose file-tier
    dependencies (:data:`FILE_DEPENDS`) are those of ``needs``; else None. The others are
    compared by :func:`compare`."""
    value = STATE.get(_key(python), _SHAPE)
    if value is None or value["depends"].keys() != needs.keys():
        return None
    stored = value["depends"]
    if any(caches.canonical(stored[k]) != caches.canonical(needs[k]) for k in FILE_DEPENDS):
        return None
    return State(
        depends=value["depends"],
        summary=value["summary"],
        paths=value["paths"],
        dists=value["dists"],
    )


def save(python: Path, state: State) -> None:
    STATE.put(_key(python), state.to_json())


def forget(python: Path) -> None:
    """Drop the state of ``python`` (a verify that failed leaves none behind)."""
    STATE.put(_key(python), None)


# --- comparing ------------------------------------------------------------------------------


def _folder_same(
    entry: list[Any], started_ns: int, *, follow: bool = True
) -> tuple[bool, list[Any]]:
    """(are the names of a stored folder unchanged, the entry to keep); ``follow``: as the
    probe took it (a folder of sys.path: following a link; a package's folder: not)."""
    folder, ident, names = entry
    now = _stat(folder, follow=follow)
    if now == ident and (now is not None or names is None):  # the same, or still absent
        return True, entry
    try:
        same = now is not None and names is not None and listing(folder) == names
    except OSError:
        same = False
    racy = caches.racy(
        None if now is None else (now[0], now[1], now[2], now[3], now[4]), started_ns
    )
    return same, [folder, None if racy else now, names]


def identities_digest(numbers: list[int]) -> str:
    """The digest of a flat list of identities (see the stored form above)."""
    from array import array

    try:
        packed = array("Q", numbers).tobytes()
    except OverflowError:  # a negative time (before 1970): still one exact text
        packed = " ".join(map(str, numbers)).encode("ascii")
    return hashlib.sha256(packed).hexdigest()


def _files_same(base: str, dist: Mapping[str, Any]) -> bool:
    """Do the files of a stored distribution have their stored identities (a stat each)?"""
    if dist["unknown"]:
        return False
    now: list[int] = []
    lstat, prefix = os.lstat, base.rstrip(os.sep) + os.sep
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    relative = os.lstat in os.supports_dir_fd
    try:
        for folder, joined in dist["files"]:
            names = joined.split("/")
            if not relative:
                at = prefix + folder + os.sep if folder else prefix
                for name in names:
                    info = lstat(at + name)
                    now += (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                            info.st_ctime_ns)  # fmt: skip
                continue
            fd = os.open(prefix + folder if folder else prefix, flags)
            try:
                for name in names:
                    info = lstat(name, dir_fd=fd)
                    now += (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                            info.st_ctime_ns)  # fmt: skip
            finally:
                os.close(fd)
    except OSError:
        return False
    return bool(identities_digest(now) == dist["ids"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """What :func:`compare` found: the ``.dist-info`` folders that are unchanged, and whether
    anything at all changed; ``state`` is the stored one with the folder identities refreshed."""

    unchanged: tuple[str, ...]
    changed: bool
    state: State


def compare(state: State, started_ns: int, needs: Mapping[str, Any]) -> Comparison:
    """Stat everything ``state`` recorded (see the module doc); ``changed`` also when one of its
    dependencies is not that of ``needs`` (the probes run again; the files are still compared)."""
    changed = caches.canonical(state.depends) != caches.canonical(needs)
    paths = []
    for entry in state.paths:
        same, kept = _folder_same(entry[:3], started_ns)
        pth_same = all(
            _stat(os.path.join(entry[0], name), follow=True) == ident for name, ident in entry[3]
        )
        changed |= not (same and pth_same)
        paths.append([*kept, entry[3]])
    unchanged = []
    dists = {}
    for where, dist in state.dists.items():
        folders = []
        same = _stat(os.path.join(where, "RECORD")) == dist["record"]
        for entry in dist["folders"]:
            if not same:
                break
            ok, kept = _folder_same(entry, started_ns, follow=False)
            same &= ok
            folders.append(kept)
        same = same and _files_same(os.path.dirname(where), dist)
        if same:
            unchanged.append(where)
            dists[where] = {**dist, "folders": folders}
        else:
            changed = True
    kept_state = State(depends=state.depends, summary=state.summary, paths=paths, dists=dists)
    return Comparison(unchanged=tuple(unchanged), changed=changed, state=kept_state)


def unchanged_report(
    python: Path, version: str, profile: str, prior: State, comparison: Comparison
) -> Report | None:
    """The stored verdict, when the comparison found nothing changed (the folder identities it
    refreshed are kept); else None."""
    from constraints_gen.install.findings import from_summary

    if comparison.changed:
        return None
    report = from_summary(profile, python, version, prior.summary)
    if report is not None and comparison.state != prior:
        save(python, comparison.state)  # folder identities refreshed
    return report


def stack_names(profile: Profile, manifest: Manifest) -> list[str]:
    """The names of the stack the default imports come from: the profile's pins and the
    manifest's requirements (what the environment state depends on)."""
    return [pin.name for pin in profile.pins] + [r.name for r in manifest.requirements]


# --- recording what a probe saw ----------------------------------------------------------


def _ident(value: Any, started_ns: int) -> list[int] | None:
    if not caches.is_identity(value) or value is None:
        return None
    return None if caches.racy(tuple(value), started_ns) else list(value)


def folders_seen(entries: Any, started_ns: int) -> list[Any]:
    return [[f, _ident(ident, started_ns), names] for f, ident, names in entries]


def paths_seen(entries: Any, started_ns: int) -> list[Any]:
    return [
        [*folders_seen([entry[:3]], started_ns)[0],
         [[name, _ident(ident, started_ns)] for name, ident in entry[3]]]
        for entry in entries
    ]  # fmt: skip


def dist_seen(name: str, checked: int, seen: Mapping[str, Any], started_ns: int) -> dict[str, Any]:
    """The stored form of one hashed distribution from the probe's ``seen``."""
    grouped: dict[str, list[str]] = {}
    ids_of: dict[str, list[int]] = {}
    unknown = False
    for rel, ident in sorted(seen["files"].items()):
        kept = _ident(ident, started_ns)
        # "../../../bin/tqdm" (a script) too: the probe hashed it inside the prefix
        folder, _, leaf = os.path.normpath(rel).rpartition(os.sep)
        if kept is None or type(rel) is not str or not leaf:
            unknown = True  # checked again next time, with the whole distribution
            continue
        grouped.setdefault(folder, []).append(leaf)
        ids_of.setdefault(folder, []).extend(kept)
    files = [[folder, "/".join(names)] for folder, names in grouped.items()]
    ids = identities_digest([n for folder in grouped for n in ids_of[folder]])
    return {
        "name": name,
        "checked": checked,
        "record": _ident(seen["record"], started_ns),
        "folders": folders_seen(seen["folders"], started_ns),
        "files": files,
        "ids": ids,
        "unknown": unknown,
    }
