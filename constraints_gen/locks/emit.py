"""Emit: the selected profile's exact ``constraints.txt``, from its committed lock.

No resolution and no network on this path when the lock is committed. A profile without a
committed lock for this Python is locked on demand into the user cache (a notice on stderr).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen.errors import ConstraintsGenError
from constraints_gen.errors import StaleLockError as StaleLockError
from constraints_gen.locks import file as lockfile
from constraints_gen.locks.locate import locate_lock
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.profiles.config import Listings
from constraints_gen.uvplatforms import platform_matches as platform_matches
from constraints_gen.uvplatforms import running_python as running_python


@dataclass(frozen=True, slots=True, kw_only=True)
class Emitted:
    profile: Profile
    python: str
    path: Path  # the lock file the constraints come from (committed or cached)
    text: str  # the whole constraints.txt
    stale: bool
    on_demand: bool
    #: the option lines that make uv and pip find the pins' indexes (mirrors applied), as in text
    index_options: tuple[str, ...] = ()
    #: each folder mirror the text names, with the listing its check saw (an answer cached from
    #: this text holds only while the listings are the same)
    mirror_folders: Listings = ()


def emit(
    project: Project,
    profiles: ProfileSet,
    profile: Profile,
    *,
    python: str | None = None,
    strict: bool = False,
) -> Emitted:
    """Build the whole constraints text for ``profile`` (nothing is printed here)."""
    explicit = python is not None
    python = python or running_python()
    if not explicit:
        here = [name for name in profile.platforms if platform_matches(name)]
        if not here:
            import platform

            raise ConstraintsGenError(
                f"profile {profile.name} is locked for {', '.join(profile.platforms)}; this"
                f" machine is {sys.platform} {platform.machine()}",
                tip="to write constraints for another machine, name its Python: --python X.Y",
            )
        if profile.platform not in here:  # a profile for several platforms: this one's build
            profile = profile.for_platform(here[0])
    located = locate_lock(project, profiles, profile, python)
    path, on_demand = located.constraints_path, located.on_demand
    regenerate = f"gen-constraints lock {profile.name} --python {python}"
    if on_demand:  # a cached on-demand lock is made again by deleting it and emitting
        regenerate = f"rm -r {path.parent} && gen-constraints --profile {profile.name}"
    _, constraints = lockfile.read_pair(
        located.lock_path, path, profile=profile, python=python, regenerate=regenerate
    )
    text = constraints.text
    options: tuple[str, ...] = ()
    folders: Listings = ()
    if constraints.indexes:
        from constraints_gen.profiles.config import check_mirrors, load_config, mirrors_from_env

        mirrors = {**load_config(project.root).mirrors, **mirrors_from_env()}
        # a folder mirror printed as --find-links must serve the pins: else exit 2, not a line
        folders = check_mirrors(project.root, profile, mirrors, default_index=False)
        text = lockfile.emitted_text(constraints, mirrors)
        options = tuple(lockfile.index_options(constraints.indexes, mirrors))
    stale = not lockfile.is_fresh(constraints.header, profile, profiles.manifest, python)
    if stale:
        message = (
            f"{path} is stale: profile {profile.name} or the manifest changed since it was locked"
        )
        if strict:
            raise StaleLockError(message, tip=f"refresh it: gen-constraints lock {profile.name}")
        REPORT.warning(f"{message} (refresh: gen-constraints lock {profile.name})")
    return Emitted(
        profile=profile,
        python=python,
        path=path,
        text=text,
        stale=stale,
        on_demand=on_demand,
        index_options=options,
        mirror_folders=folders,
    )
