"""Where is the lock of (profile, CPython): one answer for emit, ``wheelhouse`` and ``sync``.

In order:
1. the committed lock in ``generated/<profile>/``;
2. else the on-demand lock in the user cache, in a folder named after the lock's fingerprint (a
   changed profile or manifest never reads an old one); a cache folder that is not the user's
   own, or that others can write, is not used (:mod:`constraints_gen.caches`): the lock is then
   made for this run only, in a private temporary folder;
3. else, when the caller allows it, the lock is made there on demand with uv (a notice first).

Nothing heavy is imported unless a lock has to be made: emit runs this on every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.caches import trusted_dir
from constraints_gen.errors import InputError
from constraints_gen.locks import file as lockfile
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project
from constraints_gen.reporter import REPORT


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    lock_path: Path  # the hashed lock (what uv installs)
    constraints_path: Path  # the constraints.txt made with it
    on_demand: bool  # from the user cache, not generated/


def on_demand_dir(profiles: ProfileSet, profile: Profile, python: str) -> Path | None:
    """The cache folder of the on-demand lock of (profile, python) with today's inputs; None
    when the user cache may not be trusted (see :func:`constraints_gen.caches.trusted_dir`)."""
    folder = trusted_dir("locks")
    if folder is None:
        return None
    expected = lockfile.fingerprint(profile, profiles.manifest, python)
    return folder / profile.name / expected.removeprefix("sha256:")[:16]


def _private_dir() -> Path:
    """A folder only this user can write, removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="constraints-gen-lock-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def locate_lock(
    project: Project,
    profiles: ProfileSet,
    profile: Profile,
    python: str,
    *,
    mirrors: Mapping[str, str] | None = None,
    make: bool = True,
) -> Located:
    """The lock of ``profile`` (on its ``platform``, one of :meth:`Profile.views`) for CPython
    ``python``: committed, cached, else made on demand (only when ``make``; with ``mirrors``,
    else the project's constraints-gen.toml and $GEN_CONSTRAINTS_MIRRORS). Raises InputError,
    with a tip that works, when there is none."""
    lock_path = project.lock_path(profile.name, python, profile.layout_platform)
    constraints_path = project.constraints_path(profile.name, python, profile.layout_platform)
    if lock_path.is_file() or constraints_path.is_file():
        return Located(lock_path=lock_path, constraints_path=constraints_path, on_demand=False)
    cached = on_demand_dir(profiles, profile, python) or _private_dir()
    located = Located(
        lock_path=cached / lock_path.name,
        constraints_path=cached / constraints_path.name,
        on_demand=True,
    )
    if located.lock_path.is_file() and located.constraints_path.is_file():
        return located
    if not make:
        if profile.commit_lock:
            tip = f"create it: gen-constraints lock {profile.name} --python {python}"
        else:  # `lock` refuses such a profile: never send the user there
            tip = (
                f"lock it on demand and fetch its wheels: gen-constraints wheelhouse fill"
                f" --profile {profile.name} --python {python}"
            )
        raise InputError(
            [f"profile {profile.name} has no lock for CPython {python} ({lock_path} is missing)"],
            tip=tip,
        )
    REPORT.notice(
        f"profile {profile.name} has no committed lock for CPython {python};"
        f" locking it into {cached}"
    )
    from constraints_gen.locks.compile import LockOptions, compile_one
    from constraints_gen.profiles.config import check_mirrors, load_config, mirrors_from_env

    if mirrors is None:
        mirrors = {**load_config(project.root).mirrors, **mirrors_from_env()}
    check_mirrors(project.root, profile, mirrors)
    result = compile_one(
        project, profiles, profile, python, LockOptions(mirrors=mirrors), out_dir=cached
    )
    return Located(
        lock_path=result.lock_path, constraints_path=result.constraints_path, on_demand=True
    )
