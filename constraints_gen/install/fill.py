"""Fill a wheelhouse: download every file the locks need for their targets, checked by hash.

For each locked package the folder cannot install yet, the sources are asked in order (find-links,
the profile's indexes, the default index) until one offers a wheel whose sha256 is in the lock and
whose tags fit the lock's target; the best-ranked such wheel is downloaded (in parallel, one task
per project), verified against the lock, and only then renamed into place. A re-run skips what is
present and correct, so an interrupted fill resumes. A fill holds the folder's lock, so two fills
into one folder take turns (the second finds the first one's files and skips them).

Wheels of a locked package at a version no lock holds are reported; with ``prune`` they are
removed first, so that one fill takes a folder to exactly what the locks need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from constraints_gen.install.download import Client
from constraints_gen.install.index import (
    FetchError,
    RemoteFile,
    Source,
    default_index,
    download,
    list_files,
)
from constraints_gen.install.partfile import remove_stale_parts
from constraints_gen.install.progress import SILENT, Progress
from constraints_gen.install.transport import Settings
from constraints_gen.install.wheelhouse import (
    HashCache,
    LockRef,
    check,
    folder_lock,
    locked_hashes,
    prune,
    wanted,
)
from constraints_gen.locks.file import LockedPackage
from constraints_gen.profiles.config import is_local, locations
from constraints_gen.profiles.model import Profile
from constraints_gen.redact import redact

DEFAULT_JOBS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FillResult:
    fetched: tuple[Fetched, ...]
    already: int  # (lock, package) pairs the folder already covered
    errors: tuple[str, ...]
    wrong_version: tuple[str, ...] = ()  # wrong-version wheels found (removed when pruned)
    pruned: tuple[str, ...] = ()


def fill_sources(
    profiles: Sequence[Profile],
    mirrors: Mapping[str, str],
    *,
    find_links: Sequence[str] = (),
    index_url: str | None = None,
    no_index: bool = False,
) -> list[Source]:
    """Where a fill looks, in this order: ``find_links``; each profile index, a mirror named
    like it replacing its URL; then (unless ``no_index``) the default index: ``index_url``,
    else the ``pypi`` mirror, else :func:`~constraints_gen.install.index.default_index`.
    Mirrors apply as for `lock` (:func:`constraints_gen.profiles.config.locations`); a folder
    of wheels is read as find-links."""

    def source(where: str) -> Source:
        return Source(location=where, kind="links" if is_local(where) else "index")

    where = locations([i for p in profiles for i in p.indexes], mirrors, default=index_url)
    found = [Source(location=link, kind="links") for link in find_links]
    found += [source(extra) for extra in where.extra]
    if not no_index:
        found.append(source(where.default or default_index()))
    return found


def fill_wheelhouse(
    folder: Path,
    profiles: Sequence[Profile],
    locks: Sequence[LockRef],
    *,
    mirrors: Mapping[str, str],
    settings: Settings,
    find_links: Sequence[str] = (),
    index_url: str | None = None,
    no_index: bool = False,
    jobs: int = DEFAULT_JOBS,
    prune_wrong: bool = False,
    progress: Progress = SILENT,
) -> FillResult:
    """``wheelhouse fill``'s work: look where :func:`fill_sources` says, with a client of these
    ``settings`` (timeouts, retries, stall rule, deadline), and :func:`fill` the folder."""
    sources = fill_sources(
        profiles, mirrors, find_links=find_links, index_url=index_url, no_index=no_index
    )
    client = Client(settings, sources=[s.location for s in sources])
    return fill(
        folder,
        locks,
        sources,
        jobs=jobs,
        prune_wrong=prune_wrong,
        client=client,
        progress=progress,
    )


def matches(remote: RemoteFile, package: LockedPackage) -> bool:
    """Is ``remote`` a wheel of the locked version, with a locked hash (or none stated)?"""
    try:
        name, version, _, _ = parse_wheel_filename(remote.filename)
    except InvalidWheelFilename:
        return False
    if name != package.name or version != Version(package.version):
        return False
    return remote.sha256 is None or remote.sha256 in locked_hashes(package)


def _fill_project(
    name: str,
    needs: Sequence[tuple[LockRef, LockedPackage]],
    sources: Sequence[Source],
    dest: Path,
    client: Client,
    progress: Progress,
) -> tuple[list[Fetched], list[str]]:
    """Fetch one project's files for every (lock, package) that needs one."""
    open_needs = list(needs)
    chosen: dict[str, tuple[RemoteFile, set[str]]] = {}
    errors: list[str] = []
    unreadable: list[str] = []  # an error only if no other source had the file
    for source in sources:
        if not open_needs:
            break
        try:
            files = list_files(source, name, client)
        except FetchError as exc:
            unreadable.append(exc.message)
            continue
        still = []
        for lock, package in open_needs:
            target = lock.target()
            ranked = [
                (rank, remote)
                for remote in files
                if matches(remote, package) and (rank := target.rank(remote.filename)) is not None
            ]
            if ranked:
                best = min(ranked, key=lambda pair: pair[0])[1]
                chosen.setdefault(best.filename, (best, locked_hashes(package)))
            else:
                still.append((lock, package))
        open_needs = still
    where = ", ".join(redact(s.location) for s in sources) or "no source"
    for lock, package in open_needs:
        errors.append(
            f"{package.name} {package.version}: no wheel for {lock.target().describe()} with a"
            f" hash from {lock.path} in {where}"
        )
    if open_needs:
        errors += unreadable
    fetched = []
    for remote, expected in chosen.values():
        try:
            _, sha, size = download(remote, dest, expected, client, progress)
        except FetchError as exc:
            errors.append(exc.message)
            continue
        fetched.append(Fetched(filename=remote.filename, sha256=sha, size=size))
    return fetched, errors


def fill(
    folder: Path,
    locks: Sequence[LockRef],
    sources: Sequence[Source],
    *,
    jobs: int = DEFAULT_JOBS,
    prune_wrong: bool = False,
    client: Client | None = None,
    progress: Progress = SILENT,
) -> FillResult:
    """Download what ``folder`` lacks for ``locks`` (removing wrong-version wheels first when
    ``prune_wrong``), holding the folder's lock; every other project still completes when one
    fails (the errors are returned, not raised). ``client`` carries the timeouts, retries and
    credentials (default: from the environment, see constraints_gen.install.download)."""
    client = client or Client(sources=[s.location for s in sources])
    with folder_lock(folder):
        return _fill(
            folder,
            locks,
            sources,
            jobs=jobs,
            prune_wrong=prune_wrong,
            client=client,
            progress=progress,
        )


def _fill(
    folder: Path,
    locks: Sequence[LockRef],
    sources: Sequence[Source],
    *,
    jobs: int,
    prune_wrong: bool,
    client: Client,
    progress: Progress,
) -> FillResult:
    cache = HashCache(folder)
    report = check(folder, locks, cache)
    wrong = report.wrong_version
    pruned = prune(folder, wrong, dry_run=False) if prune_wrong else None
    for name in pruned.removed if pruned is not None else ():
        progress.note(f"removed {name} (wrong version)")  # before the downloads' lines
    by_project: dict[str, list[tuple[LockRef, LockedPackage]]] = {}
    for lock, package in wanted(report):
        by_project.setdefault(package.name, []).append((lock, package))
    total = sum(len(lock.packages) for lock in locks)
    missing = sum(len(needs) for needs in by_project.values())
    fetched: list[Fetched] = []
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(_fill_project, name, needs, sources, folder, client, progress)
            for name, needs in sorted(by_project.items())
        ]
        try:
            for future in futures:
                got, failed = future.result()
                fetched += got
                errors += failed
        except BaseException:  # Ctrl-C: stop the downloads now; their parts stay to resume
            client.cancel()
            pool.shutdown(cancel_futures=True)
            raise
    remove_stale_parts(folder)  # what killed runs left and this run did not resume
    for item in fetched:
        cache.remember(item.filename, item.sha256)
    cache.save()
    if pruned is not None:
        errors += [f"cannot remove {failure}" for failure in pruned.failed]
    return FillResult(
        fetched=tuple(sorted(fetched, key=lambda f: f.filename)),
        already=total - missing,
        errors=tuple(dict.fromkeys(errors)),
        wrong_version=wrong,
        pruned=pruned.removed if pruned is not None else (),
    )
