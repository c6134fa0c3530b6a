"""Which profile runs on this machine, and why.

A profile fits only if one of its platforms is the machine's (system and machine; a manylinux
platform also needs glibc at least its floor, and never fits a musl machine (Alpine: manylinux
wheels do not install on musl, PEP 600/656); a C library the readout does not know is assumed to be
a new enough glibc, and the reason says so; on macOS the machine's version must be at least the
build's ``min_macos``, the oldest macOS the build runs on: for an MPS build, MPS's own floor, which
can be newer than its wheels' tag). The rest depends on the vendor:

- ``nvidia`` (NVIDIA's CUDA Compatibility guide and its CUDA GPUs compute-capability tables):
  the driver is at least the profile's ``min_driver`` and its CUDA driver version has the
  build's major version or a newer one (minor-version compatibility); every visible NVIDIA GPU
  has kernels in the build: machine code for X.y runs on X.z with z >= y (same major only), or the
  build carries PTX for its newest architecture and the GPU is newer still. Never on a Jetson
  (L4T set): PyPI's aarch64 builds do not run on JetPack 6 Orin.
- ``jetson``: the machine is a Jetson whose L4T release is in the build's ``l4t`` range, and every
  NVIDIA GPU has kernels in the build (as above).
- ``amd``: every AMD GPU's gfx target is one the ROCm build lists (no fallback).
- ``intel``: an Intel GPU is visible (the XPU build). ``apple``: an Apple GPU (the MPS build).
- ``cpu``: a machine with no GPU of any vendor; on a GPU machine, only when named.

On a machine with GPUs of several vendors a build must serve every GPU of its own vendor; the
others are listed as ignored.

Rule for the best fit (deterministic), among the profiles that fit: a GPU build over a CPU build;
then the build that serves more of the machine's GPUs; then the vendor, in the order nvidia,
jetson, amd, intel, apple; then the newest torch release (its public version: ``2.14.1+cu126``
and ``2.14.1`` are the same release); then the newest CUDA or ROCm version among that release's
builds; then the profile name in alphabetical order. Profiles that do not fit follow, in the same
order. A team upgrades for what the newest torch brings, so an older torch never wins over a newer
one that runs, whatever its CUDA version.

Each fitting profile that lost says why (``fits; 2.14.1+cu126 is newer``). A profile that does not
fit only because of something the user can change (the driver, the glibc of the system) carries
that change (``driver >= 525.60.13``); with no fit, :func:`require_fit` names the nearest such
change first, then the ones that run a newer torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from constraints_gen.detect.hardware import Gpu, Hardware, Vendor, driver_tuple
from constraints_gen.errors import NoFitError
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.uvplatforms import parse_uv_platform

_VENDOR_ORDER = ("nvidia", "jetson", "amd", "intel", "apple", "cpu")
#: profile vendor -> the GPUs its build serves
_GPU_VENDOR: dict[str, Vendor] = {
    "nvidia": "nvidia", "jetson": "nvidia", "amd": "amd", "intel": "intel", "apple": "apple",
}  # fmt: skip
_LABEL = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel", "apple": "Apple"}
_MPS_FLOOR = " (MPS's own floor for this torch)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    profile: Profile  # as seen on the machine's platform when it is one of the profile's
    fits: bool
    reasons: tuple[str, ...]  # why it fits, or every reason it does not
    driver_only: bool = False  # it would fit with a newer driver
    served: int = 0  # how many of the machine's GPUs the build serves
    #: what would make it fit, where the user can change it: (("driver", "525.60.13"), ...)
    changes: tuple[tuple[str, str], ...] = ()
    lost: str | None = None  # a fitting profile that was not chosen: why


def change_text(changes: tuple[tuple[str, str], ...]) -> str:
    """``driver >= 525.60.13 and glibc >= 2.28``."""
    return " and ".join(f"{what} >= {floor}" for what, floor in changes)


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
                {
                    "name": v.profile.name,
                    "fits": v.fits,
                    "reasons": list(v.reasons),
                    "lost": v.lost,
                    "would_fit_with": {what: floor for what, floor in v.changes} or None,
                    "build": build_json(v.profile),
                }
                for v in self.verdicts
            ],
        }


def build_json(profile: Profile) -> dict[str, object]:
    """What the profile's build is, on the platform it is seen on."""
    torch = profile.pin("torch")
    archs = (
        list(profile.gfx_targets)
        if profile.vendor == "amd"
        else [_cc(cc) for cc in profile.compute_capabilities]
    )
    macos = profile.min_macos
    return {
        "vendor": profile.vendor,
        "torch": None if torch is None else torch.version,
        "cuda": profile.cuda_text,
        "rocm": profile.rocm,
        "archs": archs,
        "ptx": profile.ptx,
        "tegra": profile.vendor == "jetson",
        "l4t": profile.l4t,
        "min_driver": profile.min_driver,
        "min_macos": None if macos is None else f"{macos[0]}.{macos[1]}",
        "platform": profile.platform,
        "platforms": list(profile.platforms),
    }


def _cc(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def gpu_verdict(profile: Profile, gpu: Gpu) -> tuple[bool, str]:
    """Does ``profile``'s build have kernels for ``gpu``? With the reason."""
    if gpu.vendor == "amd":
        label = f"GPU {gpu.index} {gpu.name} ({gpu.gfx})"
        if gpu.gfx is not None and gfx_runs(gpu.gfx, profile.gfx_targets):
            return True, f"{label}: runs the ROCm {profile.rocm} build's {gpu.gfx} code"
        built = " ".join(profile.gfx_targets)
        return False, (
            f"{label}: the ROCm {profile.rocm} build has no kernels for it (built for {built});"
            " ROCm builds have no fallback"
        )
    if gpu.vendor in ("intel", "apple"):
        kind = "XPU" if gpu.vendor == "intel" else "MPS"
        return True, f"GPU {gpu.index} {gpu.name}: runs the {kind} build"
    cc = gpu.compute_capability
    assert cc is not None
    label = f"GPU {gpu.index} {gpu.name} (compute capability {gpu.cc})"
    same_major = [arch for arch in profile.compute_capabilities if arch[0] == cc[0] and arch <= cc]
    if same_major:
        return True, f"{label}: runs the build's sm_{_cc(max(same_major)).replace('.', '')} code"
    newest = max(profile.compute_capabilities, default=None)
    if profile.ptx and newest is not None and cc > newest:
        return True, f"{label}: JIT-compiles the build's PTX for {_cc(newest)}"
    built = " ".join(_cc(arch) for arch in profile.compute_capabilities)
    return False, f"{label}: the build has no kernels for it (built for {built})"


def gfx_runs(gfx: str, built: Sequence[str]) -> bool:
    """Does a ROCm build with code for ``built`` run on a GPU of target ``gfx``? Only with code
    for exactly that target: ROCm code objects have no fallback to an older target. Feature
    suffixes (``gfx90a:sramecc+:xnack-``, as HIP's ``gcnArchName`` has them) are not compared."""
    return gfx.split(":")[0] in {target.split(":")[0] for target in built}


def served_gpus(profile: Profile, hardware: Hardware) -> tuple[Gpu, ...]:
    """The machine's GPUs that ``profile``'s build is for: its vendor's (none for a CPU build)."""
    if profile.vendor == "cpu":
        return ()
    return hardware.gpus_of(_GPU_VENDOR[profile.vendor])


def gpu_label(profile: Profile) -> str:
    """``"AMD"``: whose GPUs the profile's build is for (``"NVIDIA"`` for a Jetson build)."""
    return "CPU" if profile.vendor == "cpu" else _LABEL[_GPU_VENDOR[profile.vendor]]


def platform_verdict(profile: Profile, hardware: Hardware) -> tuple[Profile, bool, str]:
    """(the profile on the machine's platform, does that platform fit, the reason)."""
    here = hardware.platform
    for candidate in profile.views():
        spec = parse_uv_platform(candidate.platform)
        if (spec.system, spec.machine) != (here.system, here.machine):
            continue
        build = f"platform {candidate.platform}"
        if spec.glibc is not None:
            need = f"{spec.glibc[0]}.{spec.glibc[1]}"
            if here.libc is not None and here.libc.name == "musl":
                return (
                    candidate,
                    False,
                    (
                        f"{build}: this machine's C library is {here.libc.describe()}; its"
                        f" manylinux wheels need glibc {need} or newer and do not install on musl"
                    ),
                )
            have = _version_tuple(here.glibc)
            if have is None:
                return candidate, True, f"{build}: glibc unknown, assumed >= {need}"
            if have < spec.glibc:
                return (
                    candidate,
                    False,
                    (f"{build}: glibc {here.glibc} is older than the {need} its wheels need"),
                )
            return candidate, True, f"{build}: glibc {here.glibc} >= {need}"
        if spec.system == "darwin" and candidate.min_macos is not None:
            need = _cc(candidate.min_macos)
            have = _version_tuple(here.os_version)
            if have is None:
                return (
                    candidate,
                    False,
                    (f"{build}: macOS version unknown; the build needs macOS {need} or newer"),
                )
            if have < candidate.min_macos:
                return (
                    candidate,
                    False,
                    (
                        f"{build}: macOS {here.os_version} is older than {need}, the oldest the"
                        f" build runs on{_MPS_FLOOR if candidate.vendor == 'apple' else ''}"
                    ),
                )
            return candidate, True, f"{build}: macOS {here.os_version} >= {need}"
        return candidate, True, build
    return (
        profile,
        False,
        (f"built for {', '.join(profile.platforms)}; this machine is {here.system} {here.machine}"),
    )


def _version_tuple(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


def evaluate(profile: Profile, hardware: Hardware) -> Verdict:
    view, platform_fits, platform_reason = platform_verdict(profile, hardware)
    glibc = _glibc_short(view, hardware)
    if not platform_fits and glibc is None:
        return Verdict(profile=view, fits=False, reasons=(platform_reason,))
    fits, driver_only, served, reasons = _vendor_verdict(view, hardware)
    changes: tuple[tuple[str, str], ...] = ()
    if (fits or driver_only) and not (fits and platform_fits):
        assert view.min_driver is not None or not driver_only
        changes = (("driver", view.min_driver),) if driver_only and view.min_driver else ()
        changes += (("glibc", glibc),) if glibc is not None else ()
    if not platform_fits:
        return Verdict(profile=view, fits=False, reasons=(platform_reason,), changes=changes)
    return Verdict(
        profile=view,
        fits=fits,
        reasons=(platform_reason, *reasons),
        driver_only=driver_only,
        served=served,
        changes=changes,
    )


def _glibc_short(view: Profile, hardware: Hardware) -> str | None:
    """The glibc the view's wheels need, when the machine's known glibc is older; else None."""
    here = hardware.platform
    spec = parse_uv_platform(view.platform)
    if (spec.system, spec.machine) != (here.system, here.machine) or spec.glibc is None:
        return None
    have = _version_tuple(here.glibc)
    if have is None or have >= spec.glibc:
        return None
    return f"{spec.glibc[0]}.{spec.glibc[1]}"


def _vendor_verdict(profile: Profile, hardware: Hardware) -> tuple[bool, bool, int, list[str]]:
    """(fits, fits but for the driver, GPUs served, reasons) for the profile's vendor."""
    vendor = profile.vendor
    if vendor == "cpu":
        if hardware.is_cpu:
            return True, False, 0, ["no GPU: CPU build"]
        named = f"a CPU build on a GPU machine: used only when named (--profile {profile.name})"
        return False, False, 0, [named]
    gpu_vendor = _GPU_VENDOR[vendor]
    gpus = hardware.gpus_of(gpu_vendor)
    if not gpus:
        return False, False, 0, [f"no {_LABEL[gpu_vendor]} GPU visible"]
    fits, driver_fits, reasons = True, True, list[str]()
    l4t = hardware.platform.l4t
    if vendor == "nvidia" and l4t is not None:
        return (
            False,
            False,
            0,
            [
                f"a Jetson (L4T {l4t}): needs a jetson build; PyPI's aarch64 CUDA builds do not"
                " run on JetPack"
            ],
        )
    if vendor == "jetson":
        fits = _l4t_fits(profile, l4t, reasons)
    if vendor == "nvidia":
        driver_fits = _driver_fits(profile, hardware, reasons)
    for gpu in gpus:
        ok, reason = gpu_verdict(profile, gpu)
        fits = fits and ok
        reasons.append(reason)
    reasons += [
        f"ignores GPU {gpu.index} {gpu.name} ({_LABEL[gpu.vendor]}): this is a {vendor} build"
        for gpu in hardware.gpus
        if gpu.vendor != gpu_vendor
    ]
    return fits and driver_fits, fits and not driver_fits, len(gpus), reasons


def _l4t_fits(profile: Profile, l4t: str | None, reasons: list[str]) -> bool:
    if l4t is None:
        reasons.append("not a Jetson (no L4T release): a Jetson build")
        return False
    assert profile.l4t is not None
    try:
        inside = SpecifierSet(profile.l4t).contains(Version(l4t), prereleases=True)
    except InvalidVersion:
        inside = False
    if inside:
        reasons.append(f"L4T {l4t} is in the build's range {profile.l4t}")
    else:
        reasons.append(f"L4T {l4t} is outside the build's range {profile.l4t}")
    return inside


def _driver_fits(profile: Profile, hardware: Hardware, reasons: list[str]) -> bool:
    assert profile.min_driver is not None and profile.cuda is not None
    cuda = f"CUDA {profile.cuda_text} build"
    driver, cuda_driver = hardware.driver_version, hardware.cuda_driver_version
    if driver is None or cuda_driver is None:
        reasons.append(
            f"the NVIDIA driver version is unknown; the {cuda} needs {profile.min_driver}"
        )
        return False
    fits = True
    if driver_tuple(driver) < driver_tuple(profile.min_driver):
        fits = False
        reasons.append(
            f"driver {driver} is older than {profile.min_driver}, the oldest that runs the {cuda}"
        )
    else:
        reasons.append(f"driver {driver} >= {profile.min_driver} for the {cuda}")
    if int(cuda_driver.split(".")[0]) < profile.cuda[0]:
        fits = False
        reasons.append(
            f"the driver supports CUDA {cuda_driver}, older than the"
            f" {profile.cuda[0]}.x that the {cuda} needs"
        )
    return fits


def rank_key(verdict: Verdict) -> tuple[bool, bool, int, int, Version, tuple[int, ...]]:
    """Sort key, highest best (ties: name, A to Z); see the module's rule."""
    profile = verdict.profile
    return (
        verdict.fits,
        profile.vendor != "cpu",
        verdict.served if verdict.fits else 0,
        -_VENDOR_ORDER.index(profile.vendor),
        _release(profile),
        _toolkit(profile),
    )


def _release(profile: Profile) -> Version:
    """The torch release, local label aside (``2.14.1+cu126`` -> ``2.14.1``)."""
    torch = profile.torch_version
    return Version("0") if torch is None else Version(torch.public)


def _toolkit(profile: Profile) -> tuple[int, ...]:
    return profile.cuda or tuple(int(p) for p in (profile.rocm or "0").split("."))


def _torch_text(profile: Profile) -> str:
    pin = profile.pin("torch")
    return "no torch" if pin is None else pin.version


def _why_lost(verdict: Verdict, chosen: Verdict) -> str:
    """Why a fitting profile lost to the chosen one: the first step of the rule that decided."""
    mine, best = verdict.profile, chosen.profile
    if mine.vendor == "cpu" and best.vendor != "cpu":
        return f"fits; a GPU build wins ({best.name})"
    if verdict.served != chosen.served:
        return f"fits; {best.name} serves more of the GPUs ({chosen.served})"
    if mine.vendor != best.vendor:
        return f"fits; the {best.vendor} build comes first ({best.name})"
    if _release(mine) != _release(best):
        return f"fits; {_torch_text(best)} is newer ({best.name})"
    if _toolkit(mine) != _toolkit(best):
        kind = "CUDA" if best.cuda is not None else "ROCm"
        newer = best.cuda_text if best.cuda is not None else best.rocm
        return f"fits; same torch {_release(best)}, {kind} {newer} is newer ({best.name})"
    return f"fits; an equal build, {best.name} comes first by name"


def select(profiles: ProfileSet, hardware: Hardware, *, name: str | None = None) -> Selection:
    """Choose the best fitting profile, or the named one; raise NoFitError when none can run."""
    by_name = sorted(profiles.profiles, key=lambda p: p.name)
    verdicts = [evaluate(profile, hardware) for profile in by_name]
    ordered = tuple(sorted(verdicts, key=rank_key, reverse=True))  # stable: ties keep names
    best = next((v for v in ordered if v.fits), None)
    if best is not None:
        ordered = tuple(
            replace(v, lost=_why_lost(v, best)) if v.fits and v is not best else v for v in ordered
        )
    if name is not None:
        named = profiles.get(name)
        view = next((v.profile for v in ordered if v.profile.name == named.name), named)
        return Selection(hardware=hardware, verdicts=ordered, chosen=view)
    chosen = None if best is None else best.profile
    return Selection(hardware=hardware, verdicts=ordered, chosen=chosen)


def nearest_changes(selection: Selection) -> tuple[str, ...]:
    """What the user could change to get a fitting profile: the nearest change first (fewest
    things to change, then the lowest floor), then, for the same things, only the larger changes
    that run a newer torch than the smaller ones."""
    options = [v for v in selection.verdicts if v.changes and v.profile.vendor != "cpu"]
    options.sort(key=lambda v: (_change_order(v.changes), [-x for x in _key_numbers(v)]))
    lines, newest = list[str](), dict[tuple[str, ...], Version]()
    for verdict in options:
        kinds = tuple(what for what, _ in verdict.changes)
        if kinds in newest and _release(verdict.profile) <= newest[kinds]:
            continue
        newest[kinds] = _release(verdict.profile)
        lines.append(
            f"{change_text(verdict.changes)} runs {_torch_text(verdict.profile)}"
            f" (profile {verdict.profile.name})"
        )
    return tuple(lines)


def _change_order(
    changes: tuple[tuple[str, str], ...],
) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    floors = dict(changes)
    driver = driver_tuple(floors["driver"]) if "driver" in floors else ()
    glibc = tuple(int(p) for p in floors["glibc"].split(".")) if "glibc" in floors else ()
    return len(changes), driver, glibc


def _key_numbers(verdict: Verdict) -> tuple[int, ...]:
    """The newest torch first among equal changes."""
    return (*_release(verdict.profile).release, *_toolkit(verdict.profile))


def require_fit(selection: Selection) -> Profile:
    """The chosen profile, or a NoFitError that says why and names what would fit."""
    if selection.chosen is not None:
        return selection.chosen
    hw = selection.hardware
    lines = [f"no profile fits this machine ({_machine(hw)}):"]
    lines += [f"  {v.profile.name}: " + "; ".join(v.reasons) for v in selection.verdicts]
    raise NoFitError("\n".join(lines), tip="; or ".join(no_fit_tips(selection)) or None)


def no_fit_tips(selection: Selection) -> list[str]:
    """What would make a profile fit a machine that none fits: the nearest changes (a newer
    driver, glibc), then a CPU build by name."""
    tips = list(nearest_changes(selection))
    tips += [
        f"use a CPU build explicitly: --profile {v.profile.name}"
        for v in selection.verdicts
        if v.profile.vendor == "cpu" and platform_verdict(v.profile, selection.hardware)[1]
    ]
    if selection.hardware.platform.musl:  # PyPI's torch has no musllinux wheels (PyPI file list)
        tips.append("run on a glibc Linux (a Debian or Ubuntu image, not Alpine)")
    return tips


def _machine(hw: Hardware) -> str:
    platform = hw.platform.describe()
    if hw.is_cpu:
        return f"no GPU; {platform}"
    gpus = ", ".join(f"{g.name} {g.arch}".rstrip() for g in hw.gpus)
    if hw.gpus_of("nvidia") and hw.driver_version is not None:
        return f"driver {hw.driver_version}, CUDA {hw.cuda_driver_version}, {gpus}; {platform}"
    return f"{gpus}; {platform}"
