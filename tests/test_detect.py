"""The detection probes, each against a fake root folder or an injected module, and combined.

Every readout :func:`detect` makes must read back through ``--hardware`` (parse_hardware): the
round trip is checked for each machine kind below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest
from conftest import HARDWARE, REPO, TESTS

from constraints_gen.detect import amd, apple, intel, jetson
from constraints_gen.detect import platform as platform_probe
from constraints_gen.detect import windows as windows_probe
from constraints_gen.detect.hardware import (
    LINUX_X86_64,
    Gpu,
    Hardware,
    Libc,
    Platform,
    parse_hardware,
)
from constraints_gen.detect.machine import detect
from constraints_gen.errors import ConstraintsGenError

LINUX_AARCH64 = Platform(system="linux", machine="aarch64", glibc="2.35")
NO_ROOT = TESTS / "data" / "no-such-root"


def write(root: Path, relative: str, text: str | bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def round_trips(hardware: Hardware) -> None:
    again = parse_hardware(json.dumps(hardware.to_json()), "readout")
    assert again.to_json() == hardware.to_json()
    assert again.gpus == hardware.gpus and again.platform == hardware.platform


class NoNvml:
    """pynvml on a machine without the NVIDIA library."""

    class NVMLError_LibraryNotFound(Exception):
        value = 12

    def nvmlInit(self) -> None:
        raise self.NVMLError_LibraryNotFound("NVML Shared Library Not Found")


NO_NVML = cast(ModuleType, NoNvml())


# ---- platform -------------------------------------------------------------------------------


def fake_platform(
    system: str,
    machine: str,
    *,
    mac: str = "",
    win: str = "",
    libc: tuple[str, str] = ("", ""),
) -> Any:
    return SimpleNamespace(
        system=lambda: system,
        machine=lambda: machine,
        mac_ver=lambda: (mac, ("", "", ""), ""),
        win32_ver=lambda: ("10", win, "SP0", "Multiprocessor Free"),
        libc_ver=lambda: libc,
    )


@pytest.mark.parametrize(
    ("module", "confstr", "expected"),
    [
        (
            fake_platform("Linux", "x86_64"),
            "glibc 2.39",
            Platform(system="linux", machine="x86_64", glibc="2.39"),
        ),
        (
            fake_platform("Linux", "aarch64", libc=("glibc", "2.35")),
            None,
            Platform(system="linux", machine="aarch64", glibc="2.35"),
        ),
        (
            fake_platform("Windows", "AMD64", win="10.0.22631"),
            None,
            Platform(system="windows", machine="x86_64", os_version="10.0.22631"),
        ),
        (
            fake_platform("Windows", "ARM64", win="10.0.26100"),
            None,
            Platform(system="windows", machine="aarch64", os_version="10.0.26100"),
        ),
        (
            fake_platform("Darwin", "arm64", mac="14.5"),
            None,
            Platform(system="darwin", machine="aarch64", os_version="14.5"),
        ),
        (  # an unreadable version is left out, not passed on
            fake_platform("Darwin", "arm64", mac="fourteen"),
            None,
            Platform(system="darwin", machine="aarch64"),
        ),
    ],
)
def test_platform_is_normalised(module: Any, confstr: str | None, expected: Platform) -> None:
    assert platform_probe.read(module, lambda name: confstr, lambda: ["linux_x86_64"]) == expected


#: packaging.tags.platform_tags() on Alpine 3.20 x86_64 (musl 1.2.5), newest first (PEP 656)
ALPINE_TAGS = [
    "musllinux_1_2_x86_64",
    "musllinux_1_1_x86_64",
    "musllinux_1_0_x86_64",
    "linux_x86_64",
]


@pytest.mark.parametrize(
    ("confstr", "libc_ver", "tags", "expected"),
    [
        ("glibc 2.39", ("", ""), ALPINE_TAGS, Libc(name="glibc", version="2.39")),  # glibc wins
        (None, ("glibc", "2.31"), ["linux_x86_64"], Libc(name="glibc", version="2.31")),
        (None, ("", ""), ALPINE_TAGS, Libc(name="musl", version="1.2")),  # Alpine
        (None, ("", ""), ["linux_x86_64"], None),  # neither: unknown, not "no glibc"
    ],
)
def test_the_c_library_is_glibc_musl_or_unknown(
    confstr: str | None, libc_ver: tuple[str, str], tags: list[str], expected: Libc | None
) -> None:
    module = fake_platform("Linux", "x86_64", libc=libc_ver)
    platform = platform_probe.read(module, lambda name: confstr, lambda: tags)
    assert platform.libc == expected
    assert platform.glibc == (expected.version if expected and expected.name == "glibc" else None)


def test_unreadable_platform_tags_leave_the_libc_unknown() -> None:
    def broken() -> list[str]:
        raise OSError("cannot read the ELF interpreter of sys.executable")

    assert (
        platform_probe.read_libc(lambda name: None, fake_platform("Linux", "x86_64"), broken)
        is None
    )


def test_musl_is_recorded_and_an_unknown_libc_is_a_warning(tmp_path: Path) -> None:
    alpine = fake_platform("Linux", "x86_64")
    environ = {"GEN_CONSTRAINTS_NO_NVML": "1"}

    def detect_with(tags: list[str]) -> Any:
        from unittest import mock

        with (
            mock.patch.object(platform_probe, "_confstr", lambda: lambda name: None),
            mock.patch.object(platform_probe, "_platform_tags", lambda: tags),
        ):
            return detect(
                root=tmp_path, platform_module=alpine, nvml_module=NO_NVML, environ=environ
            )

    musl = detect_with(ALPINE_TAGS)
    assert musl.hardware.platform.libc == Libc(name="musl", version="1.2")
    assert musl.hardware.to_json()["platform"]["libc"] == {"name": "musl", "version": "1.2"}
    assert musl.problems == ()
    unknown = detect_with(["linux_x86_64"])
    assert unknown.hardware.platform.libc is None
    assert unknown.problems == (
        "the C library could not be read (neither glibc nor musl): manylinux builds are assumed"
        " to install here",
    )


@pytest.mark.parametrize(("system", "machine"), [("FreeBSD", "amd64"), ("Linux", "ppc64le")])
def test_a_platform_without_builds_is_an_error(system: str, machine: str) -> None:
    with pytest.raises(ConstraintsGenError) as info:
        platform_probe.read(fake_platform(system, machine), lambda name: None)
    assert info.value.message.startswith(f"this machine is {system} {machine}; gen-constraints")
    assert info.value.tip is not None and "--hardware FILE" in info.value.tip


def test_this_machine_platform() -> None:
    """The real probe on this (Linux) test machine."""
    platform = platform_probe.read()
    assert platform.system == {"linux": "linux", "win32": "windows", "darwin": "darwin"}.get(
        sys.platform
    )
    if sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION"):
        assert platform.glibc == os.confstr("CS_GNU_LIBC_VERSION").split()[1]  # type: ignore[union-attr]


# ---- AMD ------------------------------------------------------------------------------------

CPU_NODE = "cpu_cores_count 64\nsimd_count 0\ngfx_target_version 0\nvendor_id 0\ndevice_id 0\n"


def gpu_node(target: int, device_id: int, minor: int) -> str:
    return (
        "cpu_cores_count 0\nsimd_count 1216\nmem_banks_count 1\n"
        f"gfx_target_version {target}\nvendor_id 4098\ndevice_id {device_id}\n"
        f"location_id 3072\ndomain 0\ndrm_render_minor {minor}\n"
    )


def amd_root(root: Path) -> Path:
    nodes = "sys/class/kfd/kfd/topology/nodes"
    write(root, f"{nodes}/0/properties", CPU_NODE)
    # MI300X: gfx942, device 0x74a1, 192 GiB of frame buffer
    write(root, f"{nodes}/1/properties", gpu_node(90402, 0x74A1, 128))
    write(root, f"{nodes}/1/mem_banks/0/properties", "heap_type 1\nsize_in_bytes 206141652992\n")
    write(root, f"{nodes}/1/name", "ip discovery\n")
    write(root, "sys/class/drm/renderD128/device/revision", "0x00\n")
    # MI250X: gfx90a, not in amdgpu.ids here: the board's product_name
    write(root, f"{nodes}/2/properties", gpu_node(90010, 0x740C, 136))
    write(root, f"{nodes}/2/name", "aldebaran\n")
    write(root, "sys/class/drm/renderD136/device/product_name", "AMD Instinct MI250X\n")
    # RX 7900 XTX: gfx1100, named from the node's ASIC name only; private frame buffer
    write(root, f"{nodes}/10/properties", gpu_node(110000, 0x744C, 144))
    write(root, f"{nodes}/10/name", "gfx1100\n")
    write(root, f"{nodes}/10/mem_banks/0/properties", "heap_type 2\nsize_in_bytes 25753026560\n")
    write(root, f"{nodes}/10/mem_banks/1/properties", "heap_type 0\nsize_in_bytes 999\n")
    write(
        root,
        "usr/share/libdrm/amdgpu.ids",
        "# List of AMDGPU IDs\n#\n\n1.0.0\n74A1,\t00,\tAMD Instinct MI300X\n"
        "740F,\t02,\tAMD Instinct MI210\n",
    )
    return root


@pytest.mark.parametrize(
    ("value", "gfx"),
    [
        (90010, "gfx90a"),
        (90402, "gfx942"),
        (90500, "gfx950"),
        (90012, "gfx90c"),
        (110000, "gfx1100"),
        (110001, "gfx1101"),
        (120001, "gfx1201"),
        (100300, "gfx1030"),
        (110501, "gfx1151"),
    ],
)
def test_gfx_target_version_names(value: int, gfx: str) -> None:
    assert amd.gfx_of_target_version(value) == gfx


def test_amd_kfd_topology(tmp_path: Path) -> None:
    found = amd.detect(amd_root(tmp_path), environ={})
    assert found.gpus == (
        Gpu(index=0, vendor="amd", name="AMD Instinct MI300X", gfx="gfx942", memory_mib=196592),
        Gpu(index=1, vendor="amd", name="AMD Instinct MI250X", gfx="gfx90a"),
        Gpu(index=2, vendor="amd", name="AMD gfx1100 (gfx1100)", gfx="gfx1100", memory_mib=24560),
    )
    assert (found.notes, found.problems, found.absent) == ((), (), None)


def test_amd_hsa_override_is_what_the_runtime_sees(tmp_path: Path) -> None:
    found = amd.detect(amd_root(tmp_path), environ={"HSA_OVERRIDE_GFX_VERSION": "11.0.0"})
    assert [gpu.gfx for gpu in found.gpus] == ["gfx1100", "gfx1100", "gfx1100"]
    assert found.notes == (
        "HSA_OVERRIDE_GFX_VERSION makes gfx942 (KFD node 1) gfx1100",
        "HSA_OVERRIDE_GFX_VERSION makes gfx90a (KFD node 2) gfx1100",
    )


def test_amd_without_the_driver(tmp_path: Path) -> None:
    found = amd.detect(tmp_path, environ={})
    assert found.gpus == () and found.absent == "no AMD KFD topology (amdgpu driver not loaded)"


def test_amd_only_cpu_nodes(tmp_path: Path) -> None:
    write(tmp_path, "sys/class/kfd/kfd/topology/nodes/0/properties", CPU_NODE)
    found = amd.detect(tmp_path, environ={})
    assert found.gpus == () and found.absent == "AMD KFD topology lists no GPU"


def test_amd_gpu_node_without_a_target_is_a_problem(tmp_path: Path) -> None:
    nodes = "sys/class/kfd/kfd/topology/nodes"
    write(tmp_path, f"{nodes}/1/properties", "simd_count 256\ndevice_id 26287\n")
    found = amd.detect(tmp_path, environ={})
    assert found.problems == (
        "AMD KFD node 1: a GPU node without a gfx_target_version (None);"
        " the kernel may be too old to report it",
    )
    # ... and with no other GPU, the machine is not called a CPU machine.
    with pytest.raises(ConstraintsGenError) as info:
        detect(root=tmp_path, platform=LINUX_X86_64, nvml_module=NO_NVML, environ={})
    assert "no GPU found, and a probe failed" in info.value.message
    assert "AMD KFD node 1" in info.value.message


def test_amd_unreadable_node_is_skipped(tmp_path: Path) -> None:
    """A node the device cgroup denies (EPERM) is not usable here: skipped with a note."""
    amd_root(tmp_path)
    (tmp_path / "sys/class/kfd/kfd/topology/nodes/2/properties").unlink()
    (tmp_path / "sys/class/kfd/kfd/topology/nodes/2/properties").mkdir()
    found = amd.detect(tmp_path, environ={})
    assert [gpu.gfx for gpu in found.gpus] == ["gfx942", "gfx1100"]
    assert found.notes == ("AMD KFD node 2: properties not readable (skipped)",)


# ---- Intel ----------------------------------------------------------------------------------


def pci(root: Path, address: str, vendor: str, device: str, pci_class: str) -> None:
    base = f"sys/bus/pci/devices/{address}"
    write(root, f"{base}/vendor", f"{vendor}\n")
    write(root, f"{base}/device", f"{device}\n")
    write(root, f"{base}/class", f"{pci_class}\n")


def intel_root(root: Path) -> Path:
    pci(root, "0000:00:00.0", "0x8086", "0x0d57", "0x060000")  # host bridge
    pci(root, "0000:00:02.0", "0x8086", "0xa780", "0x030000")  # integrated (Raptor Lake)
    pci(root, "0000:00:1f.3", "0x8086", "0x7a50", "0x040300")  # audio
    pci(root, "0000:03:00.0", "0x8086", "0x56a0", "0x030000")  # Arc A770
    pci(root, "0000:3a:00.0", "0x8086", "0x0bd5", "0x038000")  # Data Center GPU Max 1550
    pci(root, "0000:65:00.0", "0x10de", "0x2335", "0x030200")  # an NVIDIA H200
    write(
        root,
        "usr/share/hwdata/pci.ids",
        "# pci.ids\n10de  NVIDIA Corporation\n\t2335  GH100 [H200 SXM 141GB]\n"
        "8086  Intel Corporation\n\t0bd5  Ponte Vecchio XT (1 Tile) [Data Center GPU Max 1550]\n"
        "\t56a0  DG2 [Arc A770]\n\t\t1028 1234  a subsystem\n8088  Next vendor\n",
    )
    return root


def test_intel_discrete_gpus_and_the_integrated_one_left_out(tmp_path: Path) -> None:
    found = intel.detect(intel_root(tmp_path))
    assert found.gpus == (
        Gpu(index=0, vendor="intel", name="Intel DG2 [Arc A770]", pci_id="8086:56a0"),
        Gpu(
            index=1,
            vendor="intel",
            name="Intel Ponte Vecchio XT (1 Tile) [Data Center GPU Max 1550]",
            pci_id="8086:0bd5",
        ),
    )
    assert found.notes == (
        "integrated Intel GPU 8086:a780 at 0000:00:02.0 left out (XPU builds target discrete"
        " GPUs; use --hardware or --profile to use it)",
    )


def test_intel_without_pci_ids_database(tmp_path: Path) -> None:
    pci(tmp_path, "0000:03:00.0", "0x8086", "0xE20B", "0x030000")  # Arc B580, upper-case id
    found = intel.detect(tmp_path)
    assert found.gpus == (
        Gpu(index=0, vendor="intel", name="Intel GPU 8086:e20b", pci_id="8086:e20b"),
    )


def test_intel_only_integrated_is_a_cpu_machine_with_the_reason(tmp_path: Path) -> None:
    pci(tmp_path, "0000:00:02.0", "0x8086", "0xa780", "0x030000")
    hardware = detect(
        root=tmp_path, platform=LINUX_X86_64, nvml_module=NO_NVML, environ={}
    ).hardware
    assert hardware.is_cpu
    assert "integrated Intel GPU 8086:a780 at 0000:00:02.0 left out" in hardware.source


def test_intel_device_id_unreadable_is_a_problem(tmp_path: Path) -> None:
    pci(tmp_path, "0000:03:00.0", "0x8086", "garbage", "0x030000")
    assert intel.detect(tmp_path).problems == (
        "Intel display device 0000:03:00.0: unreadable PCI device id",
    )


# ---- Apple ----------------------------------------------------------------------------------


def sysctl(values: dict[str, str]) -> apple.Run:
    def run(args: Sequence[str]) -> str:
        assert list(args[:2]) == ["sysctl", "-n"]
        if args[2] not in values:
            raise ConstraintsGenError(f"sysctl: unknown oid '{args[2]}'")
        return values[args[2]] + "\n"

    return run


M3 = {
    "machdep.cpu.brand_string": "Apple M3 Max",
    "hw.memsize": "68719476736",
    "kern.osproductversion": "14.5",
}


def test_apple_silicon() -> None:
    found = apple.detect(sysctl(M3))
    assert found.gpus == (Gpu(index=0, vendor="apple", name="Apple M3 Max", memory_mib=65536),)


def test_apple_without_sysctl_still_has_its_gpu() -> None:
    found = apple.detect(sysctl({}))
    assert found.gpus == (Gpu(index=0, vendor="apple", name="Apple Silicon"),)
    assert found.notes == ("sysctl machdep.cpu.brand_string gave None: chip name unknown",)


def test_apple_machine_combined() -> None:
    mac = Platform(system="darwin", machine="aarch64", os_version="10.16")  # an old-SDK Python
    detected = detect(root=NO_ROOT, platform=mac, run=sysctl(M3))
    assert detected.hardware == Hardware(
        platform=Platform(system="darwin", machine="aarch64", os_version="14.5"),
        driver_version=None,
        cuda_driver_version=None,
        gpus=(Gpu(index=0, vendor="apple", name="Apple M3 Max", memory_mib=65536),),
        source="sysctl",
    )
    round_trips(detected.hardware)


# ---- Jetson ---------------------------------------------------------------------------------

ORIN_RELEASE = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64,"
    " DATE: Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
)


def jetson_root(root: Path, release: str, model: str) -> Path:
    write(root, "etc/nv_tegra_release", release)
    write(root, "proc/device-tree/model", model.encode() + b"\x00")
    write(root, "proc/meminfo", "MemTotal:       64335836 kB\nMemFree:         1 kB\n")
    return root


@pytest.mark.parametrize(
    ("line", "l4t"),
    [
        ("# R36 (release), REVISION: 4.3, GCID: 1", "36.4.3"),
        ("# R35 (release), REVISION: 6.0, GCID: 1", "35.6.0"),
        ("# R38 (release), REVISION: 2.0", "38.2.0"),
        ("R36 REVISION 4.3", None),
    ],
)
def test_l4t_release(line: str, l4t: str | None) -> None:
    assert jetson.l4t_release(line) == l4t


def test_jetson_orin_without_nvml(tmp_path: Path) -> None:
    root = jetson_root(tmp_path, ORIN_RELEASE, "NVIDIA Jetson AGX Orin Developer Kit")
    detected = detect(root=root, platform=LINUX_AARCH64, nvml_module=NO_NVML, environ={})
    assert detected.hardware == Hardware(
        platform=Platform(system="linux", machine="aarch64", glibc="2.35", l4t="36.4.3"),
        driver_version=None,
        cuda_driver_version=None,
        gpus=(
            Gpu(
                index=0,
                name="NVIDIA Jetson AGX Orin Developer Kit",
                compute_capability=(8, 7),
                memory_mib=62827,
            ),
        ),
        source="Jetson L4T",
    )
    round_trips(detected.hardware)


@pytest.mark.parametrize(
    ("model", "cc"),
    [
        ("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", (8, 7)),
        ("NVIDIA Jetson AGX Thor Developer Kit", (11, 0)),
        ("NVIDIA Jetson Xavier NX Developer Kit", (7, 2)),
        ("NVIDIA Jetson Nano Developer Kit", (5, 3)),
    ],
)
def test_jetson_modules(tmp_path: Path, model: str, cc: tuple[int, int]) -> None:
    found = jetson.detect(jetson_root(tmp_path, ORIN_RELEASE, model)).found
    assert [gpu.compute_capability for gpu in found.gpus] == [cc]


@pytest.mark.parametrize(
    ("release", "model", "problem"),
    [
        (
            ORIN_RELEASE,
            "NVIDIA Jetson Banana",
            "Jetson L4T 36.4.3: module 'NVIDIA Jetson Banana' (/proc/device-tree/model) is not a"
            " Thor, Orin, Xavier, TX2, TX1, Nano",
        ),
        (
            "garbage\n",
            "NVIDIA Jetson AGX Orin",
            "/etc/nv_tegra_release: first line 'garbage' is not like"
            " '# R36 (release), REVISION: 4.3'",
        ),
    ],
)
def test_jetson_unreadable_is_an_error_not_a_cpu_machine(
    tmp_path: Path, release: str, model: str, problem: str
) -> None:
    root = jetson_root(tmp_path, release, model)
    assert jetson.detect(root).found.problems == (problem,)
    with pytest.raises(ConstraintsGenError) as info:
        detect(root=root, platform=LINUX_AARCH64, nvml_module=NO_NVML, environ={})
    assert info.value.message.endswith(problem)
    assert info.value.exit_code == 2


def test_no_jetson_on_x86_64_even_with_the_file(tmp_path: Path) -> None:
    root = jetson_root(tmp_path, ORIN_RELEASE, "NVIDIA Jetson AGX Orin")
    hardware = detect(root=root, platform=LINUX_X86_64, nvml_module=NO_NVML, environ={}).hardware
    assert hardware.is_cpu and hardware.platform.l4t is None


# ---- combined -------------------------------------------------------------------------------


def test_nvidia_and_amd_and_intel_on_one_machine(tmp_path: Path) -> None:
    from test_nvml import FakeNvml

    root = intel_root(amd_root(tmp_path))
    detected = detect(
        root=root,
        platform=LINUX_X86_64,
        nvml_module=cast(ModuleType, FakeNvml()),
        environ={"CUDA_VISIBLE_DEVICES": "1"},
    )
    hardware = detected.hardware
    assert [(gpu.index, gpu.vendor, gpu.arch) for gpu in hardware.gpus] == [
        (1, "nvidia", "8.0"),  # NVML's index, as CUDA_VISIBLE_DEVICES names it
        (2, "amd", "gfx942"),
        (3, "amd", "gfx90a"),
        (4, "amd", "gfx1100"),
        (5, "intel", "8086:56a0"),
        (6, "intel", "8086:0bd5"),
    ]
    assert hardware.source == "NVML + KFD sysfs + PCI sysfs"
    assert (hardware.driver_version, hardware.cuda_driver_version) == ("580.159.04", "13.0")
    assert detected.notes == (
        "integrated Intel GPU 8086:a780 at 0000:00:02.0 left out (XPU builds target discrete"
        " GPUs; use --hardware or --profile to use it)",
    )
    round_trips(hardware)


class FakeWinreg:
    """Stands in for ``winreg``: the display class's adapters as {subkey: {value: data}}."""

    HKEY_LOCAL_MACHINE = "HKLM"

    def __init__(self, adapters: dict[str, dict[str, str]] | None) -> None:
        self.adapters = adapters

    def OpenKey(self, parent: object, name: str) -> object:
        if parent == "HKLM":
            if self.adapters is None or name != windows_probe.DISPLAY_CLASS:
                raise PermissionError(5, "Access is denied")
            return "display"
        assert self.adapters is not None and parent == "display"
        return self.adapters[name]

    def EnumKey(self, key: object, number: int) -> str:
        assert self.adapters is not None
        names = sorted(self.adapters)
        if number >= len(names):
            raise OSError(259, "No more data is available")
        return names[number]

    def QueryValueEx(self, key: dict[str, str], name: str) -> tuple[str, int]:
        if name not in key:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return key[name], 1


WINDOWS = Platform(system="windows", machine="x86_64", os_version="10.0.22631")
ARC = {"MatchingDeviceId": r"PCI\VEN_8086&DEV_56A0", "DriverDesc": "Intel(R) Arc(TM) A770 Graphics"}
UHD = {"MatchingDeviceId": r"pci\ven_8086&dev_a780", "DriverDesc": "Intel(R) UHD Graphics 770"}
RADEON = {"MatchingDeviceId": r"PCI\VEN_1002&DEV_744C", "DriverDesc": "AMD Radeon RX 7900 XTX"}


def test_windows_without_a_gpu_is_a_cpu_machine() -> None:
    hardware = detect(
        platform=WINDOWS, nvml_module=NO_NVML, environ={}, winreg_module=FakeWinreg({})
    ).hardware
    assert hardware.is_cpu
    assert hardware.source == (
        "no GPU: NVML unavailable: NVML Shared Library Not Found;"
        " no Intel discrete GPU in the registry"
    )
    round_trips(hardware)


def test_windows_reads_intel_and_amd_adapters_from_the_registry() -> None:
    registry = FakeWinreg({"0000": UHD, "0001": ARC, "0002": RADEON, "Properties": {}})
    found = detect(platform=WINDOWS, nvml_module=NO_NVML, environ={}, winreg_module=registry)
    assert found.hardware.gpus == (
        Gpu(index=0, vendor="intel", name="Intel(R) Arc(TM) A770 Graphics", pci_id="8086:56a0"),
    )
    assert found.notes == (
        "integrated Intel GPU 8086:a780 (Intel(R) UHD Graphics 770) left out (XPU builds target"
        " discrete GPUs; use --hardware or --profile to use it)",
        "AMD GPU AMD Radeon RX 7900 XTX left out: no ROCm build of torch runs on Windows",
    )
    round_trips(found.hardware)


def test_windows_with_an_unreadable_registry_is_not_silently_a_cpu_machine() -> None:
    with pytest.raises(ConstraintsGenError) as info:
        detect(platform=WINDOWS, nvml_module=NO_NVML, environ={}, winreg_module=FakeWinreg(None))
    assert "the display adapter class in the registry" in info.value.message


#: The readout's model (and the package that holds it): every stage reads it, no probe runs.
MODEL = (
    "constraints_gen.detect",
    "constraints_gen.detect.hardware",
)


def _imported_after(code: str) -> list[str]:
    probe = (
        "import io, sys\nfrom constraints_gen.cli import main\nsys.stdout = io.StringIO()\n"
        f"MODEL = {MODEL!r}\n"
        f"try:\n    main({code})\nexcept SystemExit:\n    pass\n"
        "names = sorted(m for m in sys.modules if m.startswith('constraints_gen.detect')"
        " and m not in MODEL or m in ('pynvml', 'constraints_gen.runner'))\n"
        "sys.__stdout__.write(' '.join(names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    return done.stdout.split()


def test_emit_with_a_readout_imports_no_probe() -> None:
    hardware = str(HARDWARE / "h200-real.json")
    assert _imported_after(repr(["--hardware", hardware, "--python", "3.11"])) == []


def test_detection_imports_only_this_platforms_probes() -> None:
    names = _imported_after(repr(["detect"]))
    assert "constraints_gen.detect.apple" not in names
    assert "constraints_gen.runner" not in names  # no subprocess on Linux
    if sys.platform == "linux":
        assert "constraints_gen.detect.amd" in names and "constraints_gen.detect.intel" in names


def test_every_detected_kind_replays_through_explain(tmp_path: Path) -> None:
    """What detect writes, --hardware reads and selection judges: no traceback for any kind
    (exit 0 or 1: whether a profile fits depends on the profiles, not on detection)."""
    jetson_hw = detect(
        root=jetson_root(tmp_path / "jetson", ORIN_RELEASE, "NVIDIA Jetson AGX Orin"),
        platform=LINUX_AARCH64,
        nvml_module=NO_NVML,
        environ={},
    ).hardware
    amd_hw = detect(
        root=intel_root(amd_root(tmp_path / "amd")),
        platform=LINUX_X86_64,
        nvml_module=NO_NVML,
        environ={},
    ).hardware
    mac = Platform(system="darwin", machine="aarch64", os_version="14.5")
    apple_hw = detect(root=NO_ROOT, platform=mac, run=sysctl(M3)).hardware
    for name, hardware in (("jetson", jetson_hw), ("amd", amd_hw), ("apple", apple_hw)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(hardware.to_json()), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "constraints_gen", "explain", "--hardware", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode in (0, 1), (name, done.stderr)
        assert "Traceback" not in done.stderr and "BUG" not in done.stderr
        assert done.stdout.startswith(hardware.platform.describe())


def test_an_intel_mac_is_a_cpu_machine_and_rosetta_is_named() -> None:
    intel_mac = Platform(system="darwin", machine="x86_64", os_version="14.5")
    plain = detect(root=NO_ROOT, platform=intel_mac, run=sysctl({})).hardware
    assert plain.is_cpu and plain.source == "no GPU: none found"
    rosetta = detect(
        root=NO_ROOT, platform=intel_mac, run=sysctl({"sysctl.proc_translated": "1"})
    ).hardware
    assert rosetta.is_cpu
    assert rosetta.source == (
        "no GPU: this Python runs under Rosetta 2 on Apple Silicon: an arm64 Python would get"
        " the Apple GPU (MPS)"
    )


def test_a_failed_probe_beside_found_gpus_is_a_warning(tmp_path: Path) -> None:
    from test_nvml import FakeNvml

    write(tmp_path, "sys/class/kfd/kfd/topology/nodes/1/properties", "simd_count 256\n")
    detected = detect(
        root=tmp_path,
        platform=LINUX_X86_64,
        nvml_module=cast(ModuleType, FakeNvml()),
        environ={},
    )
    assert [gpu.vendor for gpu in detected.hardware.gpus] == ["nvidia", "nvidia"]
    assert detected.problems == (
        "AMD KFD node 1: a GPU node without a gfx_target_version (None);"
        " the kernel may be too old to report it",
    )
