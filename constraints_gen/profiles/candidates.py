"""Candidate torch builds for a profile's hardware: which torch versions, from which index.

A uv project's block (:mod:`constraints_gen.locks.uvproject`) takes, for each profile, the newest
build that runs on the profile's hardware and that the project's own requirements allow. What
"runs on the hardware" means comes from here, through one small interface
(:class:`CandidateSource`), so that a table of published builds per variant (arch lists, driver
floors, index URLs) can answer it later without the block's code changing.

Three answers exist, consulted in this order (:data:`SOURCES`):

- :func:`from_profile`: the profile's own pin and index. The profile was written for this
  hardware, so its build runs there (its comments cite the build's arch list).
- :func:`from_table`: the build table beside the profiles (``profiles/builds/torch.toml``,
  :mod:`constraints_gen.profiles.builds`): every published build that runs on *all* of the
  profile's hardware, newest first, each from its own index with its exact local label. "Runs
  on the profile's hardware" is the table's own rule applied to the whole class the profile
  declares, not to one machine: for each of the profile's platforms a row for the same system
  and machine, whose glibc floor is at most the platform's; SASS (or PTX) for every compute
  capability the profile lists, PTX where the profile claims it; a driver floor at most the
  profile's ``min_driver``; wheels for every Python the profile targets. So a Maxwell/Pascal
  profile (cu126: sm_50, sm_60) never takes a cu128 build (no sm_50 kernels), and an R525
  profile never takes a CUDA 13 build (R580 floor). Each table build is tried exactly
  (``torch==2.13.0+cu126``): the table names builds, not ranges.
- :func:`same_variant`, only where no table speaks for the profile (:func:`speaks_for`: an
  NVIDIA profile with a table beside it; the table knows NVIDIA builds only): a version that
  resolution found on the profile's *own variant index* (``https://download.pytorch.org/whl/
  cu126`` serves only ``+cu126`` builds), no newer than the pin and carrying the pin's local
  label. An older build of the same variant was built with the same toolkit (but may have
  another arch list: the table knows, this rule does not, so the table replaces it). A pin
  without a local label comes from PyPI, whose plain builds change their CUDA variant between
  releases (torch 2.7.1 is CUDA 12.6, 2.8.0 is CUDA 12.8: PyPI ``Requires-Dist`` of each), so
  no other version is accepted for it without the table.

:func:`constraints_gen.locks.uvprobe.probe` tries every candidate in turn, each on its own
index, and :func:`accepts` vouches for any candidate uv locks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from constraints_gen.detect.hardware import driver_tuple
from constraints_gen.profiles.builds import TABLE, Build, BuildTable, load_builds
from constraints_gen.profiles.model import Index, Profile
from constraints_gen.uvplatforms import parse_uv_platform

#: The packages whose build depends on the accelerator and that uv's PyTorch guide routes to the
#: accelerator's index (docs/guides/integration/pytorch.md: torch, torchvision, torchaudio;
#: pytorch-triton-rocm for ROCm, pytorch-triton-xpu for XPU). triton-rocm and triton-xpu are
#: routed too where a build depends on them: the build's own metadata decides (uvprobe).
TORCH_FAMILY = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "pytorch-triton",
    "pytorch-triton-rocm",
    "triton-rocm",
    "pytorch-triton-xpu",
    "triton-xpu",
)
#: Dependencies of a torch build that carry its CUDA/ROCm/XPU runtime (torch's Requires-Dist on
#: PyPI and on download.pytorch.org: nvidia-*-cu12/cu13 libraries, cuda-* bindings, intel-* SYCL
#: runtimes): the rest of the hardware layer.
RUNTIME_PREFIXES = ("nvidia-", "cuda-", "intel-", "rocm-")
#: What must come from a profile's index before resolution can even see it (uv's PyTorch guide:
#: torch's ROCm and XPU builds depend on them, and PyPI's packages of those names do not match).
ROUTED_BY_VENDOR = {
    "amd": ("pytorch-triton-rocm", "triton-rocm"),
    "intel": ("pytorch-triton-xpu", "triton-xpu"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchBuild:
    """One torch build a profile's hardware runs: its exact version and where it is published."""

    version: str  # exact, local label kept: "2.14.1+cu126"
    index: Index | None  # None: the project's default index (PyPI)
    source: str  # who vouches for it: "profile cu126 pins.torch", "index pytorch-cu126 (...)"
    exact: bool = False  # only this build is vouched for (the probe asks for ==, not <=)


#: Builds for a profile's hardware, newest first. The build table of published torch builds
#: (one entry per variant, with arch lists and driver floors) is one more such source.
CandidateSource = Callable[[Profile], tuple[TorchBuild, ...]]


def from_profile(profile: Profile) -> tuple[TorchBuild, ...]:
    """The profile's own torch pin, on the profile's index (its first, if it names several)."""
    pin = profile.pin("torch")
    if pin is None:
        return ()
    return (
        TorchBuild(
            version=pin.version,
            index=torch_index(profile),
            source=f"profile {profile.name} {pin.key or 'pins.torch'}",
            exact=speaks_for(profile),
        ),
    )


def speaks_for(profile: Profile) -> bool:
    """Does a build table decide which builds run on ``profile``'s hardware? One beside the
    profiles, for an NVIDIA profile (the table's rows are NVIDIA's builds)."""
    return profile.vendor == "nvidia" and table_for(profile) is not None


def table_for(profile: Profile) -> BuildTable | None:
    """The build table beside the profile's file (``<profiles>/builds/torch.toml``), if any."""
    path = profile.path.parent / TABLE
    try:
        stat = path.stat()
    except OSError:
        return None
    return _load(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int, size: int) -> BuildTable:
    return load_builds(path)


def runs_on(build: Build, profile: Profile, platform: str) -> bool:
    """Does ``build`` run on every machine of ``profile``'s class on ``platform``? (the module's
    rule; NVIDIA CUDA C Programming Guide for SASS/PTX, CUDA Compatibility guide for drivers)"""
    if profile.vendor != "nvidia" or profile.min_driver is None:
        return False
    target = parse_uv_platform(platform)
    if (target.system, target.machine) != (build.system, build.machine):
        return False
    if build.glibc is not None and (target.glibc is None or target.glibc < build.glibc):
        return False
    if not profile.compute_capabilities or (profile.ptx and not build.ptx):
        return False
    if not all(build.runs_gpu(cc) for cc in profile.compute_capabilities):
        return False
    if driver_tuple(build.min_driver) > driver_tuple(profile.min_driver):
        return False
    return set(profile.pythons) <= set(build.pythons)


def from_table(profile: Profile) -> tuple[TorchBuild, ...]:
    """The table's builds that run on the profile's hardware on every one of its platforms (the
    same torch version and index on each), newest first."""
    table = table_for(profile)
    if table is None:
        return ()
    per_platform = [
        {b.torch: b for b in table.builds if runs_on(b, profile, platform)}
        for platform in profile.platforms
    ]
    found: list[TorchBuild] = []
    for version, build in (per_platform[0] if per_platform else {}).items():
        rows = [rows.get(version) for rows in per_platform]
        if any(row is None or row.index != build.index for row in rows):
            continue
        found.append(
            TorchBuild(
                version=build.torch,
                index=_index(profile, build),
                source=(
                    f"build table {table.path.name}: {build.torch} ({build.variant}, profile"
                    f" {build.profile}'s row) runs on profile {profile.name}'s hardware"
                ),
                exact=True,
            )
        )
    return tuple(found)


def _index(profile: Profile, build: Build) -> Index | None:
    """The row's index, named as the profile names it (else as PyTorch's: pytorch-<variant>)."""
    if build.index is None:
        return None
    same = next((i for i in profile.indexes if i.url.rstrip("/") == build.index.rstrip("/")), None)
    return same or Index(name=f"pytorch-{build.variant}", url=build.index)


#: Consulted in order; the first build of the first source is the profile's preferred build.
SOURCES: tuple[CandidateSource, ...] = (from_profile, from_table)


def candidates(profile: Profile) -> tuple[TorchBuild, ...]:
    """Every source's builds, in order, each exact version once (the first source's wins)."""
    out: dict[Version, TorchBuild] = {}
    for source in SOURCES:
        for build in source(profile):
            out.setdefault(Version(build.version), build)
    return tuple(out.values())


def torch_index(profile: Profile) -> Index | None:
    """The index the profile's torch comes from: a local-label pin lives on the profile's index
    (the PyTorch index keeps one variant per index); a plain pin on the default index."""
    pin = profile.pin("torch")
    if pin is None or Version(pin.version).local is None or not profile.indexes:
        return None
    return profile.indexes[0]


def same_variant(profile: Profile, version: str) -> TorchBuild | None:
    """``version``, found by resolution on the profile's index, as a build for its hardware; or
    None when nothing vouches for it (see the module's rule)."""
    preferred = next(iter(candidates(profile)), None)
    if preferred is None or preferred.index is None or preferred.exact:
        return None
    found, pinned = Version(version), Version(preferred.version)
    if found.local != pinned.local or found > pinned:
        return None
    return TorchBuild(
        version=str(found),
        index=preferred.index,
        source=(
            f"index {preferred.index.name}: the newest +{found.local} build the project allows"
            f" (the pin {preferred.version} is outside its range)"
        ),
    )


def accepts(profile: Profile, version: str) -> TorchBuild | None:
    """The build ``version`` for ``profile``'s hardware, if some source vouches for it."""
    for build in candidates(profile):
        if Version(build.version) == Version(version):  # local labels compare too
            return build
    return same_variant(profile, version)
