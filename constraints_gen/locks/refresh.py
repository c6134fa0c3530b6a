"""Refresh ``generated/``: re-lock only the targets whose inputs changed, safely.

- Incremental: a target (profile, Python) is re-locked when its lock is missing or its
  fingerprint differs from its inputs (the profile, each parent it extends, the manifest, the tool
  version). ``force``, ``--upgrade`` and ``--upgrade-package`` re-lock every chosen target.
- Parallel: independent targets are locked at once (bounded by the CPU count); results keep the
  order of the profiles and Pythons, so the output is stable.
- Safe: ``generated/.lock`` is held for the whole refresh (a second run waits, then finds its
  targets fresh), every write is atomic, and temporary files of a killed run are removed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.fsutil import exclusive_lock, remove_stale_temps
from constraints_gen.locks.compile import LockResult, compile_many, resolver_for
from constraints_gen.locks.freshness import TargetState, target_states
from constraints_gen.locks.resolver import LockOptions
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project
from constraints_gen.reporter import REPORT

LOCK_NAME = ".lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refreshed:
    states: tuple[TargetState, ...]  # before the refresh, in order
    results: tuple[LockResult, ...]  # the targets that were re-locked, in order
    removed: tuple[Path, ...]  # temporary files a killed run had left

    @property
    def changed(self) -> tuple[LockResult, ...]:
        return tuple(result for result in self.results if result.changed)


def refresh(
    project: Project,
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    options: LockOptions,
    *,
    pythons: Sequence[str] = (),
    force: bool = False,
    jobs: int | None = None,
) -> Refreshed:
    """Re-lock the stale targets of ``chosen`` (all of them with ``force`` or an upgrade); a
    notice says when another run holds ``generated/.lock``."""
    everything = force or options.upgrade or bool(options.upgrade_packages)
    held = project.generated_dir / LOCK_NAME

    def on_wait() -> None:
        REPORT.notice(f"waiting for another run to finish ({held})")

    with exclusive_lock(held, on_wait=on_wait):
        removed = remove_stale_temps(project.generated_dir)
        states = target_states(project, profiles, chosen, pythons)
        relock = [
            state
            for state in states
            if state.python is not None and (everything or state.needs_lock)
        ]
        targets = [(state.profile, state.python or "") for state in relock]
        if targets:
            resolver_for(options.resolver).check(targets)
            from constraints_gen.profiles.config import check_mirrors

            views = {(p.name, p.platform): p for p, _ in targets}  # each build, once
            for profile in views.values():  # every mirror checked before anything is written
                check_mirrors(project.root, profile, options.mirrors)
        keep = [state.keep_versions for state in relock]  # each lock was read once, above
        results = (
            compile_many(project, profiles, targets, options, jobs=jobs, keep_versions=keep)
            if targets
            else []
        )
    return Refreshed(states=tuple(states), results=tuple(results), removed=tuple(removed))
