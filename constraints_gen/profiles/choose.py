"""Which profile a command runs: the one named, else the best fit for the machine, read from a
readout (``--hardware FILE``, ``$GEN_CONSTRAINTS_HARDWARE``) or detected live.

Imports nothing heavy at module level: emit's answer cache reaches this module only on a miss.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.detect.hardware import Hardware
    from constraints_gen.profiles.model import Profile, ProfileSet
    from constraints_gen.profiles.project import Project

HARDWARE_ENV = "GEN_CONSTRAINTS_HARDWARE"


def read_machine(path: Path | None) -> Hardware:
    """The machine: ``path``, else ``$GEN_CONSTRAINTS_HARDWARE`` (a path or JSON text), else this
    machine detected now (its problems are warnings; a machine without a GPU is a CPU one)."""
    from constraints_gen.detect.hardware import load_hardware, parse_hardware

    if path is not None:
        return load_hardware(path)
    env = os.environ.get(HARDWARE_ENV)
    if env:
        if env.lstrip().startswith(("{", "[")):  # JSON text, not a path
            return parse_hardware(env, f"${HARDWARE_ENV}")
        return load_hardware(Path(env))
    from constraints_gen.detect.machine import detect

    detected = detect()
    for problem in detected.problems:
        REPORT.warning(problem)
    hardware = detected.hardware
    if hardware.is_cpu:
        REPORT.always(f"gen-constraints: {hardware.source}; treating this as a CPU machine")
    return hardware


def choose_profile(
    root: Path | None,
    hardware_file: Path | None,
    profile: str | None,
    project: Project | None = None,
    machine: Hardware | None = None,
) -> tuple[Project, ProfileSet, Profile]:
    """(project, profiles, profile): the named profile, else the best fit for this machine
    (``machine`` when it was read already, else :func:`read_machine`)."""
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project
    from constraints_gen.profiles.select import require_fit, select

    project = project or find_project(root)
    profiles = load_profiles(project.profiles_dir)
    if profile is not None:
        return project, profiles, profiles.get(profile)
    if machine is None:
        machine = read_machine(hardware_file)
    return project, profiles, require_fit(select(profiles, machine))
