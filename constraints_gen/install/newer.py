"""Newer torch releases than the profiles pin, on the indexes they come from: staleness, reported.

For each row of the build table (``profiles/builds/torch.toml``) the profile's index (its mirror
when one is set; PyPI's rows: the default index) is read for torch wheels of a newer release that
would install where the pinned one does: the same variant (the local label of index builds:
``+cu126``; none on PyPI), a wheel for the profile's machine with a glibc floor no newer than the
profile's (Windows: ``win_amd64``), and a CPython the profile locks. Such a release keeps the
variant's CUDA version, so its driver floor; its arch list is read from its wheel
(``python -m constraints_gen.profiles.fatbin``) before its row is added.

The table is also read on its own: a row whose every machine is served by a newer row (every
architecture it has kernels for, at a driver and glibc floor no higher) is never selected; it is
listed as superseded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from constraints_gen.detect.hardware import driver_tuple
from constraints_gen.install.download import Client
from constraints_gen.install.index import Source, default_index, list_files
from constraints_gen.profiles.builds import TABLE, Build, BuildTable, load_builds
from constraints_gen.profiles.config import DEFAULT_INDEX, is_local
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import Profile
from constraints_gen.redact import redact
from constraints_gen.uvplatforms import parse_uv_platform

_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Staleness:
    profile: str
    pinned: str
    index: str  # where it looked (credentials removed)
    newer: tuple[str, ...]  # newer versions found, newest first
    superseded_by: tuple[str, ...]  # "pt_cu126 (2.14.1+cu126)": newer rows that serve its machines

    def to_json(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "pinned": self.pinned,
            "index": self.index,
            "newer": list(self.newer),
            "superseded_by": list(self.superseded_by),
        }


def serves_all_of(newer: Build, older: Build) -> bool:
    """Does ``newer`` run wherever ``older`` runs (a newer release on the same machines)?"""
    if (newer.system, newer.machine) != (older.system, older.machine):
        return False
    if newer.release <= older.release:
        return False
    if driver_tuple(newer.min_driver) > driver_tuple(older.min_driver):
        return False
    if newer.glibc is not None and (older.glibc is None or newer.glibc > older.glibc):
        return False
    return all(newer.runs_gpu(arch) for arch in older.archs)


def _platform_fits(tag_platform: str, profile: Profile) -> bool:
    spec = parse_uv_platform(profile.platform)
    if spec.system == "windows":
        return tag_platform == {"x86_64": "win_amd64", "aarch64": "win_arm64"}[spec.machine]
    if not tag_platform.endswith(f"_{spec.machine}") or spec.glibc is None:
        return False
    policy = tag_platform[: -len(spec.machine) - 1]
    if policy in _MANYLINUX_LEGACY:
        return _MANYLINUX_LEGACY[policy] <= spec.glibc
    if policy.startswith("manylinux_2_"):
        minor = policy.removeprefix("manylinux_2_")
        return minor.isdigit() and (2, int(minor)) <= spec.glibc
    return False


def newer_wheels(filenames: Sequence[str], build: Build, profile: Profile) -> tuple[str, ...]:
    """The newer torch versions among ``filenames`` that would install where ``build`` does."""
    local = build.variant if build.index is not None else None
    pythons = {f"cp{p.replace('.', '')}" for view in profile.views() for p in view.pythons}
    found = set[Version]()
    for filename in filenames:
        try:
            name, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if name != "torch" or version.local != local or version.is_prerelease:
            continue
        if Version(version.public) <= build.release:
            continue
        if any(t.interpreter in pythons and _platform_fits(t.platform, profile) for t in tags):
            found.add(version)
    return tuple(str(v) for v in sorted(found, reverse=True))


def staleness(
    profiles_dir: Path,
    mirrors: Mapping[str, str],
    names: Sequence[str] = (),
    *,
    client: Client | None = None,
    table: BuildTable | None = None,
) -> tuple[Staleness, ...]:
    """One entry per row of the build table (only ``names``' rows when given), in table order."""
    table = table or load_builds(profiles_dir / TABLE)
    profiles = load_profiles(profiles_dir)
    rows = [b for b in table.builds if not names or b.profile in names]
    pages: dict[str, list[str]] = {}
    found = list[Staleness]()
    for build in rows:
        profile = profiles.get(build.profile)
        if build.index is None:
            location = mirrors.get(DEFAULT_INDEX) or default_index()
        else:
            index = next((i for i in profile.indexes if i.url.rstrip("/") == build.index), None)
            location = mirrors.get(index.name, build.index) if index else build.index
        if location not in pages:
            source = Source(location=location, kind="links" if is_local(location) else "index")
            pages[location] = [f.filename for f in list_files(source, "torch", client)]
        found.append(
            Staleness(
                profile=build.profile,
                pinned=build.torch,
                index=redact(location),
                newer=newer_wheels(pages[location], build, profile),
                superseded_by=tuple(
                    f"{b.profile} ({b.torch})" for b in table.builds if serves_all_of(b, build)
                ),
            )
        )
    return tuple(found)
