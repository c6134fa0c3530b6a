"""Make an environment match a profile's lock exactly, offline, with ``uv pip sync``.

uv does the enforcing: it installs, replaces (local labels included: ``2.5.1+cu124`` is not
``2.5.1+cu121``) and removes; this module only picks the lock for the target interpreter, builds
the uv command, reports missing wheels before uv can call them a resolver error, and reads uv's
``--check --output-format json`` report, which looks like (uv 0.13.9, schema "preview")::

    {"schema": {"version": "preview"},
     "changes": [{"name": "torch", "version": "2.5.1+cu124", "action": "uninstalled"},
                 {"name": "torch", "version": "2.5.1+cu121", "action": "installed"}],
     "dry_run": true}

with exit code 1 when there are changes, 0 when there are none.

uv needs the wheels of what it would install even to report drift; when the wheelhouse lacks
some, :func:`drift_without` asks uv about the rest of the lock and compares each lacking package
by its installed version, so drift is reported without those wheels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen import runner
from constraints_gen.errors import ToolError
from constraints_gen.install.interpreter import Target, interpreter, python_version
from constraints_gen.profiles.config import local_folder

if TYPE_CHECKING:
    from constraints_gen.install.wheelhouse import LockRef
    from constraints_gen.locks.file import LockedPackage
    from constraints_gen.profiles.config import Listings
    from constraints_gen.profiles.model import Profile, ProfileSet
    from constraints_gen.profiles.project import Project


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    name: str
    old: str | None  # installed version, None when uv would install it fresh
    new: str | None  # locked version, None when uv would remove it

    @property
    def action(self) -> str:
        return "install" if self.old is None else "remove" if self.new is None else "replace"

    def describe(self) -> str:
        if self.old is None:
            return f"+ {self.name} {self.new}"
        if self.new is None:
            return f"- {self.name} {self.old}"
        return f"~ {self.name} {self.old} -> {self.new}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """An environment that `sync` and `verify` work on, and the lock it should match."""

    profile: Profile  # the profile's build for this machine (:func:`machine_view`)
    python: Path  # its interpreter
    version: str  # its CPython X.Y
    lock: LockRef
    on_demand: bool  # the lock was made on demand (from the user cache), not committed
    folders: Listings = ()  # the mirror folders checked, as listed then (config.check_mirrors)

    @property
    def target(self) -> Target:
        return Target(
            profile=self.profile.name,
            python=self.python,
            version=self.version,
            lock=self.lock.path,
            packages=len(self.lock.packages),
        )

    @property
    def where(self) -> str:
        return self.target.where


def environment(
    project: Project,
    profiles: ProfileSet,
    profile: Profile,
    python: str | None,
) -> Environment:
    """The target interpreter (``python``: see :func:`interpreter`) and the lock of ``profile``
    for its CPython, found as emit finds it (committed, cached, else made on demand)."""
    from constraints_gen.install.wheelhouse import read_lock
    from constraints_gen.locks.locate import locate_lock
    from constraints_gen.profiles.config import check_mirrors, load_config, mirrors_from_env

    chosen = machine_view(profile)
    # the mirrors an on-demand lock, or the fill a missing wheel asks for, would use: refused
    # here when they cannot serve, whether or not this sync needs them
    mirrors = {**load_config(project.root).mirrors, **mirrors_from_env()}
    folders = check_mirrors(project.root, chosen, mirrors)
    target = interpreter(python)
    version = python_version(target)
    located = locate_lock(project, profiles, chosen, version)
    return Environment(
        profile=chosen,
        python=target,
        version=version,
        lock=read_lock(chosen, version, located.lock_path),
        on_demand=located.on_demand,
        folders=folders,
    )


def is_stale(env: Environment, profiles: ProfileSet) -> bool:
    """Is the environment's committed lock stale (its profile or the manifest changed since)?"""
    from constraints_gen.locks import file as lockfile

    expected = lockfile.fingerprint(env.profile, profiles.manifest, env.version)
    return not env.on_demand and not lockfile.lock_is_fresh(env.lock.path, expected)


def machine_view(profile: Profile) -> Profile:
    """The profile's build for this machine, as emit picks it (a profile for several
    platforms); the profile itself when none or its own platform matches."""
    from constraints_gen.locks.emit import platform_matches

    here = [name for name in profile.platforms if platform_matches(name)]
    return profile.for_platform(here[0]) if here and profile.platform not in here else profile


def uv_args(
    lock: Path,
    python: Path,
    wheelhouse: str,
    *,
    check: bool = False,
    allow_empty: bool = False,
    reinstall: Sequence[str] = (),
) -> list[str]:
    """The uv command line: offline from a folder, or from a served index (a URL).

    ``check`` only reports drift, as JSON; ``allow_empty`` accepts a lock with no package;
    ``reinstall`` also reinstalls these packages, without uv's cache: uv hard-links installed
    files to its cache, so a file edited in place in site-packages is edited in the cache too,
    and a cached reinstall would bring the edit back (seen with uv 0.13.9;
    ``--refresh-package`` cannot be combined with ``--offline``)."""
    args = [runner.uv_bin(), "pip", "sync", "--no-config"]
    folder = local_folder(wheelhouse)
    if folder is None:
        args += sources(wheelhouse).args
    else:
        args += ["--offline", "--no-index"]
        if not check or folder.is_dir():  # an environment in sync needs no wheels
            args += ["--find-links", str(folder)]
    args += ["--require-hashes", "--python", str(python)]
    if allow_empty:
        args.append("--allow-empty-requirements")
    if check:
        args += ["--check", "--output-format", "json"]
    if reinstall:
        args += [*(f"--reinstall-package={name}" for name in reinstall), "--no-cache"]
    return [*args, str(lock)]


def sources(wheelhouse: str) -> runner.Sources:
    """The wheelhouse as uv's only source: a URL as ``--default-index`` (its credentials in the
    environment, named ``wheelhouse``), every ambient uv setting that would send uv elsewhere
    cleared (:data:`constraints_gen.runner.AMBIENT_SOURCES`): the explicit
    ``--wheelhouse`` wins."""
    if local_folder(wheelhouse) is not None:
        return runner.uv_sources(None)
    return runner.uv_sources(wheelhouse, default_name="wheelhouse")


def uv_env(wheelhouse: str) -> Mapping[str, str | None]:
    """The environment changes for the commands of :func:`uv_args` (see :func:`sources`)."""
    return sources(wheelhouse).env


def parse_changes(text: str) -> tuple[Change, ...]:
    """Pair uv's installed/uninstalled entries into install, replace and remove (pure)."""
    data = json.loads(text)
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for entry in data["changes"]:
        side = new if entry["action"] == "installed" else old
        side[str(entry["name"])] = str(entry["version"])
    return tuple(
        Change(name=name, old=old.get(name), new=new.get(name)) for name in sorted({*old, *new})
    )


def missing_wheels(lock: LockRef, wheelhouse: str) -> dict[str, str]:
    """name -> ``name==version`` (and why) of each locked package the wheelhouse (folder or
    index) cannot serve."""
    folder = local_folder(wheelhouse)
    if folder is not None:
        if not folder.is_dir():
            return {p.name: f"{p.name}=={p.version}" for p in lock.packages}
        # A sync only reads the wheelhouse, which fleets share read-only (NFS): the hashes it
        # computes are kept in the user's own cache (HashCache), never in the folder.
        from constraints_gen.install.wheelhouse import HashCache, check

        cache = HashCache(folder)
        report = check(folder, [lock], cache)
        cache.save()
        only = report.locks[0]
        corrupt = {m.name: m.filename for m in only.corrupt}
        return {
            p.name: f"{p.name}=={p.version}"
            + (f" ({corrupt[p.name]} is corrupt: not the lock's hash)" if p.name in corrupt else "")
            for p in lock.packages
            if p.name in corrupt or p in only.missing
        }
    from concurrent.futures import ThreadPoolExecutor

    from constraints_gen.install.fill import matches  # urllib and friends: only for a served index
    from constraints_gen.install.index import Source, list_files

    source = Source(location=wheelhouse, kind="index")
    target = lock.target()

    def lacks(package: LockedPackage) -> bool:
        files = list_files(source, package.name)
        return not any(
            f.sha256 and matches(f, package) and target.rank(f.filename) is not None for f in files
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        flags = list(pool.map(lacks, lock.packages))
    return {
        p.name: f"{p.name}=={p.version}"
        for p, lacking in zip(lock.packages, flags, strict=True)
        if lacking
    }


def check_drift(
    args: Sequence[str], env: Mapping[str, str | None] | None = None
) -> tuple[Change, ...]:
    """Run ``uv pip sync --check`` (``args`` from :func:`uv_args` with check=True, ``env`` from
    :func:`uv_env`)."""
    result = runner.run(args, env=env, ok_codes=(0, 1))
    if result.returncode == 1 and not result.stdout.lstrip().startswith("{"):
        raise ToolError(runner.describe_failure(result))
    return parse_changes(result.stdout)


def drift_without(
    lock: LockRef, lacking: Mapping[str, str], python: Path, wheelhouse: str
) -> tuple[Change, ...]:
    """The drift of ``python`` from ``lock`` when the wheelhouse lacks the wheels of ``lacking``
    (names): uv checks the lock without them (it decides, by its own rules, what it would
    remove), and each lacking package counts by the version uv finds installed."""
    import tempfile

    from packaging.version import Version

    kept = [p for p in lock.packages if p.name not in lacking]
    text = "".join(
        f"{p.name}=={p.version}" + "".join(f" \\\n    --hash={h}" for h in p.hashes) + "\n"
        for p in kept
    )
    with tempfile.TemporaryDirectory(prefix="constraints-gen-") as tmp:
        partial = Path(tmp) / lock.path.name
        partial.write_text(text, encoding="utf-8")
        seen = check_drift(
            uv_args(partial, python, wheelhouse, check=True, allow_empty=True),
            uv_env(wheelhouse),
        )
    installed = {c.name: c.old for c in seen if c.name in lacking and c.new is None}
    changes = [c for c in seen if c.name not in lacking]
    for package in lock.packages:
        if package.name not in lacking:
            continue
        old = installed.get(package.name)
        if old is None or Version(old) != Version(package.version):
            changes.append(Change(name=package.name, old=old, new=package.version))
    return tuple(sorted(changes, key=lambda c: c.name))


def sync(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> str:
    """Run ``uv pip sync`` (``env`` from :func:`uv_env`); return uv's report (its stderr)."""
    result = runner.run(args, env=env, hint="uv's explanation is above")
    return result.stderr
