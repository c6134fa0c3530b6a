"""Read this machine: the platform and every GPU, one small probe module per source.

- :mod:`~constraints_gen.detect.platform`: system, machine, OS version, C library (glibc or musl);
- :mod:`~constraints_gen.detect.nvml`: NVIDIA GPUs through NVML (Linux, Windows);
- :mod:`~constraints_gen.detect.jetson`: Jetson L4T release and module (files; NVML may be absent);
- :mod:`~constraints_gen.detect.amd`: AMD GPUs from the KFD topology in sysfs;
- :mod:`~constraints_gen.detect.intel`: Intel discrete GPUs from PCI in sysfs;
- :mod:`~constraints_gen.detect.apple`: the GPU of an Apple Silicon Mac (sysctl).

Each probe reads from an injectable root folder or module, is imported only when this machine's
platform needs it, and reports what it could not read instead of crashing. A machine is a CPU
machine only when no probe finds a GPU and none failed: a probe that failed with no GPU found is
an error (exit 2), never a silent CPU machine; NVML answering and then failing is always one.

GPU indices are unique on the machine: NVIDIA GPUs keep NVML's index (what CUDA_VISIBLE_DEVICES
uses), GPUs of other vendors follow in probe order (each vendor's own order: HIP's for AMD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from constraints_gen.detect.found import Found
from constraints_gen.detect.hardware import Gpu, Hardware, Platform
from constraints_gen.errors import ConstraintsGenError


@dataclass(frozen=True, slots=True, kw_only=True)
class Detected:
    hardware: Hardware
    #: For people, on stderr: what was left out or read with a caveat.
    notes: tuple[str, ...] = ()
    #: Probes that failed while GPUs were still found: warnings on stderr.
    problems: tuple[str, ...] = ()


NO_GPU_TIP = (
    "pass a readout with --hardware FILE (see `gen-constraints detect --json`) or name the"
    " profile with --profile NAME"
)


def detect(
    *,
    root: Path = Path("/"),
    environ: Mapping[str, str] | None = None,
    platform: Platform | None = None,
    platform_module: Any = None,
    nvml_module: ModuleType | None = None,
    run: Any = None,
    winreg_module: Any = None,
) -> Detected:
    """Every probe this platform needs, combined. Injectables: ``root`` (a fake ``/`` for the
    sysfs/procfs probes), ``environ``, ``platform`` or ``platform_module``, ``nvml_module``
    (stands in for pynvml), ``run`` (stands in for the sysctl runner on macOS), ``winreg_module``
    (stands in for Windows' registry)."""
    probed = platform is None  # a platform passed in is taken as given, libc included
    if platform is None:
        from constraints_gen.detect import platform as platform_probe

        platform = platform_probe.read(platform_module)
    gpus: list[Gpu] = []
    sources: list[str] = []
    absent: list[str] = []
    notes: list[str] = []
    problems: list[str] = []
    driver: str | None = None
    cuda: str | None = None

    def add(source: str, found: Found) -> None:
        start = max((gpu.index for gpu in gpus), default=-1) + 1
        gpus.extend(replace(gpu, index=start + i) for i, gpu in enumerate(found.gpus))
        absent.extend([found.absent] if found.absent else [])
        notes.extend(found.notes)
        problems.extend(found.problems)
        if found.gpus:
            sources.append(source)

    if platform.system in ("linux", "windows"):
        from constraints_gen.detect import nvml

        readout = nvml.detect_nvidia(nvml_module, environ)
        if isinstance(readout, str):
            absent.append(readout)
        else:
            gpus.extend(readout.gpus)
            driver, cuda = readout.driver_version, readout.cuda_driver_version
            notes.extend(readout.notes)
            sources.append("NVML")
    if platform.system == "linux":
        if platform.machine == "aarch64":
            from constraints_gen.detect import jetson

            tegra = jetson.detect(root)
            if tegra.l4t is not None:
                platform = replace(platform, l4t=tegra.l4t)
            if tegra.l4t is not None or tegra.found.problems:
                if gpus:  # NVML read the Jetson's GPU itself
                    notes.append(f"Jetson L4T {tegra.l4t}")
                else:
                    add("Jetson L4T", tegra.found)
        from constraints_gen.detect import amd, intel

        add("KFD sysfs", amd.detect(root, environ))
        add("PCI sysfs", intel.detect(root))
    if platform.system == "windows":
        from constraints_gen.detect import windows

        add("registry", windows.detect(winreg_module))
    if platform.system == "darwin" and platform.machine == "aarch64":
        from constraints_gen.detect import apple

        if platform.os_version in (None, "10.16"):
            real = apple.macos_version(run)
            if real is not None and real != platform.os_version:
                platform = replace(platform, os_version=real)
        add("sysctl", apple.detect(run))
    elif platform.system == "darwin":
        from constraints_gen.detect import apple

        if apple.sysctl("sysctl.proc_translated", run or apple.default_run) == "1":
            absent.append(
                "this Python runs under Rosetta 2 on Apple Silicon: an arm64 Python would get"
                " the Apple GPU (MPS)"
            )
    if not gpus and problems:
        raise ConstraintsGenError(
            "no GPU found, and a probe failed, so this may be a GPU machine: "
            + "; ".join(problems),
            tip=NO_GPU_TIP,
        )
    if probed and platform.system == "linux" and platform.libc is None:
        problems.append(
            "the C library could not be read (neither glibc nor musl): manylinux builds are"
            " assumed to install here"
        )
    why = [*absent, *notes] or ["none found"]
    source = " + ".join(sources) if gpus else "no GPU: " + "; ".join(why)
    hardware = Hardware(
        platform=platform,
        driver_version=driver,
        cuda_driver_version=cuda,
        gpus=tuple(gpus),
        source=source,
    )
    return Detected(hardware=hardware, notes=tuple(notes), problems=tuple(problems))
