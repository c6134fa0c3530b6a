"""Does torch in the target run on this machine's GPUs? The GPU check of every vendor.

The probe (:func:`constraints_gen.install._in_target_probe.gpu_probe`, run in the target) asks
torch; the comparison here is pure, with the rule profile selection uses
(:mod:`constraints_gen.profiles.select`): a build must serve every GPU of its own vendor; GPUs of
other vendors are not its business. For each vendor, ``torch.__version__`` is the lock's (local
label included) and then:

- ``nvidia`` and ``jetson`` (the CUDA check; a Jetson's GPU is integrated): ``torch.version.cuda``
  is the profile's, ``torch.cuda.is_available()``, ``torch.cuda.get_arch_list()`` has code for
  every GPU torch sees (NVIDIA's CUDA compatibility guide: SASS ``sm_XY`` runs on compute
  capability X.Z with Z >= Y of the same major; PTX ``compute_XY`` is JIT-compiled for any newer
  GPU; the ``a`` variants only run on exactly X.Y), and a tiny operation runs on each.
- ``amd`` (ROCm, through torch.cuda): the ROCm version is the profile's (``torch.version.rocm``
  where torch has it, else ``torch.version.hip``: HIP's version followed ROCm's until they were
  allowed to diverge, pytorch/pytorch#168097), ``torch.cuda.is_available()``, every visible GPU's
  gfx target (``gcnArchName`` without its ``:sramecc+:xnack-`` features) is in
  ``torch.cuda.get_arch_list()`` exactly (ROCm code objects have no fallback), and a tiny
  operation runs on each.
- ``intel`` (XPU): ``torch.xpu.is_available()``, at least one XPU device, a tiny operation on each.
- ``apple`` (MPS): ``torch.backends.mps.is_built()`` and ``is_available()``, a tiny operation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from constraints_gen.detect.hardware import Gpu, Hardware
from constraints_gen.install.findings import Finding, local_label, same_version
from constraints_gen.install.readout import Malformed, Node
from constraints_gen.profiles.model import Profile
from constraints_gen.profiles.select import gfx_runs, gpu_label, served_gpus

_ARCH = re.compile(r"^(sm|compute)_(\d+)(\d)([af]?)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A device torch sees, and the error of the tiny operation on it (None: it ran)."""

    index: int
    name: str
    op_error: str | None
    capability: tuple[int, int] | None = None  # CUDA
    gfx: str | None = None  # ROCm: "gfx942"

    @property
    def label(self) -> str:
        if self.capability is not None:
            cc = f"{self.capability[0]}.{self.capability[1]}"
            return f"GPU {self.index} {self.name} (compute capability {cc})"
        if self.gfx is not None:
            return f"GPU {self.index} {self.name} ({self.gfx})"
        return f"GPU {self.index} {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchInfo:
    error: str | None  # import torch (or a query) failed
    version: str = ""
    cuda: str | None = None  # torch.version.cuda
    hip: str | None = None  # torch.version.hip
    rocm: str | None = None  # torch.version.rocm (torch with pytorch/pytorch#168097)
    built: bool = True  # MPS: torch.backends.mps.is_built()
    available: bool = False  # the vendor's is_available()
    warnings: tuple[str, ...] = ()
    arch_list: tuple[str, ...] = ()  # torch.cuda.get_arch_list() (CUDA and ROCm)
    devices: tuple[Device, ...] = ()
    visible_devices: tuple[tuple[str, str | None], ...] = ()  # the variables that hide GPUs

    def visibility(self) -> str:
        """``CUDA_VISIBLE_DEVICES: 1`` (the variables that are set), else ``...: not set``."""
        set_ = [f"{name}: {value}" for name, value in self.visible_devices if value is not None]
        names = ", ".join(name for name, _ in self.visible_devices)
        return ", ".join(set_) or f"{names or 'no variable'}: not set"


def parse_torch(data: Node) -> TorchInfo:
    """What the probe read from torch; raises Malformed."""
    if data.has("error"):
        return TorchInfo(error=data.get("error").text())
    devices = []
    for d in data.get("devices").items():
        capability = d.get("capability")
        pair = None if capability.value is None else capability.items()
        if pair is not None and len(pair) != 2:
            raise Malformed(f"{capability.where}: expected [major, minor]")
        devices.append(
            Device(
                index=d.get("index").integer(),
                name=d.get("name").text(),
                op_error=d.get("op_error").text_or_none(),
                capability=None if pair is None else (pair[0].integer(), pair[1].integer()),
                gfx=d.get("gfx").text_or_none(),
            )
        )
    visible = []
    for pair_node in data.get("visible_devices").items():
        name_value = pair_node.items()
        if len(name_value) != 2:
            raise Malformed(f"{pair_node.where}: expected [name, value]")
        visible.append((name_value[0].text(), name_value[1].text_or_none()))
    return TorchInfo(
        error=None,
        version=data.get("version").text(),
        cuda=data.get("cuda").text_or_none(),
        hip=data.get("hip").text_or_none(),
        rocm=data.get("rocm").text_or_none(),
        built=data.get("built").flag(),
        available=data.get("available").flag(),
        warnings=data.get("warnings").texts(),
        arch_list=data.get("arch_list").texts(),
        devices=tuple(devices),
        visible_devices=tuple(visible),
    )


def parse_arch(arch: str) -> tuple[str, tuple[int, int], str] | None:
    """``"sm_90a"`` -> ``("sm", (9, 0), "a")``; None when it is not an architecture name."""
    match = _ARCH.match(arch)
    if match is None:
        return None
    return match[1], (int(match[2]), int(match[3])), match[4]


def arch_covers(arch_list: Sequence[str], capability: tuple[int, int]) -> str | None:
    """The entry of torch's arch list that a GPU of ``capability`` runs (the newest machine code,
    else the newest PTX); None: none of them."""
    fitting: list[tuple[bool, tuple[int, int], str]] = []
    for arch in arch_list:
        parsed = parse_arch(arch)
        if parsed is None:
            continue
        kind, (major, minor), variant = parsed
        if variant == "a":  # architecture-specific features: only exactly this GPU
            fits = (major, minor) == capability
        elif kind == "sm" or variant == "f":  # SASS (or a family): same major, same or newer minor
            fits = major == capability[0] and minor <= capability[1]
        else:  # PTX: JIT-compiled by the driver for any newer GPU
            fits = (major, minor) <= capability
        if fits:
            fitting.append((kind == "sm", (major, minor), arch))
    return max(fitting)[2] if fitting else None


def _major_minor(text: str | None) -> tuple[int, int] | None:
    """``"12.1"``, ``"7.2.26015-bd8a1b7"`` -> (12, 1), (7, 2); None for anything else."""
    parts = (text or "").split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


class _Check:
    """The findings of one GPU check, and the GPUs that passed it."""

    def __init__(self, profile: Profile, torch: TorchInfo, gpus: Sequence[Gpu]) -> None:
        self.profile, self.torch, self.gpus = profile, torch, tuple(gpus)
        self.findings: list[Finding] = []
        self.passed: list[str] = []

    def fail(self, subject: str, message: str) -> None:
        self.findings.append(Finding(check="gpu", subject=subject, message=message))

    @property
    def named(self) -> str:
        """``GPU 0 AMD Instinct MI300X, GPU 1 ...``: the machine's GPUs of this build's vendor."""
        return ", ".join(f"GPU {g.index} {g.name}" for g in self.gpus)

    def unavailable(self, call: str, where: str = "") -> None:
        why = "".join(f"; {warning}" for warning in self.torch.warnings)
        self.fail(
            "torch", f"torch {self.torch.version} cannot use the GPUs ({self.named}): {call} is"
            f" False{where}{why}"
        )  # fmt: skip

    def devices(self, kernels: dict[int, str | None]) -> None:
        """Each device torch sees: its missing kernels (``kernels``: index -> why), its
        operation; it passes when neither failed."""
        for device in self.torch.devices:
            before = len(self.findings)
            missing = kernels.get(device.index)
            if missing is not None:
                self.fail(device.label, f"{device.label}: {missing}")
            if device.op_error is not None:
                self.fail(
                    device.label, f"{device.label}: a tiny operation failed: {device.op_error}"
                )
            if len(self.findings) == before:
                self.passed.append(f"GPU {device.index} {device.name}")


def _check_cuda(check: _Check) -> None:
    profile, torch = check.profile, check.torch
    tv = torch.version
    if profile.cuda is not None and _major_minor(torch.cuda) != profile.cuda:
        built = "a CPU build" if torch.cuda is None else f"built for CUDA {torch.cuda}"
        source = "torch.version.cuda"
        if torch.cuda is None and torch.hip is not None:
            built, source = f"a ROCm build (HIP {torch.hip})", "torch.version.hip"
        check.fail(
            "torch",
            f"torch {tv} is {built} ({source}), profile {profile.name}"
            f" needs CUDA {profile.cuda_text}",
        )
    if not _sees_gpus(check):
        return
    archs = " ".join(torch.arch_list) or "empty"
    kernels: dict[int, str | None] = {}
    for device in torch.devices:
        if device.capability is None or arch_covers(torch.arch_list, device.capability) is None:
            cc = "".join(map(str, device.capability or ("?", "?")))
            kernels[device.index] = (
                f"torch {tv} has no kernels for it: neither sm_{cc} code nor PTX for it or an"
                f" older architecture (torch.cuda.get_arch_list(): {archs})"
            )
    check.devices(kernels)


def _sees_gpus(check: _Check) -> bool:
    """Does torch's CUDA or HIP backend answer (``torch.cuda`` serves both)? Unavailable: said,
    and nothing more to check; no device: a failure, and the per-GPU checks still follow."""
    torch = check.torch
    if not torch.available:
        check.unavailable("torch.cuda.is_available()")
        return False
    if not torch.devices:
        check.fail("torch", f"torch {torch.version} sees no GPU (torch.cuda.device_count() is 0)")
    return True


def _check_rocm(check: _Check) -> None:
    profile, torch = check.profile, check.torch
    tv = torch.version
    source, found = (
        ("torch.version.rocm", torch.rocm) if torch.rocm else ("torch.version.hip", torch.hip)
    )
    want = _major_minor(profile.rocm)
    if found is None:
        built = f"built for CUDA {torch.cuda}" if torch.cuda else "a CPU build"
        check.fail(
            "torch",
            f"torch {tv} is {built}, not a ROCm build (torch.version.hip is None), profile"
            f" {profile.name} needs ROCm {profile.rocm}",
        )
    elif _major_minor(found) != want:
        check.fail(
            "torch",
            f"torch {tv} is built for ROCm {found} ({source}), profile {profile.name} needs"
            f" ROCm {profile.rocm}",
        )
    if not _sees_gpus(check):
        return
    archs = " ".join(torch.arch_list) or "empty"
    by_index = {gpu.index: gpu.gfx for gpu in check.gpus}
    kernels: dict[int, str | None] = {}
    for device in torch.devices:
        gfx = device.gfx or by_index.get(device.index)
        if gfx is None:
            kernels[device.index] = "torch names no gfx target for it (gcnArchName)"
        elif not gfx_runs(gfx, torch.arch_list):
            kernels[device.index] = (
                f"torch {tv} has no kernels for {gfx} (torch.cuda.get_arch_list(): {archs});"
                " ROCm builds have no fallback"
            )
    check.devices(kernels)


def _check_xpu(check: _Check) -> None:
    torch = check.torch
    if not torch.available:
        check.unavailable("torch.xpu.is_available()")
        return
    if not torch.devices:
        check.fail(
            "torch", f"torch {torch.version} sees no XPU device (torch.xpu.device_count() is 0)"
        )
    check.devices({})


def _check_mps(check: _Check, hardware: Hardware) -> None:
    torch = check.torch
    tv = torch.version
    if not torch.built:
        check.fail(
            "torch",
            f"torch {tv} is built without MPS (torch.backends.mps.is_built() is False),"
            f" profile {check.profile.name} needs it",
        )
        return
    if not torch.available:
        macos = hardware.platform.os_version
        check.unavailable(
            "torch.backends.mps.is_available()", f" on macOS {macos}" if macos else ""
        )
        return
    name = next((f"GPU {g.index} {g.name}" for g in check.gpus), "the Apple GPU")
    if not torch.devices:
        check.fail("torch", f"torch {tv} sees no MPS device")
    for device in torch.devices:  # one: "mps"
        if device.op_error is not None:
            check.fail(name, f"{name} (mps): a tiny operation failed: {device.op_error}")
        else:
            check.passed.append(name)


def check_gpu(
    profile: Profile, locked_torch: str | None, hardware: Hardware, torch: TorchInfo
) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """(failures, the GPUs that passed) of torch in the target on the machine's GPUs of the
    profile's vendor."""
    if torch.error is not None:
        return (Finding(check="gpu", subject="torch", message=f"torch: {torch.error}"),), ()
    check = _Check(profile, torch, served_gpus(profile, hardware))
    if locked_torch is not None:
        tv = torch.version
        public_ok = same_version(tv.split("+")[0], locked_torch.split("+")[0])
        local = local_label(locked_torch)
        if not public_ok or (local is not None and local_label(tv) != local):
            check.fail("torch", f"torch.__version__ is {tv}, the lock has torch {locked_torch}")
    if profile.vendor == "amd":
        _check_rocm(check)
    elif profile.vendor == "intel":
        _check_xpu(check)
    elif profile.vendor == "apple":
        _check_mps(check, hardware)
    else:
        _check_cuda(check)
    return tuple(check.findings), tuple(check.passed)


def gpu_plan(profile: Profile, hardware: Hardware | None) -> tuple[bool, str | None]:
    """(run the GPU check, else the notice that says why not)."""
    if profile.vendor == "cpu" or hardware is None:
        return False, f"GPU checks: not applicable (profile {profile.name} is a CPU build)"
    if not served_gpus(profile, hardware):
        label = gpu_label(profile)
        return False, f"GPU checks skipped: no {label} GPU on this machine ({hardware.source})"
    return True, None


def unseen_notice(
    profile: Profile, hardware: Hardware, torch: TorchInfo, passed: Sequence[str]
) -> str | None:
    """A notice when torch passed on fewer GPUs than the machine has of this vendor (some are
    hidden from it)."""
    served = served_gpus(profile, hardware)
    if len(passed) >= len(served):
        return None
    return (
        f"torch sees {len(passed)} of the {len(served)} {gpu_label(profile)} GPUs that"
        f" {hardware.source} lists ({torch.visibility()})"
    )
