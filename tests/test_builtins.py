"""The built-in profiles for every machine kind: which readout selects which, their committed
locks emitted for other platforms, and a wheelhouse filled for another platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HARDWARE, REPO
from support.index import serve, write_simple_index
from support.sync_project import gen
from support.wheels import build_wheel

from constraints_gen.detect.hardware import load_hardware
from constraints_gen.errors import InputError, NoFitError
from constraints_gen.locks.compile import LockOptions, compile_one
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet
from constraints_gen.profiles.project import find_project
from constraints_gen.profiles.select import require_fit, select

# Readout -> the profile it must select (why: the profile comments and each file's _comment).
SELECTS = [
    ("gh200-r580-aarch64", "cuda130_aarch64"),  # 9.0 on aarch64, R580
    ("dgx-spark-gb10", "cuda130_aarch64"),  # 12.1 runs the sm_120 code
    ("jetson-orin-jp62", "jetson_jp6"),  # L4T 36.4.3, 8.7
    ("jetson-thor-jp7", "jetson_jp7"),  # L4T 38.2: SBSA CUDA 13 build, not cuda130_aarch64
    ("win-rtx4090-r566", "win_cu126"),  # R565: no CUDA 13; 2.14.1+cu126 is newer than 2.11.0+cu128
    ("win-rtx5090-r581", "win_cu130"),  # R580: CUDA 13
    ("win-gtx1080-r581", "win_cu126"),  # Pascal: only the CUDA 12.6 build has 6.1 kernels
    ("win-laptop-cpu", "cpu_windows"),
    ("mac-m3-macos14", "mps"),
    ("mac-m1-macos13", "mps_macos13"),  # MPS needs macOS 14 from torch 2.9: torch 2.8.0
    ("mac-m2-macos12", "mps_macos12"),  # MPS needs macOS 13 from torch 2.5: torch 2.4.1
    ("mi300x", "rocm72"),  # gfx942
    ("mi355x", "rocm72"),  # gfx950
    ("rx7900xtx", "rocm72"),  # gfx1100
    ("arc-a770", "xpu"),
    ("graviton-cpu", "cpu_linux_aarch64"),
    ("cpu", "cpu"),  # Linux x86_64 without a GPU: not another platform's CPU build
    ("h200-real", "cuda132"),  # x86_64: not the aarch64 build; 2.15.0 is the newest that runs
]
# Readout -> (a profile that must not fit, a text its reasons must carry).
NO_FIT = [
    ("gb200-r570-aarch64", "cuda130_aarch64", "580.65.06"),  # the driver CUDA 13 needs
    ("rx6600xt-gfx1032", "rocm72", "gfx1032"),  # no ROCm build lists gfx1032
    ("mac-m1-macos11", "mps_macos12", "older than 12.3"),  # MPS needs macOS 12.3
    ("alpine-cpu", "cpu", "do not install on musl"),  # a manylinux wheel on musl
]


@pytest.fixture(scope="module")
def builtin() -> ProfileSet:
    return load_profiles(REPO / "profiles")


@pytest.mark.parametrize(("name", "expected"), SELECTS)
def test_each_machine_selects_its_profile(builtin: ProfileSet, name: str, expected: str) -> None:
    selection = select(builtin, load_hardware(HARDWARE / f"{name}.json"))
    assert selection.chosen is not None
    assert selection.chosen.name == expected
    fitting = {v.profile.name for v in selection.verdicts if v.fits}
    assert fitting <= {p.name for p in builtin.profiles if hardware_platform_ok(p, name)}


def hardware_platform_ok(profile: object, name: str) -> bool:
    """A fitting profile is always one for the readout's system and machine."""
    hardware = load_hardware(HARDWARE / f"{name}.json")
    system, machine = hardware.platform.system, hardware.platform.machine
    platforms = getattr(profile, "platforms", ())
    return any(_system_machine(p) == (system, machine) for p in platforms)


def _system_machine(uv_platform: str) -> tuple[str, str]:
    arch = uv_platform.split("-", 1)[0]
    system = (
        "windows" if "windows" in uv_platform else "darwin" if "darwin" in uv_platform else "linux"
    )
    return system, arch


@pytest.mark.parametrize(("name", "profile", "reason"), NO_FIT)
def test_no_fit_says_why(builtin: ProfileSet, name: str, profile: str, reason: str) -> None:
    selection = select(builtin, load_hardware(HARDWARE / f"{name}.json"))
    assert selection.chosen is None
    verdict = next(v for v in selection.verdicts if v.profile.name == profile)
    assert not verdict.fits
    assert reason in "; ".join(verdict.reasons)
    with pytest.raises(NoFitError) as caught:
        require_fit(selection)
    assert reason in caught.value.message


@pytest.mark.parametrize(("name", "expected"), [*SELECTS[:4], SELECTS[10]])
def test_explain_json_names_the_selection(name: str, expected: str) -> None:
    done = gen("explain", "--json", "--hardware", HARDWARE / f"{name}.json", cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["selected"] == expected
    chosen = next(p for p in report["profiles"] if p["name"] == expected)
    assert chosen["fits"] is True


@pytest.mark.parametrize(("name", "profile", "reason"), NO_FIT)
def test_no_fit_emits_nothing_and_explains(name: str, profile: str, reason: str) -> None:
    emitted = gen("--hardware", HARDWARE / f"{name}.json", "--python", "3.12", cwd=REPO)
    assert (emitted.returncode, emitted.stdout) == (1, "")
    assert emitted.stderr.startswith("ERROR: no profile fits this machine")
    line = next(t for t in emitted.stderr.splitlines() if t.startswith(f"  {profile}: "))
    assert reason in line
    done = gen("explain", "--json", "--hardware", HARDWARE / f"{name}.json", cwd=REPO)
    report = json.loads(done.stdout)
    assert report["selected"] is None
    entry = next(p for p in report["profiles"] if p["name"] == profile)
    assert entry["fits"] is False
    assert any(reason in text for text in entry["reasons"])


# One emit per committed profile, from a readout of its machine (another platform: --python).
EMITS = [
    ("gh200-r580-aarch64", "cuda130_aarch64", "3.12"),
    ("jetson-thor-jp7", "jetson_jp7", "3.12"),
    ("graviton-cpu", "cpu_linux_aarch64", "3.13"),
    ("win-laptop-cpu", "cpu_windows", "3.14"),
    ("mac-m3-macos14", "mps", "3.12"),
    ("mac-m1-macos13", "mps_macos13", "3.13"),
    ("mac-m2-macos12", "mps_macos12", "3.12"),
    ("h200-real", "cuda132", "3.14"),
]


@pytest.mark.parametrize(("name", "profile", "python"), EMITS)
def test_emit_prints_the_committed_constraints(name: str, profile: str, python: str) -> None:
    done = gen("--hardware", HARDWARE / f"{name}.json", "--python", python, cwd=REPO)
    assert done.returncode == 0, done.stderr
    committed = REPO / "generated" / profile / f"py{python}.constraints.txt"
    assert done.stdout == committed.read_text(encoding="utf-8")


def locked(profile: str, python: str) -> dict[str, str]:
    text = (REPO / "generated" / profile / f"py{python}.lock.txt").read_text(encoding="utf-8")
    pairs = (line.split(" ")[0].split("==") for line in text.splitlines() if "==" in line)
    return {name: version for name, version in pairs}


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13", "3.14"])
def test_cpu_and_mac_locks_carry_no_cuda_packages(python: str) -> None:
    for profile in ("cpu_linux_aarch64", "cpu_windows", "mps"):
        names = locked(profile, python)
        assert "torch" in names
        assert not [n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))], profile
    assert "bitsandbytes" in locked("mps", python)  # macosx_14_0_arm64 wheels
    if python != "3.14":  # torch 2.8.0 has no cp314 wheels
        assert "bitsandbytes" not in locked("mps_macos13", python)  # none for macOS 12-13
    if python in ("3.11", "3.12"):  # torch 2.4.1: cp38 ... cp312
        assert "bitsandbytes" not in locked("mps_macos12", python)
    assert locked("cuda130_aarch64", python)["cuda-toolkit"].startswith("13.0")


@pytest.mark.parametrize(
    ("name", "profile", "reason"),
    [  # the wheels install there, but MPS does not run: the backend's floor counts
        ("mac-m2-macos12", "mps_macos13", "macOS 12.7.6 is older than 13.0"),
        ("mac-m1-macos13", "mps", "macOS 13.6.7 is older than 14.0"),
    ],
)
def test_an_apple_build_never_fits_below_its_mps_floor(
    builtin: ProfileSet, name: str, profile: str, reason: str
) -> None:
    verdict = next(
        v
        for v in select(builtin, load_hardware(HARDWARE / f"{name}.json")).verdicts
        if v.profile.name == profile
    )
    assert not verdict.fits
    assert verdict.reasons == (
        f"platform aarch64-apple-darwin: {reason}, the oldest the build runs on (MPS's own floor"
        " for this torch)",
    )


@pytest.mark.parametrize(
    ("profile", "floor", "torch"),
    [("mps", "14.0", "2.15.0"), ("mps_macos13", "13.0", "2.8.0"), ("mps_macos12", "12.3", "2.4.1")],
)
def test_apple_floors_are_mps_floors(
    builtin: ProfileSet, profile: str, floor: str, torch: str
) -> None:
    """MPS's floor by torch release: 12.3 up to 2.4, 13.0 from 2.5 (pytorch/pytorch #133141),
    14.0 from 2.9 (#162921)."""
    chosen = builtin.get(profile)
    version = chosen.torch_version
    assert version is not None and str(version) == torch
    mps_floor = (
        (14, 0) if version.release >= (2, 9) else (13, 0) if version.release >= (2, 5) else (12, 3)
    )
    assert chosen.min_macos == mps_floor == tuple(int(p) for p in floor.split("."))


def test_every_committed_lock_is_fresh() -> None:
    done = gen("lock", "--check", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheelhouse_fill_for_macos_takes_only_files_that_install_there(tmp_path: Path) -> None:
    """An ``apple`` profile (macOS 14+, CPython 3.12) locked and filled on this Linux machine
    from a local index: only the wheels whose tags install on macOS 14 arm64 come."""
    wheels = tmp_path / "wheels"
    tags = {
        "mac14": "cp312-cp312-macosx_14_0_arm64",
        "mac11": "cp312-cp312-macosx_11_0_arm64",
        "mac15": "cp312-cp312-macosx_15_0_arm64",  # needs macOS 15: never for a macOS 14 lock
        "linux": "cp312-cp312-manylinux_2_28_x86_64",
        "windows": "cp312-cp312-win_amd64",
    }
    for tag in tags.values():
        build_wheel(wheels, "native", "1.0", tag=tag)
    build_wheel(wheels, "torch", "2.15.0", tag="cp312-none-macosx_14_0_arm64")
    build_wheel(wheels, "torch", "2.15.0", tag="cp312-cp312-manylinux_2_28_aarch64")
    build_wheel(wheels, "purelib", "2.0", requires=["native>=1"])
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    root = tmp_path / "proj"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "manifest.toml").write_text(
        '[requirements]\ntorch = ">=2.5"\npurelib = ">=1"\n'
    )
    (root / "profiles" / "mac.toml").write_text(
        'name = "mac"\n[hardware]\nvendor = "apple"\nmin_macos = "14.0"\n'
        '[target]\nplatforms = ["aarch64-apple-darwin"]\npython = ["3.12"]\n'
        '[pins]\ntorch = "2.15.0"\n'
    )
    with serve(tmp_path / "index") as url:
        saved = os.environ.get("UV_DEFAULT_INDEX")
        os.environ["UV_DEFAULT_INDEX"] = f"{url}/simple"
        try:
            project = find_project(root)
            profiles = load_profiles(project.profiles_dir)
            compile_one(project, profiles, profiles.get("mac"), "3.12", LockOptions())
        finally:
            if saved is None:
                del os.environ["UV_DEFAULT_INDEX"]
            else:
                os.environ["UV_DEFAULT_INDEX"] = saved
        fill = ("wheelhouse", "fill", "--profile", "mac", "--root", "proj", "--wheelhouse", "wh")
        done = gen(*fill, "--python", "3.12", "--index-url", f"{url}/simple", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "wh").glob("*.whl")) == [
        f"native-1.0-{tags['mac14']}.whl",
        "purelib-2.0-py3-none-any.whl",
        "torch-2.15.0-cp312-none-macosx_14_0_arm64.whl",
    ]


TARGET = '[target]\nplatforms = ["x86_64-manylinux_2_28"]\npython = ["3.12"]\n'


def test_a_pin_set_to_false_leaves_the_package_out(tmp_path: Path) -> None:
    """``name = false`` in [pins] drops a package the manifest (or a parent) asks for: the lock
    has no such package; without it, the same lock has it."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "torch", "2.11.0")
    build_wheel(wheels, "quant", "0.50.2")
    root = tmp_path / "proj"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "manifest.toml").write_text(
        '[requirements]\ntorch = ">=2.5"\nquant = ">=0.45"\n'
    )
    for name, extra in (("with", ""), ("without", "quant = false\n")):
        (root / "profiles" / f"{name}.toml").write_text(
            f'name = "{name}"\n[hardware]\nvendor = "cpu"\n{TARGET}'
            f'[pins]\ntorch = "2.11.0"\n{extra}'
        )
    project = find_project(root)
    profiles = load_profiles(project.profiles_dir)
    assert profiles.get("without").excluded == ("quant",)
    options = LockOptions(find_links=(str(wheels),), offline=True)
    for name in ("with", "without"):
        compile_one(project, profiles, profiles.get(name), "3.12", options)
    with_text = (root / "generated" / "with" / "py3.12.lock.txt").read_text()
    without_text = (root / "generated" / "without" / "py3.12.lock.txt").read_text()
    assert "quant==0.50.2" in with_text
    assert "quant" not in without_text.split("# Fingerprint")[1]
    assert "torch==2.11.0" in without_text


def test_a_pin_set_to_true_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "manifest.toml").write_text('[requirements]\ntorch = ">=2.5"\n')
    (root / "profiles" / "p.toml").write_text(
        f'name = "p"\n[hardware]\nvendor = "cpu"\n{TARGET}[pins]\ntorch = true\n'
    )
    with pytest.raises(InputError) as caught:
        load_profiles(root / "profiles")
    assert "pins.torch: expected an exact version" in str(caught.value)


# On-demand built-ins (their indexes are not reachable here): each real profile file, locked on
# demand from local stand-in indexes. (profile, CPython, torch wheel tag on the profile's index)
ON_DEMAND = [
    ("win_cu126", "3.12", "cp312-cp312-win_amd64"),
    ("win_cu128", "3.12", "cp312-cp312-win_amd64"),
    ("win_cu130", "3.13", "cp313-cp313-win_amd64"),
    ("rocm72", "3.12", "cp312-cp312-manylinux_2_28_x86_64"),
    ("xpu", "3.11", "cp311-cp311-manylinux_2_28_x86_64"),
    ("jetson_jp6", "3.10", "cp310-cp310-linux_aarch64"),
    ("pt_cu126", "3.14", "cp314-cp314-manylinux_2_28_x86_64"),
    ("pt_cu128", "3.12", "cp312-cp312-manylinux_2_28_x86_64"),
    ("pt_cu118", "3.11", "cp311-cp311-manylinux_2_28_x86_64"),
]


def stand_in_project(tmp_path: Path, profile: str) -> Path:
    """A project holding the real built-in ``profile`` (and its parent) and the real manifest."""
    root = tmp_path / "proj"
    (root / "profiles").mkdir(parents=True)
    for name in (profile, "llm-stack", "manifest"):
        text = (REPO / "profiles" / f"{name}.toml").read_text(encoding="utf-8")
        (root / "profiles" / f"{name}.toml").write_text(text, encoding="utf-8")
    return root


def stand_in_pypi(tmp_path: Path, profile: str) -> Path:
    """Pure-Python stand-ins of the stack at the profile's pinned versions, no torch."""
    profiles = load_profiles(REPO / "profiles")
    wheels = tmp_path / "pypi-wheels"
    for pin in profiles.get(profile).pins:
        if pin.name != "torch":
            build_wheel(wheels, pin.name, pin.version)
    return write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "pypi")


@pytest.mark.parametrize(("profile", "python", "tag"), ON_DEMAND)
def test_on_demand_builtin_locks_from_its_index(
    tmp_path: Path, profile: str, python: str, tag: str
) -> None:
    root = stand_in_project(tmp_path, profile)
    loaded = load_profiles(root / "profiles").get(profile)
    torch = loaded.pin("torch")
    assert torch is not None and not loaded.commit_lock
    index = loaded.indexes[0].name
    stand_in_pypi(tmp_path, profile)
    build_wheel(tmp_path / "torch-index", "torch", torch.version, tag=tag)
    write_simple_index(sorted((tmp_path / "torch-index").glob("*.whl")), tmp_path / "torch")
    with serve(tmp_path / "pypi") as pypi, serve(tmp_path / "torch") as torch_index:
        env = {"UV_DEFAULT_INDEX": f"{pypi}/simple"}
        env["GEN_CONSTRAINTS_MIRRORS"] = f"{index}={torch_index}/simple"
        done = gen_env(root, env, "--profile", profile, "--python", python)
    assert done.returncode == 0, done.stderr
    assert f"torch=={torch.version} " in done.stdout  # the local label, exactly
    assert "locking it into" in done.stderr


@pytest.mark.parametrize(("profile", "python", "tag"), ON_DEMAND[:1] + ON_DEMAND[3:4])
def test_on_demand_builtin_refuses_another_build_variant(
    tmp_path: Path, profile: str, python: str, tag: str
) -> None:
    """The profile's index offers the same torch with another local label only: no lock."""
    root = stand_in_project(tmp_path, profile)
    loaded = load_profiles(root / "profiles").get(profile)
    torch = loaded.pin("torch")
    assert torch is not None
    stand_in_pypi(tmp_path, profile)
    other = torch.version.split("+")[0] + "+cpu"
    build_wheel(tmp_path / "torch-index", "torch", other, tag=tag)
    write_simple_index(sorted((tmp_path / "torch-index").glob("*.whl")), tmp_path / "torch")
    with serve(tmp_path / "pypi") as pypi, serve(tmp_path / "torch") as torch_index:
        env = {"UV_DEFAULT_INDEX": f"{pypi}/simple"}
        env["GEN_CONSTRAINTS_MIRRORS"] = f"{loaded.indexes[0].name}={torch_index}/simple"
        done = gen_env(root, env, "--profile", profile, "--python", python)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"profile {profile}, CPython {python}" in done.stderr
    assert f"torch=={torch.version}" in done.stderr  # the exact build it could not find


def gen_env(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", "--root", str(root), *args],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
