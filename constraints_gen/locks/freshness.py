"""Are the committed locks fresh? TOML, file digests and fingerprints only: no resolver, no
network.

This is what ``gen-constraints lock --check`` runs (in pre-commit and CI), and what ``lock``
uses to re-lock only the targets whose inputs changed. Each generated file is read whole and
verified (:mod:`constraints_gen.locks.file`): a tampered pair is CORRUPT (``lock`` rewrites it,
``lock --check`` refuses it with exit 2), a pair in an older lock format is STALE.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from constraints_gen.locks import file as lockfile
from constraints_gen.locks.file import LockIntegrityError
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project

#: A target's state, as ``lock --check`` prints it.
State = Literal["fresh", "stale", "missing", "corrupt", "on-demand"]
FRESH: Final = "fresh"
STALE: Final = "stale"
MISSING: Final = "missing"
CORRUPT: Final = "corrupt"
ON_DEMAND: Final = "on-demand"


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetState:
    profile: Profile
    python: str | None  # None for a profile that is locked on demand
    state: State
    reasons: tuple[str, ...] = ()
    error: LockIntegrityError | None = None  # why a CORRUPT target's files are refused
    #: its lock is intact and this target's, or in an older lock format: a re-lock hands it to
    #: uv, which keeps its versions (:func:`constraints_gen.locks.compile.compile_one`)
    keep_versions: bool = False

    @property
    def needs_lock(self) -> bool:
        return self.state in (STALE, MISSING, CORRUPT)

    def describe(self) -> str:
        platform = self.profile.layout_platform  # named when the profile has several
        name = self.profile.name if platform is None else f"{self.profile.name} [{platform}]"
        if self.state == ON_DEMAND:
            return f"{name}: not locked (locked on demand)"
        where = f"{name} (CPython {self.python})"
        if self.state == FRESH:
            return f"{where}: fresh"
        return f"{where}: {self.state}: " + "; ".join(self.reasons)


def target_state(
    project: Project, profiles: ProfileSet, profile: Profile, python: str
) -> TargetState:
    """Compare the lock and constraints.txt of one (profile, Python) with their inputs.

    Both files are read whole and verified as :func:`lockfile.read_pair` does: an edited, cut
    or disagreeing pair is CORRUPT, a pair written in another lock format is STALE.
    """
    platform = profile.layout_platform
    lock_path = project.lock_path(profile.name, python, platform)
    constraints_path = project.constraints_path(profile.name, python, platform)
    for path in (lock_path, constraints_path):
        try:
            path.stat()  # any other OSError (a file where a folder should be) is an error
            continue
        except FileNotFoundError:
            shown = path.relative_to(project.root) if path.is_relative_to(project.root) else path
            reasons = [f"no {shown}"]
            old = project.lock_path(profile.name, python)
            if platform is not None and old.is_file():  # the profile had one platform before
                reasons.append(
                    f"{old.relative_to(project.root)} is from when the profile had one platform:"
                    f" a profile for several keeps each one's locks in"
                    f" generated/{profile.name}/<platform>/ (lock it, then delete the old files)"
                )
            return TargetState(
                profile=profile, python=python, state=MISSING, reasons=tuple(reasons)
            )
    regenerate = f"gen-constraints lock {profile.name} --python {python}"
    # read_pair's checks, the lock's first: whether its versions are worth keeping (an intact
    # lock of this target, or one in an older format) is known here, not read again by compile
    keep = False
    try:
        lock = lockfile.read_lock_file(lock_path, regenerate=regenerate)
        lockfile.check_target(lock_path, lock.header, profile, python, regenerate)
        keep = True
        constraints = lockfile.read_constraints(constraints_path, regenerate=regenerate)
        lockfile.check_target(constraints_path, constraints.header, profile, python, regenerate)
        lockfile.check_agree(lock, constraints, regenerate)
    except lockfile.LockFormatError as exc:
        reason = f"written in lock format {exc.found}, this tool writes {lockfile.FORMAT}"
        return TargetState(
            profile=profile,
            python=python,
            state=STALE,
            reasons=(f"{reason}: run gen-constraints lock",),
            keep_versions=True,
        )
    except lockfile.LockIntegrityError as exc:
        return TargetState(
            profile=profile,
            python=python,
            state=CORRUPT,
            reasons=exc.problems,
            error=exc,
            keep_versions=keep,
        )
    reasons = lockfile.stale_reasons(lock.header, profile, profiles.manifest, python)
    state: State = STALE if reasons else FRESH
    return TargetState(
        profile=profile, python=python, state=state, reasons=tuple(reasons), keep_versions=True
    )


def target_states(
    project: Project,
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    pythons: Sequence[str] = (),
    *,
    refuse_corrupt: bool = False,
) -> list[TargetState]:
    """The state of every target of ``chosen``: each platform of each profile, and its Pythons
    (or ``pythons``).

    With ``refuse_corrupt`` (``lock --check``), files that fail their integrity check raise one
    :class:`LockIntegrityError` listing them all (exit 2), rather than a state.
    """
    states = list(iter_target_states(project, profiles, chosen, pythons))
    corrupt = [state.error for state in states if state.error is not None]
    if refuse_corrupt and corrupt:
        raise lockfile.LockIntegrityError(
            [problem for error in corrupt for problem in error.problems],
            tip=corrupt[0].tip if len(corrupt) == 1 else "regenerate them: gen-constraints lock",
        )
    return states


def iter_target_states(
    project: Project,
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    pythons: Sequence[str] = (),
) -> Iterator[TargetState]:
    """The states of :func:`target_states`, one at a time, as each pair is read (``lock``
    starts a stale target's resolver run while it reads the others)."""
    for view in (view for profile in chosen for view in profile.views()):  # each platform
        if not view.commit_lock:
            yield TargetState(profile=view, python=None, state=ON_DEMAND)
            continue
        for python in pythons or view.pythons:
            yield target_state(project, profiles, view, python)
