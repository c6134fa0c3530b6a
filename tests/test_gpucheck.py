"""verify's GPU check for every vendor: AMD (ROCm), Intel (XPU), Apple (MPS), Jetson (CUDA).

The real probe runs in a real venv against a stand-in ``torch`` wheel whose backends answer from
$STANDIN_TORCH (tests/support/standin_torch.py), as the NVIDIA check is tested in test_verify.py.
AMD and Intel profiles target this machine's platform (x86_64 Linux), so they go through
``gen-constraints verify``; Apple (macOS) and Jetson (aarch64) profiles cannot lock for this
machine, so their check runs through the core :func:`verify` with the same probe and venv.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.standin_torch import build_standin_torch
from support.sync_project import PY, TORCH_TAG, gen, make_venv

from constraints_gen.detect.hardware import Hardware, parse_hardware
from constraints_gen.install.findings import Report
from constraints_gen.install.gpucheck import Device, TorchInfo, check_gpu, gpu_plan
from constraints_gen.install.verify import verify
from constraints_gen.locks.compile import LockOptions, compile_one
from constraints_gen.locks.file import LockedPackage
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import find_project
from constraints_gen.profiles.select import gfx_runs

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the AMD and Intel profiles target x86_64-manylinux_2_28",
)

REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("STANDIN_TORCH", "{}")


def machine_json(data: dict[str, Any]) -> str:
    """A ``--hardware`` readout: ``data`` over a machine with no NVIDIA driver."""
    return json.dumps({"driver_version": None, "cuda_driver_version": None, **data})


def hardware(data: dict[str, Any], name: str = "machine.json") -> Hardware:
    return parse_hardware(machine_json(data), name)


def project(tmp_path: Path, profile: str, torch: str, *, lock: bool) -> None:
    """``proj/profiles`` holding ``profile`` (its TOML) and a manifest asking for torch; a venv
    holding the stand-in torch ``torch``; with ``lock``, the profile locked and synced."""
    wheels = tmp_path / "wheels"
    build_standin_torch(wheels, torch, tag=TORCH_TAG if lock else "py3-none-any")
    folder = tmp_path / "proj" / "profiles"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text('[requirements]\ntorch = ">=2"\n')
    (folder / "gpu.toml").write_text(profile)
    make_venv(tmp_path / "venv", wheels, [] if lock else [f"torch=={torch}"])
    if lock:
        found = find_project(tmp_path / "proj")
        loaded = load_profiles(found.profiles_dir)
        saved = os.environ.get("UV_DEFAULT_INDEX")
        os.environ["UV_DEFAULT_INDEX"] = "http://127.0.0.1:9/unused"
        try:
            compile_one(found, loaded, loaded.get("gpu"), PY,
                        LockOptions(find_links=(str(wheels),), offline=True))  # fmt: skip
        finally:
            os.environ.pop("UV_DEFAULT_INDEX")
            if saved is not None:
                os.environ["UV_DEFAULT_INDEX"] = saved
        done = gen("sync", "--profile", "gpu", "--root", "proj", "--python", "venv",
                   "--wheelhouse", "wheels", "--hardware", "cpu.json", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr


def gen_verify(tmp_path: Path, machine: str, standin: dict[str, Any]) -> Any:
    os.environ["STANDIN_TORCH"] = json.dumps(standin)  # the fixture's monkeypatch restores it
    return gen("verify", "--profile", "gpu", "--root", "proj", "--python", "venv",
               "--hardware", machine, "--no-deep", cwd=tmp_path)  # fmt: skip


def core_verify(tmp_path: Path, torch: str, machine: Hardware, standin: dict[str, Any]) -> Report:
    """The core verify (the one the CLI calls) of the venv against a lock holding only torch."""
    os.environ["STANDIN_TORCH"] = json.dumps(standin)
    loaded = load_profiles(tmp_path / "proj" / "profiles")
    return verify(
        python=tmp_path / "venv" / "bin" / "python",
        python_version=PY,
        profile=loaded.get("gpu"),
        manifest=loaded.manifest,
        locked=(LockedPackage(name="torch", version=torch, hashes=()),),
        read_machine=lambda: machine,
        deep=False,
    )


def messages(report: Report) -> list[str]:
    return [f"{finding.check}: {finding.message}" for finding in report.findings]


CPU_MACHINE: dict[str, Any] = {"gpus": []}


# --- AMD ---------------------------------------------------------------------------------------

ROCM_PROFILE = f"""\
name = "gpu"
[hardware]
vendor = "amd"
rocm = "7.2"
gfx_targets = ["gfx90a", "gfx942", "gfx1100"]
[target]
platform = "x86_64-manylinux_2_28"
python = ["{PY}"]
[pins]
torch = "2.13.0+rocm7.2"
"""
MI300X = {"index": 0, "vendor": "amd", "name": "AMD Instinct MI300X", "gfx": "gfx942"}
MI300X_SEEN = {"name": "AMD Instinct MI300X", "gfx": "gfx942:sramecc+:xnack-"}  # as torch sees it
ROCM: dict[str, Any] = {
    "version": "2.13.0+rocm7.2",
    "cuda": None,
    "hip": "7.2.26015-fc0010cf6a",
    "arch_list": ["gfx90a", "gfx942", "gfx1100"],
    "devices": [MI300X_SEEN],
}
AMD_WHERE = f"profile gpu, CPython {PY}, venv/bin/python"


def test_amd_rocm_build_runs_or_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "cpu.json").write_text(machine_json(CPU_MACHINE))
    project(tmp_path, ROCM_PROFILE, "2.13.0+rocm7.2", lock=True)
    (tmp_path / "mi300x.json").write_text(machine_json({"gpus": [MI300X]}))
    ok = gen_verify(tmp_path, "mi300x.json", ROCM)
    assert (ok.returncode, ok.stdout) == (0, ""), ok.stderr
    assert ok.stderr == (
        f"gen-constraints: verified ({AMD_WHERE}): 1 packages at their locked versions, 1 imports,"
        " torch runs on GPU 0 AMD Instinct MI300X\n"
    )
    # torch with torch.version.rocm (pytorch#168097): that is the ROCm version, not HIP's
    newer = gen_verify(tmp_path, "mi300x.json", {**ROCM, "hip": "7.1.25424", "rocm": "7.2.0"})
    assert (newer.returncode, newer.stdout) == (0, ""), newer.stderr

    wrong_hip = gen_verify(tmp_path, "mi300x.json", {**ROCM, "hip": "6.4.43482-0f2d60242"})
    assert (wrong_hip.returncode, wrong_hip.stdout) == (
        1,
        "gpu: torch 2.13.0+rocm7.2 is built for ROCm 6.4.43482-0f2d60242 (torch.version.hip),"
        " profile gpu needs ROCm 7.2\n",
    )
    assert wrong_hip.stderr == f"gen-constraints: NOT verified ({AMD_WHERE}): 1 failures\n"

    no_gfx = gen_verify(tmp_path, "mi300x.json", {**ROCM, "arch_list": ["gfx90a", "gfx1100"]})
    assert (no_gfx.returncode, no_gfx.stdout) == (
        1,
        "gpu: GPU 0 AMD Instinct MI300X (gfx942): torch 2.13.0+rocm7.2 has no kernels for gfx942"
        " (torch.cuda.get_arch_list(): gfx90a gfx1100); ROCm builds have no fallback\n",
    )

    cuda = gen_verify(tmp_path, "mi300x.json", {**ROCM, "hip": None, "cuda": "12.8"})
    assert (cuda.returncode, cuda.stdout) == (
        1,
        "gpu: torch 2.13.0+rocm7.2 is built for CUDA 12.8, not a ROCm build (torch.version.hip"
        " is None), profile gpu needs ROCm 7.2\n",
    )

    unavailable = gen_verify(tmp_path, "mi300x.json", {**ROCM, "available": False})
    assert (unavailable.returncode, unavailable.stdout) == (
        1,
        "gpu: torch 2.13.0+rocm7.2 cannot use the GPUs (GPU 0 AMD Instinct MI300X):"
        " torch.cuda.is_available() is False\n",
    )

    failing = [{**MI300X_SEEN, "error": "HIP error: invalid device function"}]
    crashed = gen_verify(tmp_path, "mi300x.json", {**ROCM, "devices": failing})
    assert (crashed.returncode, crashed.stdout) == (
        1,
        "gpu: GPU 0 AMD Instinct MI300X (gfx942): a tiny operation failed: RuntimeError: HIP"
        " error: invalid device function\n",
    )

    skipped = gen_verify(tmp_path, "cpu.json", ROCM)
    assert (skipped.returncode, skipped.stdout) == (0, ""), skipped.stderr
    assert skipped.stderr.startswith(
        "gen-constraints: GPU checks skipped: no AMD GPU on this machine (cpu.json)\n"
    )


def test_amd_every_visible_gpu_needs_its_own_gfx(tmp_path: Path) -> None:
    """Two AMD GPUs, one a Radeon the build has no code for; an NVIDIA GPU beside them is not
    this build's business (as in selection)."""
    (tmp_path / "cpu.json").write_text(machine_json(CPU_MACHINE))
    project(tmp_path, ROCM_PROFILE, "2.13.0+rocm7.2", lock=True)
    radeon = {"index": 1, "vendor": "amd", "name": "AMD Radeon RX 7600", "gfx": "gfx1102"}
    h100 = {"index": 2, "vendor": "nvidia", "name": "NVIDIA H100", "compute_capability": "9.0"}
    machine = {"driver_version": "570.133.20", "cuda_driver_version": "12.8",
               "gpus": [MI300X, radeon, h100]}  # fmt: skip
    (tmp_path / "mixed.json").write_text(machine_json(machine))
    devices = [MI300X_SEEN, {"name": "AMD Radeon RX 7600", "gfx": "gfx1102"}]
    done = gen_verify(tmp_path, "mixed.json", {**ROCM, "devices": devices})
    assert (done.returncode, done.stdout) == (
        1,
        "gpu: GPU 1 AMD Radeon RX 7600 (gfx1102): torch 2.13.0+rocm7.2 has no kernels for"
        " gfx1102 (torch.cuda.get_arch_list(): gfx90a gfx942 gfx1100); ROCm builds have no"
        " fallback\n",
    )
    hidden = gen_verify(tmp_path, "mixed.json", ROCM)  # HIP_VISIBLE_DEVICES=0, say
    assert (hidden.returncode, hidden.stdout) == (0, ""), hidden.stderr
    assert hidden.stderr.startswith(
        "gen-constraints: torch sees 1 of the 2 AMD GPUs that mixed.json lists"
        " (HIP_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES: not set)\n"
    )


@pytest.mark.parametrize(
    ("gfx", "built", "runs"),
    [
        ("gfx942", ("gfx90a", "gfx942"), True),
        ("gfx90a:sramecc+:xnack-", ("gfx90a",), True),  # HIP's gcnArchName carries features
        ("gfx1101", ("gfx1100",), False),  # no fallback to a sibling or older target
        ("gfx950", ("gfx942",), False),
    ],
)
def test_gfx_rule(gfx: str, built: tuple[str, ...], runs: bool) -> None:
    assert gfx_runs(gfx, built) is runs


# --- Intel -------------------------------------------------------------------------------------

XPU_PROFILE = f"""\
name = "gpu"
[hardware]
vendor = "intel"
[target]
platform = "x86_64-manylinux_2_28"
python = ["{PY}"]
[pins]
torch = "2.14.1+xpu"
"""
ARC = {"index": 0, "vendor": "intel", "name": "Intel Arc A770", "pci_id": "8086:56a0"}
XPU = {
    "version": "2.14.1+xpu",
    "cuda": None,
    "devices": [{"name": "Intel(R) Arc(TM) A770 Graphics"}],
}


def test_intel_xpu_build_runs_on_each_device_or_says_no(tmp_path: Path) -> None:
    (tmp_path / "cpu.json").write_text(machine_json(CPU_MACHINE))
    project(tmp_path, XPU_PROFILE, "2.14.1+xpu", lock=True)
    (tmp_path / "arc.json").write_text(machine_json({"gpus": [ARC]}))
    ok = gen_verify(tmp_path, "arc.json", XPU)
    assert (ok.returncode, ok.stdout) == (0, ""), ok.stderr
    assert ok.stderr.endswith(
        "1 packages at their locked versions, 1 imports, torch runs on GPU 0 Intel(R) Arc(TM)"
        " A770 Graphics\n"
    )
    unavailable = gen_verify(
        tmp_path, "arc.json", {**XPU, "available": False, "warning": "no Level Zero driver"}
    )
    assert (unavailable.returncode, unavailable.stdout) == (
        1,
        "gpu: torch 2.14.1+xpu cannot use the GPUs (GPU 0 Intel Arc A770):"
        " torch.xpu.is_available() is False; no Level Zero driver\n",
    )
    none = gen_verify(tmp_path, "arc.json", {**XPU, "devices": []})
    assert (none.returncode, none.stdout) == (
        1,
        "gpu: torch 2.14.1+xpu sees no XPU device (torch.xpu.device_count() is 0)\n",
    )
    failing = [{"name": "Intel(R) Arc(TM) A770 Graphics", "error": "UR error"}]
    crashed = gen_verify(tmp_path, "arc.json", {**XPU, "devices": failing})
    assert (crashed.returncode, crashed.stdout) == (
        1,
        "gpu: GPU 0 Intel(R) Arc(TM) A770 Graphics: a tiny operation failed: RuntimeError:"
        " UR error\n",
    )
    label = gen_verify(tmp_path, "arc.json", {**XPU, "version": "2.14.1+cpu"})
    assert (label.returncode, label.stdout) == (
        1,
        "gpu: torch.__version__ is 2.14.1+cpu, the lock has torch 2.14.1+xpu\n",
    )


# --- Apple -------------------------------------------------------------------------------------

MPS_PROFILE = f"""\
name = "gpu"
[hardware]
vendor = "apple"
min_macos = "14.0"
[target]
platform = "aarch64-apple-darwin"
python = ["{PY}"]
[pins]
torch = "2.15.0"
"""


def mac(version: str) -> Hardware:
    return hardware({
        "platform": {"system": "darwin", "machine": "aarch64", "os_version": version},
        "gpus": [{"index": 0, "vendor": "apple", "name": "Apple M2", "memory_mib": 16384}],
    })  # fmt: skip


def test_apple_mps_runs_or_says_why_not(tmp_path: Path) -> None:
    project(tmp_path, MPS_PROFILE, "2.15.0", lock=False)
    mps = {"version": "2.15.0", "cuda": None, "devices": [{"name": "mps"}]}
    ok = core_verify(tmp_path, "2.15.0", mac("14.5"), mps)
    assert (ok.findings, ok.gpus, ok.notices) == ((), ("GPU 0 Apple M2",), ())

    old_macos = core_verify(tmp_path, "2.15.0", mac("12.7"), {**mps, "available": False})
    assert messages(old_macos) == [
        "gpu: torch 2.15.0 cannot use the GPUs (GPU 0 Apple M2):"
        " torch.backends.mps.is_available() is False on macOS 12.7"
    ]
    not_built = core_verify(tmp_path, "2.15.0", mac("14.5"), {**mps, "built": False})
    assert messages(not_built) == [
        "gpu: torch 2.15.0 is built without MPS (torch.backends.mps.is_built() is False),"
        " profile gpu needs it"
    ]
    failing = {**mps, "devices": [{"name": "mps", "error": "MPS backend out of memory"}]}
    crashed = core_verify(tmp_path, "2.15.0", mac("14.5"), failing)
    assert messages(crashed) == [
        "gpu: GPU 0 Apple M2 (mps): a tiny operation failed: RuntimeError: MPS backend out of"
        " memory"
    ]
    assert not crashed.ok and crashed.gpus == ()


# --- Jetson ------------------------------------------------------------------------------------

JETSON_PROFILE = f"""\
name = "gpu"
[hardware]
vendor = "jetson"
cuda = "12.6"
compute_capabilities = ["8.7"]
l4t = ">=36.4,<37"
[target]
platform = "aarch64-manylinux_2_28"
python = ["{PY}"]
[pins]
torch = "2.8.0"
"""
ORIN = hardware({
    "platform": {"system": "linux", "machine": "aarch64", "glibc": "2.35", "l4t": "36.4.3"},
    "gpus": [{"index": 0, "vendor": "nvidia", "name": "Orin", "compute_capability": "8.7"}],
})  # fmt: skip
JETSON = {
    "version": "2.8.0",
    "cuda": "12.6",
    "arch_list": ["sm_87"],
    "devices": [{"name": "Orin", "cc": [8, 7]}],
}


def test_jetson_cuda_check_on_the_integrated_gpu(tmp_path: Path) -> None:
    project(tmp_path, JETSON_PROFILE, "2.8.0", lock=False)
    ok = core_verify(tmp_path, "2.8.0", ORIN, JETSON)
    assert (ok.findings, ok.gpus) == ((), ("GPU 0 Orin",))

    sbsa = core_verify(tmp_path, "2.8.0", ORIN, {**JETSON, "arch_list": ["sm_80", "sm_90"]})
    assert (sbsa.findings, sbsa.gpus) == ((), ("GPU 0 Orin",))  # sm_80 code runs on 8.7
    no_kernels = core_verify(tmp_path, "2.8.0", ORIN, {**JETSON, "arch_list": ["sm_90"]})
    assert messages(no_kernels) == [
        "gpu: GPU 0 Orin (compute capability 8.7): torch 2.8.0 has no kernels for it: neither"
        " sm_87 code nor PTX for it or an older architecture (torch.cuda.get_arch_list(): sm_90)"
    ]
    other_cuda = core_verify(tmp_path, "2.8.0", ORIN, {**JETSON, "cuda": "12.8"})
    assert messages(other_cuda) == [
        "gpu: torch 2.8.0 is built for CUDA 12.8 (torch.version.cuda), profile gpu needs CUDA 12.6"
    ]
    unavailable = core_verify(tmp_path, "2.8.0", ORIN, {**JETSON, "available": False})
    assert messages(unavailable) == [
        "gpu: torch 2.8.0 cannot use the GPUs (GPU 0 Orin): torch.cuda.is_available() is False"
    ]


# --- the wording for CPU builds, and the pure check on built-in profiles ----------------------


def test_only_a_cpu_profile_is_called_a_cpu_build(tmp_path: Path) -> None:
    profiles = load_profiles(REPO / "profiles")
    machine = hardware(CPU_MACHINE, "cpu.json")
    assert gpu_plan(profiles.get("cpu"), machine) == (
        False,
        "GPU checks: not applicable (profile cpu is a CPU build)",
    )
    for name, label in (("rocm72", "AMD"), ("xpu", "Intel"), ("mps", "Apple"),
                        ("jetson_jp6", "NVIDIA"), ("cuda128", "NVIDIA")):  # fmt: skip
        assert gpu_plan(profiles.get(name), machine) == (
            False,
            f"GPU checks skipped: no {label} GPU on this machine (cpu.json)",
        )


def test_built_in_rocm_profile_with_pytorch_torch_facts() -> None:
    """rocm72 on an MI300X with what PyTorch's rocm7.2 wheel reports (its version carries the
    label, as the lock does); the same wheel of ROCm 7.1 is named."""
    profile = load_profiles(REPO / "profiles").get("rocm72")
    machine = hardware({"gpus": [MI300X]})
    torch = TorchInfo(
        error=None,
        version="2.13.0+rocm7.2",
        hip="7.2.26015-fc0010cf6a",
        available=True,
        arch_list=profile.gfx_targets,
        devices=(Device(index=0, name="AMD Instinct MI300X", gfx="gfx942", op_error=None),),
    )
    assert check_gpu(profile, "2.13.0+rocm7.2", machine, torch) == (
        (),
        ("GPU 0 AMD Instinct MI300X",),
    )
    older = replace(torch, version="2.13.0+rocm7.1", hip="7.1.25424")
    findings, _ = check_gpu(profile, "2.13.0+rocm7.2", machine, older)
    assert [f.message for f in findings] == [
        "torch.__version__ is 2.13.0+rocm7.1, the lock has torch 2.13.0+rocm7.2",
        "torch 2.13.0+rocm7.1 is built for ROCm 7.1.25424 (torch.version.hip), profile rocm72"
        " needs ROCm 7.2",
    ]


def test_a_rocm_torch_on_an_nvidia_profile_is_named() -> None:
    profile = load_profiles(REPO / "profiles").get("cuda128")
    machine = hardware({
        "driver_version": "570.133.20", "cuda_driver_version": "12.8",
        "gpus": [{"index": 0, "name": "NVIDIA H200", "compute_capability": "9.0"}],
    })  # fmt: skip
    rocm = TorchInfo(error=None, version="2.10.0+rocm7.1", hip="7.1.25424", available=False)
    findings, passed = check_gpu(profile, "2.10.0", machine, rocm)
    assert [f.message for f in findings] == [  # the lock's 2.10.0 has no label (PyPI's)
        "torch 2.10.0+rocm7.1 is a ROCm build (HIP 7.1.25424) (torch.version.hip), profile"
        " cuda128 needs CUDA 12.8",
        "torch 2.10.0+rocm7.1 cannot use the GPUs (GPU 0 NVIDIA H200): torch.cuda.is_available()"
        " is False",
    ]
    assert passed == ()
