"""Emit (the default command) end to end, run as users run it: a subprocess per call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HARDWARE, REPO
from support.stack import CU121_PROFILE, Stack, make_project
from support.wheels import build_wheel
from test_selection import BUILTIN_CASES

from constraints_gen.locks.emit import platform_matches


def gen(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def test_h200_readout_emits_the_committed_cuda132_constraints() -> None:
    done = gen("--hardware", str(HARDWARE / "h200-real.json"), "--python", "3.11")
    assert done.returncode == 0, done.stderr
    committed = REPO / "generated" / "cuda132" / "py3.11.constraints.txt"
    assert done.stdout == committed.read_text()
    assert "torch==2.15.0 " in done.stdout  # the newest torch: a CUDA 13.2 build with sm_90
    assert "cuda-toolkit==13.2" in done.stdout
    assert done.stderr == f"gen-constraints: profile cuda132, CPython 3.11 ({committed})\n"


def test_hardware_from_the_environment_variable(tmp_path: Path) -> None:
    readout = (HARDWARE / "h200-real.json").read_text()
    by_path = gen(
        "--python", "3.12", env={"GEN_CONSTRAINTS_HARDWARE": str(HARDWARE / "h200-real.json")}
    )
    by_text = gen("--python", "3.12", env={"GEN_CONSTRAINTS_HARDWARE": readout})
    assert by_path.returncode == by_text.returncode == 0
    assert by_path.stdout == by_text.stdout
    assert by_path.stdout == (REPO / "generated/cuda132/py3.12.constraints.txt").read_text()


def test_cpu_machine_gets_the_cpu_build(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps({"driver_version": None, "cuda_driver_version": None, "gpus": []}))
    done = gen("--hardware", str(cpu), "--python", "3.11")
    assert done.returncode == 0, done.stderr
    assert "torch==2.13.0+cpu " in done.stdout
    assert not any(line.startswith("nvidia-") for line in done.stdout.splitlines())


def test_bad_hardware_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"driver_version": "580.1", "gpus": [{"index": 0}]}')
    done = gen("--hardware", str(bad))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "ERROR: 3 problems:\n"
        f'  {bad}: cuda_driver_version: expected a CUDA version like "13.0", or null (missing)\n'
        f"  {bad}: gpus[0].name: expected a GPU name string (missing)\n"
        f'  {bad}: gpus[0].compute_capability: expected a string like "9.0" (missing)\n'
    )


def test_unknown_profile(tmp_path: Path) -> None:
    done = gen("--profile", "nope")
    assert done.returncode == 2
    assert done.stderr == (
        f"ERROR: {REPO / 'profiles'}: no profile named 'nope' (known: cpu, cpu_linux_aarch64,"
        " cpu_windows, cuda121_ampere, cuda124_glibc217, cuda126, cuda128, cuda130,"
        " cuda130_aarch64, cuda132, jetson_jp6, jetson_jp7, mps, mps_macos12, mps_macos13,"
        " pt_cu118, pt_cu126, pt_cu128, rocm72, win_cu126, win_cu128, win_cu130, xpu)\n"
    )


def test_stale_lock_warns_and_strict_fails(tmp_path: Path, index_env: Stack) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    env = {"UV_DEFAULT_INDEX": index_env.pypi_url}
    locked = gen("lock", "--mirror", f"pytorch-cu121={index_env.cu121_url}", cwd=root, env=env)
    assert locked.returncode == 0, locked.stderr
    manifest = root / "profiles" / "manifest.toml"
    manifest.write_text(manifest.read_text() + 'huggingface-hub = ">=0.30"\n')
    warned = gen("--profile", "cu121", "--python", "3.11", cwd=root)
    assert warned.returncode == 0
    assert "warning: " in warned.stderr and "is stale" in warned.stderr
    assert "torch==2.5.1+cu121" in warned.stdout
    strict = gen("--profile", "cu121", "--python", "3.11", "--strict", cwd=root)
    assert strict.returncode == 1 and strict.stdout == ""
    assert strict.stderr.endswith("TIP: refresh it: gen-constraints lock cu121\n")


def test_profile_without_committed_lock_is_locked_on_demand(
    tmp_path: Path, index_env: Stack
) -> None:
    root = make_project(tmp_path / "project", {"cu121": CU121_PROFILE})
    cache = tmp_path / "cache"
    env = {
        "UV_DEFAULT_INDEX": index_env.pypi_url,
        "GEN_CONSTRAINTS_CACHE_DIR": str(cache),
        "GEN_CONSTRAINTS_MIRRORS": f"pytorch-cu121={index_env.cu121_url}",
    }
    first = gen("--root", str(root), "--profile", "cu121", "--python", "3.11", env=env)
    assert first.returncode == 0, first.stderr
    assert "has no committed lock for CPython 3.11; locking it into" in first.stderr
    assert "torch==2.5.1+cu121" in first.stdout
    assert not (root / "generated").exists()
    second = gen("--root", str(root), "--profile", "cu121", "--python", "3.11", env=env)
    assert second.stdout == first.stdout
    assert "locking it into" not in second.stderr


def test_on_demand_lock_failure_is_a_clear_error(tmp_path: Path, index_env: Stack) -> None:
    unreachable = CU121_PROFILE.replace(
        "https://download.pytorch.org/whl/cu121", "http://127.0.0.1:9/simple"
    )
    root = make_project(tmp_path, {"cu121": unreachable})
    done = gen(
        "--root",
        str(root),
        "--profile",
        "cu121",
        "--python",
        "3.11",
        env={"UV_DEFAULT_INDEX": index_env.pypi_url, "UV_HTTP_RETRIES": "0"},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "ERROR: profile cu121, CPython 3.11: uv failed with exit code" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("target", "system", "machine", "expected"),
    [
        ("x86_64-manylinux_2_28", "linux", "x86_64", True),
        ("x86_64-manylinux_2_28", "linux", "AMD64", True),
        ("x86_64-manylinux_2_28", "linux", "aarch64", False),
        ("x86_64-manylinux_2_28", "darwin", "x86_64", False),
        ("aarch64-apple-darwin", "darwin", "arm64", True),
        ("linux", "linux", "x86_64", True),
        ("x86_64-pc-windows-msvc", "win32", "AMD64", True),
    ],
)
def test_platform_matches(target: str, system: str, machine: str, expected: bool) -> None:
    assert platform_matches(target, system, machine) is expected


#: the cases whose profile has a committed lock (the PyTorch-index ones are locked on demand)
COMMITTED_CASES = [
    (name, expected)
    for name, expected in BUILTIN_CASES
    if (REPO / "generated" / expected / "py3.11.lock.txt").is_file()
]


def test_the_emit_cases_cover_pypi_and_index_profiles() -> None:
    assert {e for _, e in COMMITTED_CASES} == {"cuda132", "cpu"}


@pytest.mark.parametrize(("name", "expected"), COMMITTED_CASES)
def test_each_hardware_file_emits_its_profiles_committed_lock(name: str, expected: str) -> None:
    done = gen("--hardware", str(HARDWARE / f"{name}.json"), "--python", "3.11")
    assert done.returncode == 0, done.stderr
    committed = REPO / "generated" / expected / "py3.11.constraints.txt"
    text = committed.read_text()
    if expected == "cpu":  # its index is named, and no mirror is configured: the index itself
        index = "# Index pytorch-cpu: https://download.pytorch.org/whl/cpu\n"
        text = text.replace(
            index, index + "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        )
    assert done.stdout == text
    lock = committed.with_name("py3.11.lock.txt").read_text()
    torch = next(line for line in done.stdout.splitlines() if line.startswith("torch=="))
    assert f"{torch.split()[0]} \\\n    --hash=sha256:" in lock  # backed by the hashed lock


def test_cpu_mirror_folder_set_by_the_variable_is_printed_as_find_links(tmp_path: Path) -> None:
    """The build machine's mirror is configuration given explicitly (as .ci/run does), never the
    repository's: a folder holding the pinned torch wheel becomes --find-links."""
    build_wheel(tmp_path / "wheels", "torch", "2.13.0+cpu", tag="cp311-cp311-manylinux_2_28_x86_64")
    env = {"GEN_CONSTRAINTS_MIRRORS": f"pytorch-cpu={tmp_path / 'wheels'}"}
    done = gen("--hardware", str(HARDWARE / "cpu.json"), "--python", "3.11", env=env)
    assert done.returncode == 0, done.stderr
    index = "# Index pytorch-cpu: https://download.pytorch.org/whl/cpu\n"
    text = (REPO / "generated" / "cpu" / "py3.11.constraints.txt").read_text()
    assert done.stdout == text.replace(index, f"{index}--find-links {tmp_path / 'wheels'}\n")


@pytest.mark.parametrize("name", ["k80-r470"])
def test_no_fit_hardware_prints_nothing(name: str) -> None:
    done = gen("--hardware", str(HARDWARE / f"{name}.json"))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("ERROR: no profile fits this machine (driver 470.256.02")
