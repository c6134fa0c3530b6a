"""Candidate torch builds for a profile's hardware: which torch versions, from which index.

A uv project's block (:mod:`constraints_gen.locks.uvproject`) takes, for each profile, the newest
build that runs on the profile's hardware and that the project's own requirements allow. What
"runs on the hardware" means comes from here, through one small interface
(:class:`CandidateSource`), so that a table of published builds per variant (arch lists, driver
floors, index URLs) can answer it later without the block's code changing.

Today two answers exist:

- :func:`from_profile`: the profile's own pin and index. The profile was written for this
  hardware, so its build runs there (its comments cite the build's arch list).
- :func:`same_variant`: a version that resolution found on the profile's *own variant index*
  (``https://download.pytorch.org/whl/cu126`` serves only ``+cu126`` builds), no newer than the
  pin and carrying the pin's local label. An older build of the same variant was built with the
  same toolkit; the table will replace this rule with the published arch list of each build.
  A pin without a local label comes from PyPI, whose plain builds change their CUDA variant
  between releases (torch 2.7.1 is CUDA 12.6, 2.8.0 is CUDA 12.8: PyPI ``Requires-Dist`` of
  each), so no other version is accepted for it without the table.

Where the table plugs in: one more :data:`CandidateSource` in :data:`SOURCES`, a function from
the profile to the builds that run on its hardware (newest first, each with its index). Nothing
else changes: :func:`constraints_gen.locks.uvprobe.probe` tries every candidate in turn, each on
its own index, and :func:`accepts` vouches for any candidate uv locks (tests/test_uvproject.py
plugs a table in this way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from packaging.version import Version

from constraints_gen.profiles.model import Index, Profile

#: The packages whose build depends on the accelerator and that uv's PyTorch guide routes to the
#: accelerator's index (docs/guides/integration/pytorch.md: torch, torchvision, torchaudio;
#: pytorch-triton-rocm and triton-rocm for ROCm, triton-xpu for XPU).
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
#: What must come from a profile's index before resolution can even see it (uv's PyTorch guide).
ROUTED_BY_VENDOR = {
    "amd": ("pytorch-triton-rocm", "triton-rocm"),
    "intel": ("triton-xpu",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchBuild:
    """One torch build a profile's hardware runs: its exact version and where it is published."""

    version: str  # exact, local label kept: "2.14.1+cu126"
    index: Index | None  # None: the project's default index (PyPI)
    source: str  # who vouches for it: "profile cu126 pins.torch", "index pytorch-cu126 (...)"


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
        ),
    )


#: Consulted in order; the first build of the first source is the profile's preferred build.
SOURCES: tuple[CandidateSource, ...] = (from_profile,)


def candidates(profile: Profile) -> tuple[TorchBuild, ...]:
    return tuple(build for source in SOURCES for build in source(profile))


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
    if preferred is None or preferred.index is None:
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
