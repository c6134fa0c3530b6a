"""Are the committed locks fresh? TOML parsing and fingerprints only: no resolver, no network.

This is what ``gen-constraints lock --check`` runs (in pre-commit and CI), and what ``lock``
uses to re-lock only the targets whose inputs changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constraints_gen import lockfile
from constraints_gen.profiles import Profile, ProfileSet
from constraints_gen.project import Project

FRESH = "fresh"
STALE = "stale"
MISSING = "missing"
ON_DEMAND = "on-demand"


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetState:
    profile: Profile
    python: str | None  # None for a profile that is locked on demand
    state: str  # FRESH, STALE, MISSING or ON_DEMAND
    reasons: tuple[str, ...] = ()

    @property
    def needs_lock(self) -> bool:
        return self.state in (STALE, MISSING)

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
    """Compare the lock and constraints.txt of one (profile, Python) with their inputs."""
    manifest = profiles.manifest
    texts = {}
    platform = profile.layout_platform
    for path in (
        project.lock_path(profile.name, python, platform),
        project.constraints_path(profile.name, python, platform),
    ):
        try:
            with path.open(encoding="utf-8") as handle:
                texts[path] = handle.read(2000)
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
    lock_text, constraints_text = texts.values()
    reasons = lockfile.stale_reasons(lock_text, profile, manifest, python)
    if not reasons and lockfile.stale_reasons(constraints_text, profile, manifest, python):
        reasons = ["constraints.txt does not match its lock (an interrupted run?)"]
    state = STALE if reasons else FRESH
    return TargetState(profile=profile, python=python, state=state, reasons=tuple(reasons))


def check(
    project: Project,
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    pythons: Sequence[str] = (),
) -> list[TargetState]:
    """The state of every target of ``chosen``: each platform of each profile, and its Pythons
    (or ``pythons``)."""
    states: list[TargetState] = []
    for view in (view for profile in chosen for view in profile.views()):  # each platform
        if not view.commit_lock:
            states.append(TargetState(profile=view, python=None, state=ON_DEMAND))
            continue
        for python in pythons or view.pythons:
            states.append(target_state(project, profiles, view, python))
    return states
