"""A wheelhouse: a local folder of wheels that installs the locks offline.

Each wheel in the folder is, for the locks considered:
- good: its name and version are locked and its sha256 is one of the lock's hashes;
- corrupt: name and version are locked, but the bytes are not the lock's (tampered, truncated);
- wrong version: its name is locked, but no lock has that version (a stale wheel);
- unreferenced: no lock names the package.
A lock is installable from the folder when each of its packages has a good wheel whose tags fit
the lock's target (its profile's platform and CPython). sha256s are cached in the folder by
(file name, size, mtime), so re-checking an unchanged folder reads no wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from constraints_gen.errors import InputError
from constraints_gen.fsutil import atomic_write
from constraints_gen.lockfile import LockedPackage, read_verified_lock
from constraints_gen.profiles import Profile
from constraints_gen.project import Project

if TYPE_CHECKING:
    from constraints_gen.targets import Target

HASH_CACHE = ".constraints-gen-hashes.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRef:
    profile: str
    python: str
    platform: str
    path: Path
    packages: tuple[LockedPackage, ...]

    @property
    def label(self) -> str:
        return f"profile {self.profile}, CPython {self.python}"

    def target(self) -> Target:
        # Imported here: packaging.tags costs ~10 ms, and `sync` of an environment in sync
        # never needs it (bench/: sync's budget).
        from constraints_gen.targets import target_for

        return target_for(self.python, self.platform)


def read_lock(project: Project, profile: Profile, python: str) -> LockRef:
    path = project.lock_path(profile.name, python)
    if not path.is_file():
        raise InputError(
            [f"profile {profile.name} has no lock for CPython {python} ({path} is missing)"],
            tip=f"create it: gen-constraints lock {profile.name} --python {python}",
        )
    return LockRef(
        profile=profile.name,
        python=python,
        platform=profile.platform,
        path=path,
        packages=read_verified_lock(path).packages,
    )


def read_locks(
    project: Project, profiles: Sequence[Profile], pythons: Sequence[str] = ()
) -> list[LockRef]:
    """The committed locks of ``profiles`` (only for ``pythons`` when given)."""
    return [read_lock(project, p, py) for p in profiles for py in (pythons or p.pythons)]


class HashCache:
    """sha256 of the folder's files, remembered by (name, size, mtime) in ``HASH_CACHE``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / HASH_CACHE
        self.hashed = 0  # files read this run
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            entries = data["files"] if data.get("version") == 1 else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        self._entries: dict[str, list[object]] = entries if isinstance(entries, dict) else {}

    def sha256(self, name: str) -> str:
        stat = (self.folder / name).stat()
        key = [stat.st_size, stat.st_mtime_ns]
        entry = self._entries.get(name)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == key:
            return str(entry[2])
        digest = hashlib.sha256()
        with (self.folder / name).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        self.hashed += 1
        self.remember(name, digest.hexdigest())
        return digest.hexdigest()

    def remember(self, name: str, sha256: str) -> None:
        stat = (self.folder / name).stat()
        self._entries[name] = [stat.st_size, stat.st_mtime_ns, sha256]
        self._dirty = True

    def save(self) -> None:
        if not self.folder.is_dir():
            return
        present = {p.name for p in self.folder.glob("*.whl")}
        kept = {k: v for k, v in sorted(self._entries.items()) if k in present}
        if self._dirty or kept.keys() != self._entries.keys():
            atomic_write(self.path, json.dumps({"version": 1, "files": kept}, indent=0) + "\n")
            self._entries, self._dirty = kept, False


@dataclass(frozen=True, slots=True, kw_only=True)
class Wheel:
    filename: str
    name: str  # canonical
    version: Version


def scan(folder: Path) -> tuple[list[Wheel], list[str]]:
    """The folder's wheels, and the names of ``*.whl`` files that are not valid wheel names."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    wheels, invalid = [], []
    for path in sorted(folder.glob("*.whl")):
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            invalid.append(path.name)
            continue
        wheels.append(Wheel(filename=path.name, name=str(name), version=version))
    return wheels, invalid


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    folder: Path
    locks: tuple[LockReport, ...]
    unreferenced: tuple[str, ...]
    hashed: int  # wheels read (not answered by the cache)

    @property
    def ok(self) -> bool:
        return all(lock.installable for lock in self.locks)

    @property
    def prunable(self) -> tuple[str, ...]:
        stale = {m.filename for lock in self.locks for m in lock.wrong_version}
        return tuple(sorted(stale | set(self.unreferenced)))

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
                    "missing": [{"name": p.name, "version": p.version} for p in r.missing],
                    "corrupt": [misfit(m) for m in r.corrupt],
                    "wrong_version": [misfit(m) for m in r.wrong_version],
                }
                for r in self.locks
            ],
            "unreferenced": list(self.unreferenced),
            "hashed": self.hashed,
        }


def locked_hashes(package: LockedPackage) -> set[str]:
    """The hex sha256s a lock allows for ``package``."""
    return {h.removeprefix("sha256:") for h in package.hashes if h.startswith("sha256:")}


def check(folder: Path, locks: Sequence[LockRef], cache: HashCache) -> Report:
    """Classify every wheel in ``folder`` against ``locks`` (pure apart from reading files)."""
    wheels, invalid = scan(folder) if folder.is_dir() else ([], [])
    locked_names = {p.name for lock in locks for p in lock.packages}
    locked_versions = {(p.name, Version(p.version)) for lock in locks for p in lock.packages}
    digests = {
        w.filename: cache.sha256(w.filename)
        for w in wheels
        if (w.name, w.version) in locked_versions
    }
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
                    if sha not in hashes:
                        corrupt.append(_misfit(wheel, package, sha))
                    elif target.rank(wheel.filename) is not None:
                        good = True
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
    unreferenced = sorted(invalid + [w.filename for w in wheels if w.name not in locked_names])
    cache.save()
    return Report(
        folder=folder, locks=tuple(reports), unreferenced=tuple(unreferenced), hashed=cache.hashed
    )


def _misfit(wheel: Wheel, package: LockedPackage, sha256: str | None = None) -> Misfit:
    return Misfit(
        filename=wheel.filename,
        name=wheel.name,
        version=str(wheel.version),
        locked=package.version,
        sha256=sha256,
    )


def prune(folder: Path, report: Report, *, dry_run: bool) -> tuple[str, ...]:
    """Remove the wrong-version and unreferenced wheels the report found; return their names."""
    if not dry_run:
        for name in report.prunable:
            (folder / name).unlink(missing_ok=True)
        HashCache(folder).save()
    return report.prunable


_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head>"
    '<meta name="pypi:repository-version" content="1.0"><title>{title}</title></head>\n'
    "<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
)


def write_index(folder: Path, out: Path, cache: HashCache) -> list[str]:
    """Write a static PEP 503 index of ``folder``'s wheels: ``out/simple/<project>/index.html``
    linking to ``out/<wheel>#sha256=...``. When ``out`` is another folder, the wheels are linked
    (or copied) into it, so ``out`` is served as a whole. Returns the project names."""
    import html  # only here: html.entities costs ~1 ms on every sync and check

    wheels, _ = scan(folder)
    projects: dict[str, list[str]] = {}
    for wheel in wheels:
        if out.resolve() != folder.resolve():
            _place(folder / wheel.filename, out / wheel.filename)
        href = html.escape(f"../../{wheel.filename}#sha256={cache.sha256(wheel.filename)}")
        anchor = f'<a href="{href}">{html.escape(wheel.filename)}</a><br>\n'
        projects.setdefault(wheel.name, []).append(anchor)
    cache.save()
    simple = out / "simple"
    for name, anchors in sorted(projects.items()):
        title = f"Links for {name}"
        body = "".join(anchors)
        atomic_write(simple / name / "index.html", _PAGE.format(title=title, body=body))
    body = "".join(f'<a href="{n}/">{n}</a><br>\n' for n in sorted(projects))
    atomic_write(simple / "index.html", _PAGE.format(title="Simple index", body=body))
    return sorted(projects)


def _place(source: Path, dest: Path) -> None:
    if dest.is_file() and dest.stat().st_size == source.stat().st_size:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def wanted(report: Report) -> Iterable[tuple[LockRef, LockedPackage]]:
    """(lock, package) pairs the folder cannot install yet."""
    for lock_report in report.locks:
        for package in lock_report.missing:
            yield lock_report.lock, package
