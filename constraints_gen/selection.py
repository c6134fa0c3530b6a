"""Which profile runs on this machine, and why.

A profile fits an NVIDIA machine when (shared FACTS.md sections 2-3, from NVIDIA's CUDA
compatibility guide and GPU tables):
- the driver is at least the profile's ``min_driver`` and its CUDA driver version has the build's
  major version or a newer one (minor-version compatibility: a 12.8 build runs on a 12.x driver
  from R525 on; a 13.x build needs R580);
- every visible GPU has kernels in the build: machine code for X.y runs on X.z with z >= y (same
  major only), or the build carries PTX for its newest architecture and the GPU is newer still.

A CPU profile fits a machine with no visible NVIDIA GPU; on a GPU machine, only when named.

Rule for the best fit (deterministic): the newest CUDA build the machine can run, then the newest
torch, then the profile name in alphabetical order.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from constraints_gen.errors import NoFitError
from constraints_gen.hardware import Gpu, Hardware, driver_tuple
from constraints_gen.profiles import Profile, ProfileSet


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    profile: Profile
    fits: bool
    reasons: tuple[str, ...]  # why it fits, or every reason it does not
    driver_only: bool = False  # it would fit with a newer driver


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    hardware: Hardware
    verdicts: tuple[Verdict, ...]  # best first
    chosen: Profile | None

    def to_json(self) -> dict[str, object]:
        return {
            "hardware": self.hardware.to_json(),
            "selected": None if self.chosen is None else self.chosen.name,
            "profiles": [
                {"name": v.profile.name, "fits": v.fits, "reasons": list(v.reasons)}
                for v in self.verdicts
            ],
        }


def _cc(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def gpu_verdict(profile: Profile, gpu: Gpu) -> tuple[bool, str]:
    """Does ``profile``'s build have kernels for ``gpu``? With the reason."""
    cc = gpu.compute_capability
    if cc is None:
        return False, f"GPU {gpu.index} {gpu.name}: a {gpu.vendor} GPU, not NVIDIA"
    label = f"GPU {gpu.index} {gpu.name} (compute capability {gpu.cc})"
    same_major = [arch for arch in profile.compute_capabilities if arch[0] == cc[0] and arch <= cc]
    if same_major:
        return True, f"{label}: runs the build's sm_{_cc(max(same_major)).replace('.', '')} code"
    newest = max(profile.compute_capabilities, default=None)
    if profile.ptx and newest is not None and cc > newest:
        return True, f"{label}: JIT-compiles the build's PTX for {_cc(newest)}"
    built = " ".join(_cc(arch) for arch in profile.compute_capabilities)
    return False, f"{label}: the build has no kernels for it (built for {built})"


def evaluate(profile: Profile, hardware: Hardware) -> Verdict:
    if profile.vendor == "cpu":
        if hardware.is_cpu:
            return Verdict(profile=profile, fits=True, reasons=("no NVIDIA GPU: CPU build",))
        return Verdict(
            profile=profile,
            fits=False,
            reasons=(
                f"a CPU build on a GPU machine: used only when named (--profile {profile.name})",
            ),
        )
    if not hardware.gpus_of("nvidia"):
        return Verdict(profile=profile, fits=False, reasons=("no NVIDIA GPU visible",))
    assert hardware.driver_version is not None and hardware.cuda_driver_version is not None
    assert profile.min_driver is not None and profile.cuda is not None
    fits, driver_fits, reasons = True, True, []
    cuda = f"CUDA {profile.cuda_text} build"
    if driver_tuple(hardware.driver_version) < driver_tuple(profile.min_driver):
        driver_fits = False
        reasons.append(
            f"driver {hardware.driver_version} is older than {profile.min_driver},"
            f" the oldest that runs the {cuda}"
        )
    else:
        reasons.append(f"driver {hardware.driver_version} >= {profile.min_driver} for the {cuda}")
    driver_cuda = tuple(int(p) for p in hardware.cuda_driver_version.split("."))
    if driver_cuda[0] < profile.cuda[0]:
        driver_fits = False
        reasons.append(
            f"the driver supports CUDA {hardware.cuda_driver_version}, older than the"
            f" {profile.cuda[0]}.x that the {cuda} needs"
        )
    for gpu in hardware.gpus:
        ok, reason = gpu_verdict(profile, gpu)
        fits = fits and ok
        reasons.append(reason)
    return Verdict(
        profile=profile,
        fits=fits and driver_fits,
        reasons=tuple(reasons),
        driver_only=fits and not driver_fits,
    )


def rank_key(profile: Profile) -> tuple[tuple[int, int], Version]:
    """Sort key, highest best: newest CUDA build, then newest torch (ties: name, A to Z)."""
    return (profile.cuda or (0, 0), profile.torch_version or Version("0"))


def select(profiles: ProfileSet, hardware: Hardware, *, name: str | None = None) -> Selection:
    """Choose the best fitting profile, or the named one; raise NoFitError when none can run."""
    by_name = sorted(profiles.profiles, key=lambda p: p.name)
    ordered = sorted(by_name, key=rank_key, reverse=True)  # stable: ties keep name order
    verdicts = tuple(evaluate(profile, hardware) for profile in ordered)
    verdicts = tuple(sorted(verdicts, key=lambda v: not v.fits))  # stable: fits first, by rank
    if name is not None:
        return Selection(hardware=hardware, verdicts=verdicts, chosen=profiles.get(name))
    chosen = next((v.profile for v in verdicts if v.fits), None)
    return Selection(hardware=hardware, verdicts=verdicts, chosen=chosen)


def require_fit(selection: Selection) -> Profile:
    """The chosen profile, or a NoFitError that says why and names what would fit."""
    if selection.chosen is not None:
        return selection.chosen
    hw = selection.hardware
    lines = [f"no profile fits this machine ({_machine(hw)}):"]
    lines += [f"  {v.profile.name}: " + "; ".join(v.reasons) for v in selection.verdicts]
    tips = [
        f"upgrade the NVIDIA driver to {v.profile.min_driver} or newer for profile {v.profile.name}"
        for v in selection.verdicts
        if v.driver_only
    ]
    tips += [
        f"use a CPU build explicitly: --profile {v.profile.name}"
        for v in selection.verdicts
        if v.profile.vendor == "cpu"
    ]
    raise NoFitError("\n".join(lines), tip="; or ".join(tips) or None)


def _machine(hw: Hardware) -> str:
    if hw.is_cpu:
        return "no NVIDIA GPU"
    gpus = ", ".join(f"{g.name} {g.cc}" for g in hw.gpus)
    return f"driver {hw.driver_version}, CUDA {hw.cuda_driver_version}, {gpus}"
