"""A GPU machine is never silently a CPU machine (issue 8 section 3), and odd driver strings and
CUDA_VISIBLE_DEVICES values fail at detection (issue 9).

The pynvml boundary is faked by tests/support/fake_pynvml.py: in process (injected module) and in a
real ``gen-constraints`` process (the fake on PYTHONPATH as ``pynvml``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import REPO, TESTS

from constraints_gen.detect.hardware import LINUX_X86_64, Hardware
from constraints_gen.detect.machine import detect
from constraints_gen.detect.nvml import NvmlError, parse_driver
from constraints_gen.errors import ConstraintsGenError

FAKE = TESTS / "support" / "fake_pynvml.py"
NO_ROOT = TESTS / "data" / "no-such-root"
TIP = "--hardware FILE"


def fake_module(monkeypatch: pytest.MonkeyPatch, **config: Any) -> ModuleType:
    monkeypatch.setenv("FAKE_PYNVML", json.dumps(config))
    spec = importlib.util.spec_from_file_location("fake_pynvml", FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str] | None = None, **config: Any
) -> Hardware:
    module = fake_module(monkeypatch, **config)
    return detect(
        root=NO_ROOT, platform=LINUX_X86_64, nvml_module=module, environ=environ or {}
    ).hardware


def gen(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, **config: Any
) -> subprocess.CompletedProcess[str]:
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir(exist_ok=True)
    shutil.copy(FAKE, fake_dir / "pynvml.py")
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_dir), str(REPO)]),
        "FAKE_PYNVML": json.dumps(config),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


# (query, GPU it fails on or None for a system query, the message)
FAILURES = [
    (
        "nvmlSystemGetDriverVersion",
        None,
        "NVML query nvmlSystemGetDriverVersion failed: Unknown Error",
    ),
    (
        "nvmlSystemGetCudaDriverVersion",
        None,
        "NVML query nvmlSystemGetCudaDriverVersion failed: Unknown Error",
    ),
    ("nvmlDeviceGetCount", None, "NVML query nvmlDeviceGetCount failed: Unknown Error"),
    (
        "nvmlDeviceGetHandleByIndex",
        0,
        "NVML query nvmlDeviceGetHandleByIndex failed on GPU 0: Unknown Error",
    ),
    ("nvmlDeviceGetName", 0, "NVML query nvmlDeviceGetName failed on GPU 0: Unknown Error"),
    (
        "nvmlDeviceGetCudaComputeCapability",
        0,
        "NVML query nvmlDeviceGetCudaComputeCapability failed on GPU 0: Unknown Error",
    ),
    (
        "nvmlDeviceGetMemoryInfo",
        0,
        "NVML query nvmlDeviceGetMemoryInfo failed on GPU 0: Unknown Error",
    ),
    ("nvmlDeviceGetUUID", 0, "NVML query nvmlDeviceGetUUID failed on GPU 0: Unknown Error"),
    ("nvmlDeviceGetMigMode", 0, "NVML query nvmlDeviceGetMigMode failed on GPU 0: Unknown Error"),
    # One GPU of two failing: the machine is not read as the one GPU that answered.
    ("nvmlDeviceGetUUID", 1, "NVML query nvmlDeviceGetUUID failed on GPU 1: Unknown Error"),
    (
        "nvmlDeviceGetCudaComputeCapability",
        1,
        "NVML query nvmlDeviceGetCudaComputeCapability failed on GPU 1: Unknown Error",
    ),
    (
        "nvmlDeviceGetMemoryInfo",
        1,
        "NVML query nvmlDeviceGetMemoryInfo failed on GPU 1: Unknown Error",
    ),
]


@pytest.mark.parametrize(("query", "gpu", "message"), FAILURES)
def test_a_failing_query_is_an_error_not_a_cpu_machine(
    monkeypatch: pytest.MonkeyPatch, query: str, gpu: int | None, message: str
) -> None:
    with pytest.raises(NvmlError) as info:
        read(monkeypatch, fail={"query": query, "gpu": gpu, "code": 999})
    assert info.value.message == message
    assert info.value.exit_code == 2
    assert (
        info.value.tip is not None and TIP in info.value.tip and "--profile NAME" in info.value.tip
    )


def test_the_fake_reads_as_two_gpus_when_nothing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    hw = read(monkeypatch)
    assert [gpu.name for gpu in hw.gpus] == ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"]
    assert (hw.driver_version, hw.cuda_driver_version, hw.source) == ("580.159.04", "13.0", "NVML")


@pytest.mark.parametrize(("query", "gpu", "message"), [FAILURES[0], FAILURES[7], FAILURES[9]])
@pytest.mark.parametrize(
    "command", [["detect"], ["detect", "--json"], ["--python", "3.11"], ["explain"]]
)
def test_through_the_cli_exit_2_with_the_query_and_a_way_on(
    tmp_path: Path, command: list[str], query: str, gpu: int | None, message: str
) -> None:
    done = gen(tmp_path, *command, fail={"query": query, "gpu": gpu, "code": 999})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert f"ERROR: {message}\n" in done.stderr
    assert "TIP: " in done.stderr and TIP in done.stderr and "--profile NAME" in done.stderr
    assert "Traceback" not in done.stderr and "CPU machine" not in done.stderr


def test_the_way_on_works_profile_skips_detection(tmp_path: Path) -> None:
    fail = {"query": "nvmlDeviceGetUUID", "gpu": 1, "code": 999}
    done = gen(tmp_path, "--profile", "cpu", "--python", "3.11", fail=fail)
    assert done.returncode == 0, done.stderr
    assert "torch==" in done.stdout


@pytest.mark.parametrize(
    ("code", "cpu"),
    [
        (12, True),  # no library: a CPU machine
        (9, True),  # no driver loaded: a CPU machine
        (18, False),  # driver/library version mismatch (a driver upgrade without reboot)
        (999, False),
        (15, False),  # GPU is lost
    ],
)
def test_nvml_init_failures(monkeypatch: pytest.MonkeyPatch, code: int, cpu: bool) -> None:
    if cpu:
        hw = read(monkeypatch, init_error=code)
        assert hw.is_cpu and hw.source.startswith("no GPU: NVML unavailable: ")
        return
    with pytest.raises(NvmlError, match=r"^NVML failed to start \(nvmlInit\): "):
        read(monkeypatch, init_error=code)


def test_init_failure_through_the_cli(tmp_path: Path) -> None:
    done = gen(tmp_path, "detect", init_error=18)
    assert done.returncode == 2
    assert (
        "ERROR: NVML failed to start (nvmlInit): RM has detected an NVML/RM version mismatch."
        in done.stderr
    )
    no_library = gen(tmp_path, "detect", "--json", init_error=12)
    assert no_library.returncode == 0, no_library.stderr
    assert json.loads(no_library.stdout)["gpus"] == []


def test_no_device_is_a_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    hw = read(monkeypatch, devices=[])
    assert hw.is_cpu and hw.source.startswith("no GPU: NVML found no GPU;")


@pytest.mark.parametrize(
    ("raw", "driver", "note"),
    [
        ("580.159.04", "580.159.04", None),
        ("580", "580", None),  # one part
        ("581.57", "581.57", None),  # Windows
        (
            "580.159.04-beta",
            "580.159.04",
            "NVIDIA driver '580.159.04-beta' is ordered as 580.159.04",
        ),
        (" 580.95.05\n", "580.95.05", None),
    ],
)
def test_driver_strings_that_parse(raw: str, driver: str, note: str | None) -> None:
    assert parse_driver(raw) == (driver, note)


@pytest.mark.parametrize(
    "raw", ["abc", "580.1.2.3", "", "r580", "\uff15\uff18\uff10.1", "580..1", "-beta"]
)
def test_driver_strings_that_fail_at_detection(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    with pytest.raises(NvmlError) as info:
        read(monkeypatch, driver=raw)
    assert info.value.message == (
        f"NVML query nvmlSystemGetDriverVersion returned {raw!r}; expected a driver version"
        ' like "580.159.04" (one to three numbers)'
    )


def test_a_beta_driver_is_read_and_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_module(monkeypatch, driver="580.159.04-beta")
    detected = detect(root=NO_ROOT, platform=LINUX_X86_64, nvml_module=module, environ={})
    assert detected.hardware.driver_version == "580.159.04"
    assert detected.notes == ("NVIDIA driver '580.159.04-beta' is ordered as 580.159.04",)


@pytest.mark.parametrize("cuda", [0, -1, "13000", None, 13.0])
def test_odd_cuda_driver_versions_fail_at_detection(
    monkeypatch: pytest.MonkeyPatch, cuda: Any
) -> None:
    with pytest.raises(NvmlError, match="nvmlSystemGetCudaDriverVersion returned"):
        read(monkeypatch, cuda=cuda)


@pytest.mark.parametrize(
    "devices",
    [
        [["", [9, 0], 1, "GPU-1", None]],  # empty name
        [["H200", [9], 1, "GPU-1", None]],  # one number for a compute capability
        [["H200", [9, 0], -1, "GPU-1", None]],  # negative memory
        [["H200", [9, 0], 1, "", None]],  # empty UUID
    ],
)
def test_odd_device_answers_fail_at_detection(
    monkeypatch: pytest.MonkeyPatch, devices: Any
) -> None:
    with pytest.raises(NvmlError, match="on GPU 0; expected"):
        read(monkeypatch, devices=devices)


@pytest.mark.parametrize(
    "setting",
    ["\u00b2", "\u0660", "\U0001d7ce", "0,\u00b2", "1\u0660", "foo", "0,foo,1", "GPU-\uff16"],
)
def test_cuda_visible_devices_only_ascii_indices_and_uuids(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    with pytest.raises(ConstraintsGenError) as info:
        read(monkeypatch, environ={"CUDA_VISIBLE_DEVICES": setting})
    assert info.value.message.startswith(f"CUDA_VISIBLE_DEVICES={setting!r}: entry ")
    assert (
        "is not a GPU index (ASCII digits, -1 to end the list) or a GPU-/MIG- UUID"
        in info.value.message
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize("setting", ["\u00b2", "\u0660", "\U0001d7ce"])
def test_cuda_visible_devices_through_the_cli(tmp_path: Path, setting: str) -> None:
    done = gen(tmp_path, "detect", env={"CUDA_VISIBLE_DEVICES": setting})
    assert done.returncode == 2, done.stderr
    assert "ERROR: CUDA_VISIBLE_DEVICES=" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
