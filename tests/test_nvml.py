"""NVML detection, faked at the pynvml boundary, and CUDA_VISIBLE_DEVICES filtering.

A driver that answered ``nvmlInit`` and then failed is an error (exit 2) naming the query and the
GPU, never a CPU machine (issue 8 section 3); only no library, no driver or no device is one."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest

from constraints_gen.detect.hardware import LINUX_X86_64, Gpu, Hardware
from constraints_gen.detect.machine import detect as detect_machine
from constraints_gen.detect.nvml import NvmlError, cuda_version_text, filter_visible


def detect(module: ModuleType | None = None, environ: dict[str, str] | None = None) -> Hardware:
    """This machine's readout from every probe, with ``module`` standing in for pynvml."""
    return detect_machine(nvml_module=module, environ=environ).hardware


NO_ROOT = Path(__file__).parent / "data" / "no-such-root"  # no sysfs: only NVML answers

H200_BYTES = 150754820096  # the real H200's nvmlDeviceGetMemoryInfo().total (143771 MiB)
UUID0 = "GPU-64e490f7-0be7-acdb-c82d-da3343bbd06c"
UUID1 = "GPU-6f1a2b3c-1111-2222-3333-444455556666"


class NVMLError_NotSupported(Exception):  # named as pynvml names it
    pass


class NVMLError_LibraryNotFound(Exception):
    pass


class FakeNvml:
    """Two GPUs: an H200 without MIG support reported, an A100 with MIG on."""

    def __init__(self, *, as_bytes: bool = False, init_error: Exception | None = None) -> None:
        self.as_bytes = as_bytes
        self.init_error = init_error
        self.calls: list[str] = []
        self.devices: list[tuple[Any, ...]] = [
            ("NVIDIA H200", (9, 0), H200_BYTES, UUID0, None),
            ("NVIDIA A100-SXM4-80GB", (8, 0), 85899345920, UUID1, (1, 1)),
        ]

    def _s(self, text: str) -> str | bytes:
        return text.encode() if self.as_bytes else text

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        return self._s("580.159.04")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self._s(self.devices[handle][0])

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> Any:
        return self.devices[handle][1]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        total = self.devices[handle][2]
        return SimpleNamespace(total=total, free=total, used=0)

    def nvmlDeviceGetUUID(self, handle: int) -> str | bytes:
        return self._s(self.devices[handle][3])

    def nvmlDeviceGetMigMode(self, handle: int) -> Any:
        mode = self.devices[handle][4]
        if mode is None:
            raise NVMLError_NotSupported("Not Supported")
        return mode

    # MIG instances of the A100 (handle 1): handles are ("mig", parent, slot); slot 1 is empty.
    def nvmlDeviceGetMaxMigDeviceCount(self, handle: int) -> int:
        return 3 if self.devices[handle][4] else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: int, slot: int) -> Any:
        if slot == 1:
            raise NVMLError_NotSupported("Not Found")
        return ("mig", handle, slot)


MIG0 = "MIG-8a1c2e3f-aaaa-bbbb-cccc-000000000000"
MIG2 = "MIG-8a1c2e3f-aaaa-bbbb-cccc-000000000002"


class MigNvml(FakeNvml):
    def nvmlDeviceGetUUID(self, handle: Any) -> str | bytes:
        if isinstance(handle, tuple):
            return self._s(f"MIG-8a1c2e3f-aaaa-bbbb-cccc-00000000000{handle[2]}")
        return super().nvmlDeviceGetUUID(handle)


def run(fake: FakeNvml, environ: dict[str, str] | None = None) -> Hardware:
    return detect_machine(
        root=NO_ROOT,
        platform=LINUX_X86_64,
        nvml_module=cast(ModuleType, fake),
        environ={} if environ is None else environ,
    ).hardware


H200 = Gpu(index=0, name="NVIDIA H200", compute_capability=(9, 0), memory_mib=143771, uuid=UUID0)
A100 = Gpu(
    index=1,
    name="NVIDIA A100-SXM4-80GB",
    compute_capability=(8, 0),
    memory_mib=81920,
    uuid=UUID1,
    mig_enabled=True,
)


@pytest.mark.parametrize("as_bytes", [False, True])
def test_two_gpu_machine(as_bytes: bool) -> None:
    fake = FakeNvml(as_bytes=as_bytes)
    hw = run(fake)
    assert hw == Hardware(
        driver_version="580.159.04", cuda_driver_version="13.0", gpus=(H200, A100), source="NVML"
    )
    assert fake.calls == ["init", "shutdown"]


def test_cuda_version_text() -> None:
    assert cuda_version_text(12040) == "12.4"
    assert cuda_version_text(13000) == "13.0"
    assert cuda_version_text(12080) == "12.8"
    assert cuda_version_text(11040) == "11.4"


def test_init_failure_is_a_cpu_machine() -> None:
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found"))
    hw = run(fake)
    assert hw.is_cpu
    assert (hw.driver_version, hw.cuda_driver_version) == (None, None)
    assert hw.source.startswith("no GPU: NVML unavailable: NVML Shared Library Not Found;")


def test_init_failure_without_message_uses_the_type_name() -> None:
    hw = run(FakeNvml(init_error=NVMLError_LibraryNotFound()))
    assert hw.source.startswith("no GPU: NVML unavailable: NVMLError_LibraryNotFound;")


def test_query_failure_is_an_error_and_shuts_down() -> None:
    fake = FakeNvml()
    fake.devices[1] = ("broken", None, 0, "", None)
    with pytest.raises(NvmlError) as info:
        run(fake)
    assert info.value.message == (
        "NVML query nvmlDeviceGetCudaComputeCapability failed on GPU 1:"
        " 'NoneType' object is not iterable"
    )
    assert info.value.exit_code == 2
    assert fake.calls == ["init", "shutdown"]


def test_no_gpu_found() -> None:
    fake = FakeNvml()
    fake.devices = []
    hw = run(fake)
    assert hw.is_cpu
    assert hw.source.startswith("no GPU: NVML found no GPU;")


def test_missing_pynvml_module(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fail(name: str, package: str | None = None) -> ModuleType:
        if name == "pynvml":
            raise ModuleNotFoundError("No module named 'pynvml'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fail)
    hw = detect(module=None, environ={})
    assert hw.is_cpu
    assert "the pynvml module (nvidia-ml-py) is not installed" in hw.source


def test_blocked_pynvml_in_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    hw = detect(module=None, environ={})
    assert hw.is_cpu
    assert "the pynvml module (nvidia-ml-py) is not installed" in hw.source


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert detect_machine(
        root=NO_ROOT, platform=LINUX_X86_64, nvml_module=cast(ModuleType, FakeNvml())
    ).hardware.gpus == (A100,)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("1", (A100,)),
        ("1,0", (A100, H200)),  # CUDA keeps the given order; GPUs keep their NVML index
        ("0, 1", (H200, A100)),
        ("GPU-6f1a", (A100,)),  # a UUID prefix
        (UUID0, (H200,)),
        ("0,7,1", (H200,)),  # the list ends at the first invalid entry
        ("0,0", (H200,)),
        ("0,-1,1", (H200,)),  # -1: CUDA's documented way to end the list
        ("0,,1", (H200,)),  # an empty entry names no GPU either
    ],
)
def test_cuda_visible_devices(setting: str, expected: tuple[Gpu, ...]) -> None:
    hw = run(FakeNvml(), {"CUDA_VISIBLE_DEVICES": setting})
    assert hw.gpus == expected
    assert (hw.driver_version, hw.cuda_driver_version) == ("580.159.04", "13.0")


@pytest.mark.parametrize("setting", ["", "7", "GPU-6", "GPU-", "-1"])
def test_cuda_visible_devices_hiding_every_gpu(setting: str) -> None:
    hw = run(FakeNvml(), {"CUDA_VISIBLE_DEVICES": setting})
    assert hw.is_cpu
    assert hw.source.startswith("no GPU: CUDA_VISIBLE_DEVICES hides every GPU;")


def test_ambiguous_uuid_prefix_matches_nothing() -> None:
    # Both UUIDs start with "GPU-6": CUDA treats an ambiguous prefix as invalid.
    assert filter_visible((H200, A100), "GPU-6") == ()
    assert filter_visible((H200, A100), "0,GPU-6") == (H200,)
    assert filter_visible((H200, A100), "GPU-64") == (H200,)


def test_filter_visible_unset_keeps_all() -> None:
    assert filter_visible([H200, A100], None) == (H200, A100)


def test_detect_command_on_this_machine() -> None:
    """Real pynvml, no GPU here: the CPU schema on stdout, exit 0, no traceback."""
    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("this machine has an NVIDIA driver")
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    proc = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "detect", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    readout = json.loads(proc.stdout)
    assert readout.pop("platform")["system"] == "linux"
    assert readout == {
        "driver_version": None,
        "cuda_driver_version": None,
        "gpus": [],
    }
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("setting", [MIG2, MIG0[:12], f"{MIG0},{MIG2}"])
def test_a_mig_instance_selects_the_gpu_that_holds_it(setting: str) -> None:
    # Schedulers (Kubernetes, Slurm) hand out MIG-<uuid> entries; the compute capability that
    # matters is the physical GPU's. An ambiguous or repeated entry ends the list, as in CUDA.
    hw = run(MigNvml(), {"CUDA_VISIBLE_DEVICES": setting})
    assert hw.gpus == (A100,)


def test_an_unknown_mig_instance_hides_every_gpu() -> None:
    hw = run(MigNvml(), {"CUDA_VISIBLE_DEVICES": "MIG-ffffffff"})
    assert hw.is_cpu and "CUDA_VISIBLE_DEVICES hides every GPU" in hw.source


def test_mig_entry_falls_back_to_the_only_mig_gpu_when_instances_are_unreadable() -> None:
    assert filter_visible((H200, A100), "MIG-0a1b", {}) == (A100,)
