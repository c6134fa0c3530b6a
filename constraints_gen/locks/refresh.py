"""Refresh ``generated/``: re-lock only the targets whose inputs changed, safely.

- Incremental: a target (profile, Python) is re-locked when its lock is missing or its
  fingerprint differs from its inputs (the profile, each parent it extends, the manifest, the tool
  version). ``force``, ``--upgrade`` and ``--upgrade-package`` re-lock every chosen target.
- Parallel: independent targets are locked at once (bounded by the CPU count), a stale target's
  uv run starting as soon as its pair is read, while the others are still read; results keep the
  order of the profiles and Pythons, so the output is stable.
- Safe: ``generated/.lock`` is held for the whole refresh (a second run waits, then finds its
  targets fresh), every write is atomic, and temporary files of a killed run are removed first.
  Nothing is written before every target was read and every mirror checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.fsutil import exclusive_lock, remove_stale_temps
from constraints_gen.locks.compile import Batch, LockResult, resolver_for
from constraints_gen.locks.freshness import TargetState, iter_target_states
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

    resolver = resolver_for(options.resolver)
    checked: set[tuple[str, str]] = set()

    def check(profile: Profile) -> None:  # every mirror checked before anything is written
        if (profile.name, profile.platform) not in checked:  # each build, once
            checked.add((profile.name, profile.platform))
            from constraints_gen.profiles.config import check_mirrors

            check_mirrors(project.root, profile, options.mirrors)

    with (
        exclusive_lock(held, on_wait=on_wait),
        Batch(project, profiles, options, jobs=jobs) as batch,
    ):
        removed = remove_stale_temps(project.generated_dir)
        states: list[TargetState] = []
        relock: list[TargetState] = []
        for state in iter_target_states(project, profiles, chosen, pythons):
            states.append(state)
            if state.python is None or not (everything or state.needs_lock):
                continue
            relock.append(state)  # each lock was read once, here: keep_versions says how it was
            if resolver.starts_early:  # its run starts now, while the others are read
                check(state.profile)
                batch.submit(state.profile, state.python, state.keep_versions)
        if relock and not resolver.starts_early:
            resolver.check([(state.profile, state.python or "") for state in relock])
            for state in relock:
                check(state.profile)
            for state in relock:
                batch.submit(state.profile, state.python or "", state.keep_versions)
        # nothing was written yet: an error above left the batch unfinished (it writes nothing)
        results = batch.finish() if relock else []
    return Refreshed(states=tuple(states), results=tuple(results), removed=tuple(removed))
