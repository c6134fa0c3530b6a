"""A wheelhouse: a local folder of wheels that installs the locks offline.

Each wheel in the folder is, for the locks considered:
- good: its name and version are locked and its sha256 is one of the lock's hashes;
- corrupt: name and version are locked, but the bytes are not the lock's (tampered, truncated);
- wrong version: its name is locked, but no lock has that version (a stale wheel);
- unreferenced: no lock names the package.
A lock is installable from the folder when each of its packages has a good wheel whose tags fit
the lock's target (its profile's platform and CPython); it is exact when, besides, no wheel of
a locked package has a version no lock holds. Only regular files whose names parse as wheel file
names are wheels: anything else (a ``notes.whl`` text file, a folder ``x.whl``) is ignored, listed,
and never removed. sha256s are cached in the user's own cache by each file's identity (device,
inode, size, mtime and ctime: :class:`HashCache`), so re-checking an unchanged folder reads no
wheel, and a wheel changed in place is read again; the cache is best-effort.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

from packaging.version import Version

from constraints_gen import caches
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.fsutil import atomic_write, exclusive_lock
from constraints_gen.locks.file import LockedPackage, read_verified_lock
from constraints_gen.locks.locate import locate_lock
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.install.targets import Target

#: Where versions before the user-cache policy kept the hashes; never read now (see HashCache)
HASH_CACHE = ".constraints-gen-hashes.json"
#: Held by `wheelhouse fill` and `prune` while they change the folder (two fills never race).
FOLDER_LOCK = ".constraints-gen.lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRef:
    profile: str
    python: str
    platform: str
    path: Path
    packages: tuple[LockedPackage, ...]
    macos: str | None = None  # the profile's min_macos: which macOS wheels fit

    @property
    def label(self) -> str:
        return f"profile {self.profile}, CPython {self.python}"

    def target(self) -> Target:
        # Imported here: packaging.tags costs ~10 ms, and `sync` of an environment in sync
        # never needs it (bench/: sync's budget).
        from constraints_gen.install.targets import target_for

        return target_for(self.python, self.platform, self.macos)


def macos_text(profile: Profile) -> str | None:
    """The profile's oldest macOS as uv's MACOSX_DEPLOYMENT_TARGET spells it, or None."""
    return None if profile.min_macos is None else "{}.{}".format(*profile.min_macos)


def read_lock(profile: Profile, python: str, path: Path) -> LockRef:
    """The lock at ``path`` (as :func:`constraints_gen.locks.locate.locate_lock` found it), verified
    with its constraints.txt (:func:`constraints_gen.locks.file.read_verified_lock`)."""
    regenerate = (
        f"gen-constraints lock {profile.name} --python {python}"
        if profile.commit_lock  # `lock` refuses the others: their lock is made when used
        else f"remove it, and it is locked again on demand when used: rm -r {path.parent}"
    )
    return LockRef(
        profile=profile.name,
        python=python,
        platform=profile.platform,
        macos=macos_text(profile),
        path=path,
        packages=read_verified_lock(
            path, profile=profile, python=python, regenerate=regenerate
        ).packages,
    )


def chosen_profiles(
    profiles: ProfileSet, names: Sequence[str], *, every: bool, fit: Callable[[], Profile]
) -> list[Profile]:
    """The profiles a wheelhouse command works on: ``every`` one, else the ``names``d ones (no
    hardware is read), else the one ``fit`` selects for this machine."""
    if every:
        return list(profiles.profiles)
    return [profiles.get(name) for name in names] if names else [fit()]


def read_locks(
    project: Project,
    profiles: ProfileSet,
    selected: Sequence[Profile],
    pythons: Sequence[str] = (),
    *,
    make: bool = False,
    mirrors: Mapping[str, str] | None = None,
) -> list[LockRef]:
    """The locks of ``selected`` on each of their platforms (for ``pythons``, else each profile's
    target Pythons), found as emit finds them: committed, cached, or (``make``) made on demand.
    All are read before any caller acts, so a command whose locks fail to read changes nothing."""
    locks = []
    views = [view for chosen in selected for view in chosen.views()]
    if mirrors is not None:  # a fill: every folder mirror it would search must serve
        from constraints_gen.profiles.config import check_mirrors

        for view in views:
            check_mirrors(project.root, view, mirrors)
    for profile in views:
        for python in pythons or profile.pythons:
            located = locate_lock(project, profiles, profile, python, mirrors=mirrors, make=make)
            locks.append(read_lock(profile, python, located.lock_path))
    return locks


def plan_locks(
    project: Project,
    profiles: ProfileSet,
    wanted: Sequence[tuple[Profile, str]],
    *,
    make: bool = False,
    mirrors: Mapping[str, str] | None = None,
) -> list[LockRef]:
    """The locks of a plan's targets, each (profile on its platform, CPython), found as
    :func:`read_locks` finds them; all are read before any caller acts."""
    locks = []
    for profile, python in wanted:
        located = locate_lock(project, profiles, profile, python, mirrors=mirrors, make=make)
        locks.append(read_lock(profile, python, located.lock_path))
    return locks


#: The sha256s of wheelhouse files, by folder (see :class:`HashCache`)
HASHES = caches.Cache("hashes", 2)
_HASH_ENTRY = caches.record(identity=caches.is_identity, sha256=caches.is_str)


class HashCache:
    """sha256 of a folder's files, remembered by their identity (device, inode, size, mtime and
    ctime in nanoseconds: :func:`constraints_gen.caches.identity`) in the user's own cache, not in
    the folder: a wheelhouse may be shared, and whoever can write a shared folder could write a
    cache file in it that names the locked hash for other bytes. A wheel changed in place keeps
    none of its identity (its ctime moves even when its size and mtime are put back), so a hash
    is never taken from the cache for bytes it was not computed from; a file that changed within
    the clock's resolution of being hashed is not remembered (:func:`constraints_gen.caches.racy`).
    (The cache file earlier versions kept in the folder, ``HASH_CACHE``, is never read.)"""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = {"folder": str(folder.resolve())}
        self.hashed = 0  # files read this run
        self._dirty = False
        stored = HASHES.get(self.key, caches.dict_of(_HASH_ENTRY))
        self._entries: dict[str, dict[str, object]] = stored if stored is not None else {}

    @property
    def entries(self) -> Mapping[str, Mapping[str, object]]:
        """File name -> {"identity": [device, inode, size, mtime_ns, ctime_ns], "sha256": hex}."""
        return self._entries

    def sha256(self, name: str) -> str:
        path = self.folder / name
        try:
            # the identity of the very file that is read; a FIFO or a device swapped in after
            # the folder was listed (a shared wheelhouse) is refused, not waited on or read
            # for ever (O_NONBLOCK: opening a FIFO with no writer returns at once)
            fd = os.open(
                path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
            )
            with os.fdopen(fd, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if not S_ISREG(stat.st_mode):
                    raise ConstraintsGenError(f"{path}: not a regular file, not read")
                ident = [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns,
                         stat.st_ctime_ns]  # fmt: skip
                entry = self._entries.get(name)
                if entry is not None and entry["identity"] == ident:
                    return str(entry["sha256"])
                digest = hashlib.sha256()
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise ConstraintsGenError(f"{path}: cannot read ({exc.strerror or exc})") from None
        self.hashed += 1
        self._entries[name] = {"identity": ident, "sha256": digest.hexdigest()}
        self._dirty = True
        return digest.hexdigest()

    def remember(self, name: str, sha256: str) -> None:
        """``name``'s sha256, computed from the bytes this run wrote into it."""
        stat = (self.folder / name).stat()
        ident = [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
        self._entries[name] = {"identity": ident, "sha256": sha256}
        self._dirty = True

    def save(self) -> None:
        """Store the hashes of the files still present, but those that changed too recently to
        be known by their identity; never raises (a cache that cannot be written is not used)."""
        if not self.folder.is_dir():
            return
        import time

        now = time.time_ns()
        present = {p.name for p in self.folder.glob("*.whl")}
        kept = {
            name: entry
            for name, entry in sorted(self._entries.items())
            if name in present and not caches.racy(_ident(entry), now)
        }
        if self._dirty or kept.keys() != self._entries.keys():
            HASHES.put(self.key, kept)
            self._entries, self._dirty = kept, False


def _ident(entry: Mapping[str, object]) -> caches.Identity | None:
    ident = entry["identity"]
    return tuple(ident) if isinstance(ident, list) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Wheel:
    filename: str
    name: str  # canonical
    version: Version


def scan(folder: Path) -> tuple[list[Wheel], list[str]]:
    """The folder's wheels (regular files with a wheel file name), and the other ``*.whl``
    entries, each with why it is not a wheel (these are never touched)."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    wheels, ignored = [], []
    for path in sorted(folder.glob("*.whl")):
        if not path.is_file():
            ignored.append(f"{path.name} (not a regular file)")
            continue
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            ignored.append(f"{path.name} (not a wheel file name)")
            continue
        wheels.append(Wheel(filename=path.name, name=str(name), version=version))
    return wheels, ignored


@dataclass(frozen=True, slots=True, kw_only=True)
class Misfit:
    filename: str
    name: str
    version: str
    locked: str  # the locked version
    sha256: str | None = None  # set for corrupt files


@dataclass(frozen=True, slots=True, kw_only=True)
class LockReport:
    lock: LockRef
    missing: tuple[LockedPackage, ...]
    corrupt: tuple[Misfit, ...]
    wrong_version: tuple[Misfit, ...]

    @property
    def installable(self) -> bool:
        return not self.missing and not self.corrupt

    @property
    def exact(self) -> bool:
        """Installable, and no wheel of a locked package has a version no lock holds."""
        return self.installable and not self.wrong_version


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderReport:
    folder: Path
    locks: tuple[LockReport, ...]
    unreferenced: tuple[str, ...]
    ignored: tuple[str, ...]  # "*.whl" entries that are not wheels, with the reason
    hashed: int  # wheels read (not answered by the cache)

    @property
    def ok(self) -> bool:
        """Every lock is installable and the folder holds no wrong-version wheel."""
        return all(lock.exact for lock in self.locks)

    @property
    def wrong_version(self) -> tuple[str, ...]:
        return tuple(sorted({m.filename for lock in self.locks for m in lock.wrong_version}))

    @property
    def prunable(self) -> tuple[str, ...]:
        return tuple(sorted({*self.wrong_version, *self.unreferenced}))

    def to_json(self) -> dict[str, object]:
        def misfit(m: Misfit) -> dict[str, object]:
            extra = {} if m.sha256 is None else {"sha256": m.sha256}
            return {"file": m.filename, "name": m.name, "version": m.version,
                    "locked": m.locked, **extra}  # fmt: skip

        return {
            "version": 1,
            "wheelhouse": str(self.folder),
            "ok": self.ok,
            "locks": [
                {
                    "profile": r.lock.profile,
                    "python": r.lock.python,
                    "platform": r.lock.platform,
                    "lock": str(r.lock.path),
                    "packages": len(r.lock.packages),
                    "installable": r.installable,
                    "exact": r.exact,
                    "missing": [{"name": p.name, "version": p.version} for p in r.missing],
                    "corrupt": [misfit(m) for m in r.corrupt],
                    "wrong_version": [misfit(m) for m in r.wrong_version],
                }
                for r in self.locks
            ],
            "unreferenced": list(self.unreferenced),
            "ignored": list(self.ignored),
            "hashed": self.hashed,
        }


def locked_hashes(package: LockedPackage) -> set[str]:
    """The hex sha256s a lock allows for ``package``."""
    return {h.removeprefix("sha256:") for h in package.hashes if h.startswith("sha256:")}


def check(folder: Path, locks: Sequence[LockRef], cache: HashCache) -> FolderReport:
    """Classify every wheel in ``folder`` against ``locks``; reads files and writes nothing
    (``cache.save()`` is the caller's choice)."""
    wheels, ignored = scan(folder) if folder.is_dir() else ([], [])
    locked_names = {p.name for lock in locks for p in lock.packages}
    locked_versions = {(p.name, Version(p.version)) for lock in locks for p in lock.packages}
    digests = {
        w.filename: cache.sha256(w.filename)
        for w in wheels
        if (w.name, w.version) in locked_versions
    }
    # A lock made from a folder of wheels holds only its own platform's hash: a file is corrupt
    # for a lock whose target it fits when no lock holds its hash (uv would pick it and refuse
    # it), never because it is another lock's file or another platform's.
    allowed: dict[tuple[str, Version], set[str]] = {}
    for lock in locks:
        for package in lock.packages:
            key = (package.name, Version(package.version))
            allowed.setdefault(key, set()).update(locked_hashes(package))
    reports = []
    for lock in locks:
        target = lock.target()
        missing, corrupt, wrong = [], [], []
        for package in lock.packages:
            version, hashes = Version(package.version), locked_hashes(package)
            good = False
            for wheel in (w for w in wheels if w.name == package.name):
                if wheel.version == version:
                    sha = digests[wheel.filename]
                    fits = target.rank(wheel.filename) is not None
                    if sha in hashes:
                        good = good or fits
                    elif fits and sha not in allowed[(wheel.name, version)]:
                        corrupt.append(_misfit(wheel, package, sha))
                elif (wheel.name, wheel.version) not in locked_versions:
                    wrong.append(_misfit(wheel, package))
            if not good:
                missing.append(package)
        reports.append(
            LockReport(
                lock=lock,
                missing=tuple(missing),
                corrupt=tuple(corrupt),
                wrong_version=tuple(wrong),
            )
        )
    unreferenced = sorted(w.filename for w in wheels if w.name not in locked_names)
    return FolderReport(
        folder=folder,
        locks=tuple(reports),
        unreferenced=tuple(unreferenced),
        ignored=tuple(ignored),
        hashed=cache.hashed,
    )


def _misfit(wheel: Wheel, package: LockedPackage, sha256: str | None = None) -> Misfit:
    return Misfit(
        filename=wheel.filename,
        name=wheel.name,
        version=str(wheel.version),
        locked=package.version,
        sha256=sha256,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pruned:
    removed: tuple[str, ...]  # removed (or, in a dry run, would be)
    failed: tuple[str, ...]  # "name: reason" for each file that could not be removed


def prune(folder: Path, names: Iterable[str], *, dry_run: bool) -> Pruned:
    """Remove ``names`` (from a :class:`FolderReport`: wheels only) from ``folder``. Each removal is
    independent: one that fails is listed and the others go on; the hash cache is then saved so
    that it names only what is left. A dry run touches nothing, the hash cache included."""
    names = sorted(names)
    if dry_run:
        return Pruned(removed=tuple(names), failed=())
    removed, failed = [], []
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():  # re-checked: never a folder
            failed.append(f"{path}: not a regular file")
            continue
        try:
            path.unlink()
            removed.append(name)
        except FileNotFoundError:
            removed.append(name)  # gone already (another prune): the outcome asked for
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
    HashCache(folder).save()
    return Pruned(removed=tuple(removed), failed=tuple(failed))


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock (``FOLDER_LOCK`` inside it) while changing what it holds; a notice
    says when another run holds it."""

    def on_wait() -> None:
        REPORT.notice(f"waiting for another run that holds the lock of wheelhouse {folder}")

    with ExitStack() as stack:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stack.enter_context(exclusive_lock(folder / FOLDER_LOCK, on_wait))
        except OSError as exc:
            raise ConstraintsGenError(
                f"{folder / FOLDER_LOCK}: cannot lock the wheelhouse ({exc.strerror or exc})"
            ) from None
        yield


_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head>"
    '<meta name="pypi:repository-version" content="1.0"><title>{title}</title></head>\n'
    "<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
)


def write_index(folder: Path, out: Path, cache: HashCache) -> list[str]:
    """Write a static PEP 503 index of ``folder``'s wheels: ``out/simple/<project>/index.html``
    linking to ``out/<wheel>#sha256=...``. When ``out`` is another folder, the wheels are linked
    (or copied) into it, so ``out`` is served as a whole. Returns the project names."""
    try:
        return _write_index(folder, out, cache)
    except OSError as exc:
        where = exc.filename or out
        raise ConstraintsGenError(
            f"{where}: cannot write the index ({exc.strerror or exc})"
        ) from None


def _write_index(folder: Path, out: Path, cache: HashCache) -> list[str]:
    import html  # only here: html.entities costs ~1 ms on every sync and check
    import urllib.parse

    wheels, _ = scan(folder)
    same = out.resolve() == folder.resolve()
    served = cache if same else HashCache(out)
    projects: dict[str, list[str]] = {}
    for wheel in wheels:
        if not same:
            _place(folder / wheel.filename, out / wheel.filename, cache, served)
        # the digest of the bytes served (out/<wheel>), as they are now, at the URL of that
        # very file: a name holding "%", "#" or "?" (the wheel-name rules allow them in a tag)
        # is percent-encoded, else "x-%61ny.whl" named the bytes of "x-any.whl" with its digest
        quoted = urllib.parse.quote(wheel.filename, safe="+")
        href = html.escape(f"../../{quoted}#sha256={served.sha256(wheel.filename)}")
        anchor = f'<a href="{href}">{html.escape(wheel.filename)}</a><br>\n'
        projects.setdefault(wheel.name, []).append(anchor)
    cache.save()
    if not same:
        served.save()
    simple = out / "simple"
    for name, anchors in sorted(projects.items()):
        title = f"Links for {name}"
        body = "".join(anchors)
        atomic_write(simple / name / "index.html", _PAGE.format(title=title, body=body))
    body = "".join(f'<a href="{n}/">{n}</a><br>\n' for n in sorted(projects))
    atomic_write(simple / "index.html", _PAGE.format(title="Simple index", body=body))
    return sorted(projects)


def _place(source: Path, dest: Path, hashes: HashCache, served: HashCache) -> None:
    """``dest`` becomes ``source``'s bytes: a hard link, else a copy (with its mtime), swapped in
    whole. An existing link to it, or a file with the same sha256, is kept."""
    if dest.is_file() and (
        os.path.samestat(source.stat(), dest.stat())
        or served.sha256(dest.name) == hashes.sha256(source.name)
    ):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def wanted(report: FolderReport) -> Iterable[tuple[LockRef, LockedPackage]]:
    """(lock, package) pairs the folder cannot install yet."""
    for lock_report in report.locks:
        for package in lock_report.missing:
            yield lock_report.lock, package
