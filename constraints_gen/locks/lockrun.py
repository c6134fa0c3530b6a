"""The work of ``gen-constraints lock``: which profiles (then
:func:`constraints_gen.locks.refresh.refresh` re-locks them into ``generated/``), PEP 751
pylocks, or a freshness check (an all-fresh report served from
:mod:`constraints_gen.locks.answers` when nothing changed).

Messages go to :data:`constraints_gen.reporter.REPORT`; results are returned for the CLI to render.
Imports stay lazy: ``lock --check`` on a cache hit loads no profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen.errors import ConstraintsGenError, StaleLocks
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.locks.resolver import LockOptions
    from constraints_gen.profiles.model import Profile, ProfileSet
    from constraints_gen.profiles.project import Project


def profiles_to_lock(
    project: Project, names: Sequence[str], *, into_generated: bool
) -> tuple[ProfileSet, list[Profile]]:
    """The project's profiles and those ``names`` choose (all of them without names). Writing
    ``into_generated`` refuses the built-in profiles and a named on-demand profile."""
    from constraints_gen.profiles.load import load_profiles

    profiles = load_profiles(project.profiles_dir)
    chosen = [profiles.get(name) for name in names] if names else list(profiles.profiles)
    if project.builtin and into_generated:
        raise ConstraintsGenError(
            f"no project here: {project.root} holds the built-in profiles of the installed"
            " package, and lock does not write into it",
            tip="run it inside a repository with profiles/manifest.toml, or give --root DIR",
        )
    on_demand = [p.name for p in chosen if not p.commit_lock]
    if names and on_demand:
        raise ConstraintsGenError(
            f"profile {', '.join(on_demand)} is locked on demand (target.commit_lock = false),"
            " never into generated/",
            tip="gen-constraints --profile NAME locks it into the user cache when used",
        )
    return profiles, chosen


def export_pylocks(
    project: Project,
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    options: LockOptions,
    output_dir: Path,
    *,
    pythons: Sequence[str] = (),
) -> tuple[Path, ...]:
    """One pylock.<profile>.toml per profile of ``chosen`` (with several Pythons,
    pylock.<profile>-pyXY.toml) in ``output_dir``, every folder mirror checked first; the files
    written."""
    from constraints_gen.locks.compile import export_pylock
    from constraints_gen.profiles.config import check_mirrors

    for view in (view for profile in chosen for view in profile.views()):
        check_mirrors(project.root, view, options.mirrors)
    targets = [(p, pythons or p.pythons) for p in chosen]
    if not any(versions for _, versions in targets):
        raise ConstraintsGenError("nothing to lock: no profile or no target Python")
    written = []
    for profile, versions in targets:
        for python in versions:
            path = export_pylock(
                profiles, profile, python, options, output_dir, tag_python=len(versions) > 1
            )
            REPORT.info(f"wrote {path}")
            written.append(path)
    return tuple(written)


def check_locks(project: Project, names: Sequence[str], pythons: Sequence[str]) -> None:
    """Say every target that is not fresh and raise StaleLocks when one needs locking; else say
    that all are fresh. An all-fresh report is served from the answer cache when no
    profile, lock or constraints file changed (every lock pair read and checked all the same)."""
    import time

    from constraints_gen.locks import answers

    key = answers.check_key(project, names, pythons)
    hit = answers.load_check(project, key)  # every lock pair read and its digests checked now
    if hit is not None:
        REPORT.replay(hit)
        return
    before = answers.inputs(answers.profile_files(project))
    started = time.time_ns()
    from constraints_gen.locks.freshness import FRESH, target_states
    from constraints_gen.profiles.load import load_profiles

    profiles = load_profiles(project.profiles_dir)
    chosen = [profiles.get(name) for name in names] if names else list(profiles.profiles)
    states = target_states(project, profiles, chosen, pythons, refuse_corrupt=True)
    bad = [state for state in states if state.needs_lock]
    with REPORT.capture() as said:  # what a cached all-fresh report says again
        for state in states:
            if state.state != FRESH:
                REPORT.always(state.describe())
    locks = sum(1 for state in states if state.python is not None)
    if bad:
        stale = " ".join(dict.fromkeys(state.profile.name for state in bad))
        raise StaleLocks(
            f"{len(bad)} of {locks} locks are stale or missing",
            tip=f"refresh them: gen-constraints lock {stale}",
        )
    with REPORT.capture() as verdict:
        REPORT.notice(f"all {locks} locks are fresh")
    if before is not None:
        targets = [
            (s.profile.name, s.python, s.profile.platform, s.profile.layout_platform)
            for s in states
            if s.python is not None
        ]
        answers.store_check(project, key, before, started, targets, [*said, *verdict])
