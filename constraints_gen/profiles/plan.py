"""A fleet's plan: which profile each machine's readout selects, and the targets they need.

A target is (profile, CPython, platform): one lock, one set of wheels. The plan lists every
machine with its profile (or why none fits, or why its readout could not be read), and every
target with the machines that need it: ``wheelhouse fill --plan`` fills exactly those targets.
The readout does not say which Python a machine runs, so a profile's target Pythons are all
needed unless ``pythons`` narrows them.

Selection runs once per distinct readout shape (platform, driver, GPUs; not UUIDs or memory):
a thousand nodes of one kind cost one selection.

The plan's JSON (``plan --json``, read back by :func:`read_plan`)::

    {"version": 1,
     "machines": [{"source": "nodes.log:1", "host": "n1", "status": "fits", "profile": "cuda130",
                   "platform": "x86_64-manylinux_2_28", "reasons": [...], "tips": []}],
     "targets": [{"profile": "cuda130", "python": "3.12", "platform": "x86_64-manylinux_2_28",
                  "machines": ["n1"]}],
     "summary": {"machines": 1, "fit": 1, "no_fit": 0, "unreadable": 0}}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from constraints_gen.detect.hardware import Hardware, decode_json_bytes
from constraints_gen.detect.readouts import Readout
from constraints_gen.errors import InputError
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.select import Selection, no_fit_tips, select
from constraints_gen.uvplatforms import parse_uv_platform

Status = Literal["fits", "no fit", "unreadable"]
PLAN_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    source: str
    host: str | None
    status: Status
    profile: str | None  # None: no fit, or unreadable
    platform: str | None  # the profile's platform this machine installs
    reasons: tuple[str, ...]  # why it fits; why nothing fits; why the readout is unreadable
    tips: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.host if self.host is not None else self.source

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "host": self.host,
            "status": self.status,
            "profile": self.profile,
            "platform": self.platform,
            "reasons": list(self.reasons),
            "tips": list(self.tips),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    profile: str
    python: str
    platform: str
    machines: tuple[str, ...]  # each machine's name (host, else source)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "python": self.python,
            "platform": self.platform,
            "machines": list(self.machines),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    machines: tuple[Machine, ...]
    targets: tuple[Target, ...]

    def of(self, status: Status) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "machines": [m.to_json() for m in self.machines],
            "targets": [t.to_json() for t in self.targets],
            "summary": {
                "machines": len(self.machines),
                "fit": len(self.of("fits")),
                "no_fit": len(self.of("no fit")),
                "unreadable": len(self.of("unreadable")),
            },
        }


def _shape(hardware: Hardware) -> tuple[object, ...]:
    """What selection reads of a machine: equal shapes select alike (UUIDs, memory ignored)."""
    gpus = tuple(
        (gpu.index, gpu.name, gpu.vendor, gpu.compute_capability, gpu.gfx, gpu.pci_id)
        for gpu in hardware.gpus
    )
    return (hardware.platform, hardware.driver_version, hardware.cuda_driver_version, gpus)


def plan_fleet(root: Path | None, readouts: Sequence[Path], pythons: Sequence[str]) -> Plan:
    """``plan``'s work: the readouts of ``readouts`` (files, folders, ``-`` for stdin; stdin when
    none) planned against the project's profiles. InputError when none was found."""
    import sys

    from constraints_gen.detect.readouts import read_bytes, read_paths
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project

    profiles = load_profiles(find_project(root).profiles_dir)
    found = []
    for path in readouts or (Path("-"),):
        if str(path) == "-":
            found += read_bytes(sys.stdin.buffer.read(), "<stdin>")
        else:
            found += read_paths([path])
    if not found:
        where = ", ".join(map(str, readouts)) or "stdin"
        raise InputError(
            [f"{where}: no readouts found"],
            tip="collect them with `gen-constraints detect --json` on each machine",
        )
    return make_plan(profiles, found, pythons)


def make_plan(
    profiles: ProfileSet, readouts: Sequence[Readout], pythons: Sequence[str] = ()
) -> Plan:
    """The plan of ``readouts`` (in their order); ``pythons`` narrows each profile's Pythons."""
    cache: dict[tuple[object, ...], Selection] = {}
    machines: list[Machine] = []
    needs: dict[tuple[str, str], list[str]] = {}  # (profile, platform) -> machine names
    views: dict[tuple[str, str], Profile] = {}
    for readout in readouts:
        if readout.hardware is None:
            machines.append(
                Machine(
                    source=readout.source,
                    host=readout.host,
                    status="unreadable",
                    profile=None,
                    platform=None,
                    reasons=readout.problems,
                )
            )
            continue
        key = _shape(readout.hardware)
        selection = cache.get(key)
        if selection is None:
            selection = cache[key] = select(profiles, readout.hardware)
        machine = _machine(readout, selection, pythons)
        machines.append(machine)
        chosen = selection.chosen
        if machine.status == "fits" and chosen is not None:
            pair = (chosen.name, chosen.platform)
            needs.setdefault(pair, []).append(machine.name)
            views[pair] = chosen
    targets = [
        Target(
            profile=name, python=python, platform=platform, machines=tuple(needs[name, platform])
        )
        for name, platform in sorted(needs)
        for python in _pythons(views[name, platform], pythons)
    ]
    targets.sort(key=lambda t: (t.profile, t.platform, tuple(map(int, t.python.split(".")))))
    return Plan(machines=tuple(machines), targets=tuple(targets))


def _pythons(profile: Profile, wanted: Sequence[str]) -> list[str]:
    return [python for python in profile.pythons if not wanted or python in wanted]


def _same_machine(profile: Profile, hardware: Hardware) -> bool:
    """Is one of the profile's platforms for the machine's system and architecture? (The others
    are noise in a no-fit's reasons: a Windows build says nothing about a Linux node.)"""
    here = (hardware.platform.system, hardware.platform.machine)
    return any(
        (spec.system, spec.machine) == here for spec in map(parse_uv_platform, profile.platforms)
    )


def _machine(readout: Readout, selection: Selection, wanted: Sequence[str]) -> Machine:
    chosen = selection.chosen
    if chosen is None:
        here = [v for v in selection.verdicts if _same_machine(v.profile, selection.hardware)]
        reasons = tuple(
            f"{v.profile.name}: " + "; ".join(v.reasons) for v in here or selection.verdicts
        )
        return Machine(
            source=readout.source,
            host=readout.host,
            status="no fit",
            profile=None,
            platform=None,
            reasons=reasons,
            tips=tuple(no_fit_tips(selection)),
        )
    verdict = next(v for v in selection.verdicts if v.profile is chosen)
    if not _pythons(chosen, wanted):
        reason = (
            f"{chosen.name} fits, but it is locked for CPython {', '.join(chosen.pythons)},"
            f" none of {', '.join(wanted)}"
        )
        return Machine(
            source=readout.source,
            host=readout.host,
            status="no fit",
            profile=None,
            platform=None,
            reasons=(reason, *verdict.reasons),
        )
    return Machine(
        source=readout.source,
        host=readout.host,
        status="fits",
        profile=chosen.name,
        platform=chosen.platform,
        reasons=verdict.reasons,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """One target of a plan file, checked against the project: the profile on that platform."""

    profile: Profile
    python: str


def read_plan(path: Path, profiles: ProfileSet) -> tuple[Wanted, ...]:
    """The targets of the plan file at ``path``; every problem (file, key path, expected) at
    once. A target's profile must be the project's, on one of its platforms, for one of its
    Pythons: a plan made from other profiles is refused, not filled halfway."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([f"{path}: cannot read the plan: {exc.strerror or exc}"]) from None
    text = decode_json_bytes(raw, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [f"{path}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"],
            tip="write it with: gen-constraints plan --json READOUT... > PLAN.json",
        ) from None
    except (RecursionError, ValueError):
        raise InputError([f"{path}: invalid JSON"]) from None
    if not isinstance(data, dict):
        raise InputError([f"{path}: expected a JSON object (as `plan --json` writes)"])
    problems: list[str] = []
    if data.get("version", PLAN_VERSION) != PLAN_VERSION:
        problems.append(f"{path}: version: expected {PLAN_VERSION}, got {data['version']!r:.40}")
    targets = data.get("targets")
    if not isinstance(targets, list):
        got = "missing" if "targets" not in data else f"got {targets!r:.60}"
        problems.append(f"{path}: targets: expected a list of targets ({got})")
        targets = []
    known = ", ".join(p.name for p in profiles.profiles)
    found: list[Wanted] = []
    for position, target in enumerate(targets):
        key = f"{path}: targets[{position}]"
        if not isinstance(target, dict):
            problems.append(f"{key}: expected an object with profile, python and platform")
            continue
        name, python, platform = (target.get(k) for k in ("profile", "python", "platform"))
        profile = next((p for p in profiles.profiles if p.name == name), None)
        if profile is None:
            problems.append(
                f"{key}.profile: expected one of the project's profiles ({known}), got {name!r:.60}"
            )
            continue
        if platform not in profile.platforms:
            problems.append(
                f"{key}.platform: expected one of profile {profile.name}'s platforms"
                f" ({', '.join(profile.platforms)}), got {platform!r:.60}"
            )
            continue
        view = profile.for_platform(platform)
        if python not in view.pythons:
            problems.append(
                f"{key}.python: expected one of profile {profile.name}'s Pythons on"
                f" {platform} ({', '.join(view.pythons)}), got {python!r:.20}"
            )
            continue
        if any(
            w.profile.name == name and w.profile.platform == platform and w.python == python
            for w in found
        ):
            continue  # the same target twice: once is enough
        found.append(Wanted(profile=view, python=python))
    if not problems and not found:
        problems.append(f"{path}: targets: expected at least one target (no machine fits?)")
    if problems:
        raise InputError(
            problems,
            tip="make the plan again with this project's profiles:"
            " gen-constraints plan --json READOUT... > PLAN.json",
        )
    return tuple(found)
