"""Verify a uv project's environment (``.venv``) against its block: the extra's exact builds.

The environment ``uv sync --extra X`` made holds the project's own versions of everything but
the hardware layer, so it is verified against the extra's pins only (each installed exactly,
local labels included, its files matching RECORD), ``import torch`` works, and on an NVIDIA
machine torch runs on every GPU: :func:`constraints_gen.install.verify.verify`, with the extra
as the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from packaging.requirements import Requirement

from constraints_gen.detect.hardware import Hardware
from constraints_gen.errors import InputError
from constraints_gen.install.findings import Report
from constraints_gen.install.interpreter import interpreter, python_version
from constraints_gen.install.verify import verify
from constraints_gen.locks.file import LockedPackage
from constraints_gen.locks.uvproject import read_block
from constraints_gen.names import canonical_name
from constraints_gen.profiles.model import ProfileSet


def extra_packages(path: Path, extra: str, python: str) -> tuple[LockedPackage, ...]:
    """The extra's pins that apply on this platform and CPython ``python`` (X.Y)."""
    data, record = read_block(path)
    if extra not in record.extra_names:
        raise InputError(
            [f"{path}: project.optional-dependencies.{extra}: not an extra of the block"
             f" (its extras: {', '.join(record.extra_names)})"]
        )  # fmt: skip
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    out: list[LockedPackage] = []
    for line in data["project"]["optional-dependencies"].get(extra, []):
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            version = next(iter(requirement.specifier)).version
            out.append(
                LockedPackage(name=canonical_name(requirement.name), version=version, hashes=())
            )
    return tuple(out)


def verify_project(
    path: Path,
    profiles: ProfileSet,
    *,
    extra: str,
    profile_name: str,
    python: str | None,
    read_machine: Callable[[], Hardware],
    deep: bool,
) -> Report:
    target = interpreter(python or str(path.parent / ".venv"))
    version = python_version(target)
    profile = replace(profiles.get(profile_name), verify_imports=("torch",))
    return verify(
        python=target,
        python_version=version,
        profile=profile,
        manifest=profiles.manifest,
        locked=extra_packages(path, extra, version),
        read_machine=read_machine,
        deep=deep,
    )
