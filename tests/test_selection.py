"""Which profile fits which machine (driver floors from NVIDIA's CUDA toolkit release notes,
compute capabilities from NVIDIA's CUDA GPUs tables)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from constraints_gen.detect.hardware import CPU, Gpu, Hardware, Platform, load_hardware
from constraints_gen.errors import NoFitError
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet
from constraints_gen.profiles.select import (
    evaluate,
    gpu_verdict,
    nearest_changes,
    require_fit,
    select,
)

REPO = Path(__file__).resolve().parent.parent
#: the platform reason on a readout in the old form (Linux x86_64, glibc not recorded)
GLIBC = "platform x86_64-manylinux_2_28: glibc unknown, assumed >= 2.28"
HARDWARE = Path(__file__).parent / "data" / "hardware"


@pytest.fixture(scope="module")
def builtin() -> ProfileSet:
    return load_profiles(REPO / "profiles")


def machine(name: str) -> Hardware:
    return load_hardware(HARDWARE / f"{name}.json")


def nvidia(driver: str, cuda: str, *ccs: tuple[int, int]) -> Hardware:
    gpus = tuple(Gpu(index=i, name=f"GPU{i}", compute_capability=cc) for i, cc in enumerate(ccs))
    return Hardware(driver_version=driver, cuda_driver_version=cuda, gpus=gpus)


def profile_set(
    directory: Path, profiles: dict[str, tuple[str, list[str], bool, str]]
) -> ProfileSet:
    """``name -> (cuda, compute capabilities, ptx, torch)``, all with min_driver 525.60.13
    (580.65.06 for CUDA 13), the floors in NVIDIA's CUDA toolkit release notes."""
    directory.mkdir()
    (directory / "manifest.toml").write_text("[requirements]\n", encoding="utf-8")
    for name, (cuda, ccs, ptx, torch) in profiles.items():
        driver = "580.65.06" if cuda.startswith("13.") else "525.60.13"
        (directory / f"{name}.toml").write_text(
            f'name = "{name}"\n[hardware]\nvendor = "nvidia"\ncuda = "{cuda}"\n'
            f"compute_capabilities = {json.dumps(ccs)}\nptx = {str(ptx).lower()}\n"
            f'min_driver = "{driver}"\n[target]\nplatform = "x86_64-manylinux_2_28"\n'
            f'python = ["3.12"]\n[pins]\ntorch = "{torch}"\n',
            encoding="utf-8",
        )
    return load_profiles(directory)


#: (hardware file, the built-in profile it must select), shared with tests/test_emit.py
BUILTIN_CASES = [
    # The newest torch that runs (profiles/builds/torch.toml): 2.14.1+cu126 for Pascal to Hopper
    # on R525-R579 (PyPI's newer builds are CUDA 13: R580+, and drop Pascal and Volta)
    ("gtx1080-r535", "pt_cu126"),
    ("v100-r525", "pt_cu126"),  # 7.0 on R525 (CUDA 12.0): 12.x builds by minor-version compat
    ("t4-r550", "pt_cu126"),
    ("a100-r570", "pt_cu126"),
    ("rtx4090-r560", "pt_cu126"),  # 8.9 runs sm_86 code
    ("h200-real", "cuda132"),  # 2.15.0 (CUDA 13.2) on R580
    ("b200-r575", "pt_cu128"),  # R575 is below the R580 of CUDA 13; cu126 has no sm_100
    ("rtx5090-r580", "cuda132"),
    ("gb10-r580", "cuda132"),  # 12.1 runs sm_120 code
    ("b300-r580", "cuda132"),  # 10.3 runs sm_100 code
    ("p100-h100-r580", "pt_cu126"),  # the newest build with kernels for both 6.0 and 9.0
    ("a100-rtx3090-r570", "pt_cu126"),
    ("rtx3090-r470", "pt_cu118"),  # CUDA 11.8 runs on R470 (minor-version compatibility)
    ("cpu", "cpu"),
]


@pytest.mark.parametrize(("name", "expected"), BUILTIN_CASES)
def test_builtin_selection(builtin: ProfileSet, name: str, expected: str) -> None:
    selection = select(builtin, machine(name))
    assert selection.chosen is not None
    assert selection.chosen.name == expected
    assert require_fit(selection).name == expected
    assert selection.verdicts[0].profile.name == expected
    assert selection.verdicts[0].fits


# The Linux x86_64 NVIDIA and CPU built-ins (the others are for other platforms or vendors:
# tests/test_builtins.py).
X86_NVIDIA_CPU = ("cpu", "cuda121_ampere", "cuda126", "cuda128", "cuda130")


def test_cpu_machine_verdicts(builtin: ProfileSet) -> None:
    selection = select(builtin, CPU)
    verdicts = [v for v in selection.verdicts if v.profile.name in X86_NVIDIA_CPU]
    assert [(v.profile.name, v.fits, v.reasons) for v in verdicts] == [
        ("cpu", True, (GLIBC, "no GPU: CPU build")),
        ("cuda130", False, (GLIBC, "no NVIDIA GPU visible")),
        ("cuda128", False, (GLIBC, "no NVIDIA GPU visible")),
        ("cuda126", False, (GLIBC, "no NVIDIA GPU visible")),
        ("cuda121_ampere", False, (GLIBC, "no NVIDIA GPU visible")),
    ]


def test_named_profile_is_used_even_when_it_does_not_fit(builtin: ProfileSet) -> None:
    selection = select(builtin, machine("h200-real"), name="cpu")
    assert selection.chosen is not None and selection.chosen.name == "cpu"


def test_k80_fits_nothing(builtin: ProfileSet) -> None:
    with pytest.raises(NoFitError) as info:
        require_fit(select(builtin, machine("k80-r470")))
    lines = info.value.message.splitlines()
    assert lines[0] == (
        "no profile fits this machine (driver 470.256.02, CUDA 11.4, Tesla K80 3.7; linux x86_64):"
    )
    lines = [line for line in lines[1:] if line.split(":")[0].strip() in X86_NVIDIA_CPU]
    assert lines[0] == (
        f"  cuda130: {GLIBC}; driver 470.256.02 is older than 580.65.06, the oldest that runs"
        " the CUDA 13.0 build; the driver supports CUDA 11.4, older than the 13.x that the"
        " CUDA 13.0 build needs; GPU 0 Tesla K80 (compute capability 3.7): the build has no"
        " kernels for it (built for 7.5 8.0 8.6 9.0 10.0 12.0)"
    )
    assert lines[-1] == (
        f"  cpu: {GLIBC}; a CPU build on a GPU machine: used only when named (--profile cpu)"
    )
    assert info.value.tip == "use a CPU build explicitly: --profile cpu"
    assert info.value.exit_code == 1


def test_old_driver_tip_names_the_nearest_driver_then_newer_torches(builtin: ProfileSet) -> None:
    # T4 on R440 (CUDA 10.2): below every floor; the nearest change first (CUDA 11.8's 450.80.02),
    # then only the drivers that run a newer torch
    selection = select(builtin, nvidia("440.33.01", "10.2", (7, 5)))
    assert selection.chosen is None
    with pytest.raises(NoFitError) as info:
        require_fit(selection)
    assert info.value.tip == (
        "driver >= 450.80.02 runs 2.7.1+cu118 (profile pt_cu118)"
        "; or driver >= 525.60.13 runs 2.14.1+cu126 (profile pt_cu126)"
        "; or driver >= 580.65.06 runs 2.15.0 (profile cuda132)"
        "; or use a CPU build explicitly: --profile cpu"
    )
    cuda128 = next(v for v in selection.verdicts if v.profile.name == "cuda128")
    assert cuda128.changes == (("driver", "525.60.13"),) and cuda128.driver_only


def test_a_gpu_no_build_has_kernels_for_names_no_change(builtin: ProfileSet) -> None:
    # K80 (3.7): no driver makes any build run it, so nothing but the CPU build is offered
    selection = select(builtin, machine("k80-r470"))
    assert selection.chosen is None
    assert nearest_changes(selection) == ()
    with pytest.raises(NoFitError) as info:
        require_fit(selection)
    assert info.value.tip == "use a CPU build explicitly: --profile cpu"


def old_glibc(driver: str, cuda: str, cc: tuple[int, int], glibc: str) -> Hardware:
    platform = Platform(system="linux", machine="x86_64", glibc=glibc)
    gpu = Gpu(index=0, name="GPU0", compute_capability=cc)
    return Hardware(driver_version=driver, cuda_driver_version=cuda, gpus=(gpu,), platform=platform)


def test_old_glibc_gets_the_last_manylinux_2_17_build(builtin: ProfileSet) -> None:
    # CentOS 7 (glibc 2.17), A100 on R535: every torch >= 2.6 ships manylinux_2_28 wheels only
    selection = select(builtin, old_glibc("535.183.01", "12.2", (8, 0), "2.17"))
    assert selection.chosen is not None and selection.chosen.name == "cuda124_glibc217"
    pt_cu126 = next(v for v in selection.verdicts if v.profile.name == "pt_cu126")
    assert not pt_cu126.fits and pt_cu126.changes == (("glibc", "2.28"),)
    assert pt_cu126.reasons == (
        "platform x86_64-manylinux_2_28: glibc 2.17 is older than the 2.28 its wheels need",
    )
    # the same machine on glibc 2.28 gets 2.14.1+cu126, and 2.6.0 lost to it
    newer = select(builtin, old_glibc("535.183.01", "12.2", (8, 0), "2.28"))
    assert newer.chosen is not None and newer.chosen.name == "pt_cu126"
    lost = next(v for v in newer.verdicts if v.profile.name == "cuda124_glibc217")
    assert lost.lost == "fits; 2.14.1+cu126 is newer (pt_cu126)"


def test_old_glibc_and_old_driver_names_each_change(builtin: ProfileSet) -> None:
    selection = select(builtin, old_glibc("470.256.02", "11.4", (8, 0), "2.17"))
    assert nearest_changes(selection) == (
        "glibc >= 2.28 runs 2.7.1+cu118 (profile pt_cu118)",
        "driver >= 525.60.13 runs 2.6.0 (profile cuda124_glibc217)",
        "driver >= 525.60.13 and glibc >= 2.28 runs 2.14.1+cu126 (profile pt_cu126)",
        "driver >= 580.65.06 and glibc >= 2.28 runs 2.15.0 (profile cuda132)",
    )


def test_older_build_wins_where_the_newer_lacks_kernels_or_driver(builtin: ProfileSet) -> None:
    # a GPU the newer build has no kernels for: Pascal on R580 gets 2.14.1+cu126, not 2.15.0
    pascal = select(builtin, nvidia("580.82.07", "13.0", (6, 1)))
    assert pascal.chosen is not None and pascal.chosen.name == "pt_cu126"
    cuda132 = next(v for v in pascal.verdicts if v.profile.name == "cuda132")
    assert not cuda132.fits and not cuda132.changes
    # a driver below the newer build's floor: Ada on R560 gets 2.14.1+cu126; R580 would run 2.15.0
    ada = select(builtin, nvidia("560.35.03", "12.6", (8, 9)))
    assert ada.chosen is not None and ada.chosen.name == "pt_cu126"
    cuda132 = next(v for v in ada.verdicts if v.profile.name == "cuda132")
    assert cuda132.changes == (("driver", "580.65.06"),)
    assert next(v for v in ada.verdicts if v.profile.name == "cuda128").lost == (
        "fits; 2.14.1+cu126 is newer (pt_cu126)"
    )
    # Blackwell on R575: the cu126 build has no sm_100, CUDA 13 needs R580: 2.11.0+cu128
    b200 = select(builtin, machine("b200-r575"))
    assert b200.chosen is not None and b200.chosen.name == "pt_cu128"


def test_windows_newest_torch_over_newest_cuda(builtin: ProfileSet) -> None:
    selection = select(builtin, machine("win-rtx4090-r566"))
    assert selection.chosen is not None and selection.chosen.name == "win_cu126"
    win_cu128 = next(v for v in selection.verdicts if v.profile.name == "win_cu128")
    assert win_cu128.fits and win_cu128.lost == "fits; 2.14.1+cu126 is newer (win_cu126)"


def test_pascal_on_r580_with_only_a_cuda13_build(tmp_path: Path) -> None:
    profiles = profile_set(
        tmp_path / "p", {"cuda130": ("13.0", ["7.5", "8.0", "9.0", "12.0"], True, "2.14.1")}
    )
    selection = select(profiles, nvidia("580.82.07", "13.0", (6, 1)))
    assert selection.chosen is None
    with pytest.raises(NoFitError) as info:
        require_fit(selection)
    assert info.value.message == (
        "no profile fits this machine (driver 580.82.07, CUDA 13.0, GPU0 6.1; linux x86_64):\n"
        f"  cuda130: {GLIBC}; driver 580.82.07 >= 580.65.06 for the CUDA 13.0 build; GPU 0 GPU0"
        " (compute capability 6.1): the build has no kernels for it (built for 7.5 8.0 9.0 12.0)"
    )
    assert info.value.tip is None


def test_fitting_and_non_fitting_verdict_reasons(builtin: ProfileSet) -> None:
    h200 = machine("h200-real")
    fit = evaluate(builtin.get("cuda130"), h200)
    assert fit.fits and not fit.driver_only
    assert fit.reasons == (
        GLIBC,
        "driver 580.159.04 >= 580.65.06 for the CUDA 13.0 build",
        "GPU 0 NVIDIA H200 (compute capability 9.0): runs the build's sm_90 code",
    )
    pascal = evaluate(builtin.get("cuda128"), machine("p100-h100-r580"))
    assert not pascal.fits and not pascal.driver_only
    assert pascal.reasons == (
        GLIBC,
        "driver 580.65.06 >= 525.60.13 for the CUDA 12.8 build",
        "GPU 0 Tesla P100-PCIE-16GB (compute capability 6.0): the build has no kernels for it"
        " (built for 7.0 7.5 8.0 8.6 9.0 10.0 12.0)",
        "GPU 1 NVIDIA H100 80GB HBM3 (compute capability 9.0): runs the build's sm_90 code",
    )
    b200 = evaluate(builtin.get("cuda130"), machine("b200-r575"))
    assert not b200.fits and b200.driver_only
    assert b200.reasons[1] == (
        "driver 575.57.08 is older than 580.65.06, the oldest that runs the CUDA 13.0 build"
    )


def test_ptx_fallback(tmp_path: Path) -> None:
    profiles = profile_set(
        tmp_path / "p",
        {
            "withptx": ("12.8", ["8.0", "9.0"], True, "2.10.0"),
            "noptx": ("12.8", ["8.0", "9.0"], False, "2.10.0"),
        },
    )
    b200 = Gpu(index=0, name="NVIDIA B200", compute_capability=(10, 0))
    ampere = Gpu(index=1, name="NVIDIA A40", compute_capability=(8, 6))
    turing = Gpu(index=2, name="Tesla T4", compute_capability=(7, 5))
    withptx, noptx = profiles.get("withptx"), profiles.get("noptx")
    assert gpu_verdict(withptx, b200) == (
        True,
        "GPU 0 NVIDIA B200 (compute capability 10.0): JIT-compiles the build's PTX for 9.0",
    )
    assert gpu_verdict(noptx, b200) == (
        False,
        "GPU 0 NVIDIA B200 (compute capability 10.0): the build has no kernels for it"
        " (built for 8.0 9.0)",
    )
    # same major: SASS wins over PTX; older than the newest arch: PTX does not help
    assert gpu_verdict(withptx, ampere) == (
        True,
        "GPU 1 NVIDIA A40 (compute capability 8.6): runs the build's sm_80 code",
    )
    assert gpu_verdict(withptx, turing)[0] is False
    hw = nvidia("570.133.20", "12.8", (10, 0))
    chosen = select(profiles, hw).chosen
    assert chosen is not None and chosen.name == "withptx"


def test_rank_newest_torch_then_cuda_then_name(tmp_path: Path) -> None:
    profiles = profile_set(
        tmp_path / "p",
        {
            "b128": ("12.8", ["8.0"], False, "2.9.1"),
            "c128": ("12.8", ["8.0"], False, "2.10.0"),
            "a128": ("12.8", ["8.0"], False, "2.10.0"),
            "z126": ("12.6", ["8.0"], False, "2.11.0"),
            "y126": ("12.6", ["8.0"], False, "2.11.0+cu126"),  # same release as z126
            "x129": ("12.9", ["8.0"], False, "2.11.0+cu129"),
            "old": ("12.8", ["7.0"], False, "2.12.0"),  # does not fit an A100: ranked last
        },
    )
    selection = select(profiles, nvidia("575.57.08", "12.9", (8, 0)))
    order = [v.profile.name for v in selection.verdicts]
    assert order == ["x129", "y126", "z126", "a128", "c128", "b128", "old"]
    assert selection.chosen is not None and selection.chosen.name == "x129"
    lost = {v.profile.name: v.lost for v in selection.verdicts}
    assert lost == {
        "x129": None,
        "y126": "fits; same torch 2.11.0, CUDA 12.9 is newer (x129)",
        "z126": "fits; same torch 2.11.0, CUDA 12.9 is newer (x129)",
        "a128": "fits; 2.11.0+cu129 is newer (x129)",
        "c128": "fits; 2.11.0+cu129 is newer (x129)",
        "b128": "fits; 2.11.0+cu129 is newer (x129)",
        "old": None,
    }


def test_rank_compares_torch_versions_as_versions(tmp_path: Path) -> None:
    profiles = profile_set(
        tmp_path / "p",
        {"a": ("12.8", ["8.0"], False, "2.10"), "b": ("12.8", ["8.0"], False, "2.10.1")},
    )
    chosen = select(profiles, nvidia("570.133.20", "12.8", (8, 0))).chosen
    assert chosen is not None and chosen.name == "b"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_explain_json(tmp_path: Path) -> None:
    proc = run_cli(
        "explain",
        "--root",
        str(REPO),
        "--hardware",
        str(HARDWARE / "h200-real.json"),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["version"] == 1
    assert data["selected"] == "cuda132"
    assert data["hardware"]["gpus"][0]["compute_capability"] == "9.0"
    by_name = {p["name"]: p for p in data["profiles"]}
    assert by_name["cuda132"]["lost"] is None
    assert by_name["cuda130"]["lost"] == "fits; 2.15.0 is newer (cuda132)"
    assert by_name["cuda130"]["would_fit_with"] is None
    assert [p["name"] for p in data["profiles"] if p["name"] in X86_NVIDIA_CPU] == [
        "cuda130",
        "cuda128",
        "cuda126",
        "cuda121_ampere",
        "cpu",
    ]
    assert by_name["cuda130"]["fits"] is True
    assert by_name["cuda130"]["reasons"] == [
        GLIBC,
        "driver 580.159.04 >= 580.65.06 for the CUDA 13.0 build",
        "GPU 0 NVIDIA H200 (compute capability 9.0): runs the build's sm_90 code",
    ]
    assert by_name["cpu"] == {
        "name": "cpu",
        "fits": False,
        "reasons": [GLIBC, "a CPU build on a GPU machine: used only when named (--profile cpu)"],
        "lost": None,
        "would_fit_with": None,
        "build": {
            "vendor": "cpu",
            "torch": "2.13.0+cpu",
            "cuda": None,
            "rocm": None,
            "archs": [],
            "ptx": False,
            "tegra": False,
            "l4t": None,
            "min_driver": None,
            "min_macos": None,
            "platform": "x86_64-manylinux_2_28",
            "platforms": ["x86_64-manylinux_2_28"],
        },
    }
    assert by_name["cuda130"]["build"]["archs"] == ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
    assert by_name["cuda130"]["build"]["torch"] == "2.14.1"
    assert by_name["cuda130"]["build"]["cuda"] == "13.0"
    assert by_name["cuda130"]["build"]["ptx"] is False  # no PTX entry in the wheel's fatbins
    assert {name for name, p in by_name.items() if p["fits"]} == {
        "cuda132",
        "cuda130",
        "pt_cu126",
        "pt_cu128",
        "cuda128",
        "cuda126",
        "pt_cu118",
        "cuda124_glibc217",
        "cuda121_ampere",
    }


def test_emit_on_k80_fails_with_a_tip(tmp_path: Path) -> None:
    proc = run_cli("--root", str(REPO), "--hardware", str(HARDWARE / "k80-r470.json"), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("ERROR: no profile fits this machine")
    assert "TIP: use a CPU build explicitly: --profile cpu\n" in proc.stderr.splitlines(True)
    assert "Traceback" not in proc.stderr


def test_explain_text_says_why_each_lost_and_what_would_run(tmp_path: Path) -> None:
    ada = run_cli(
        "explain", "--root", str(REPO), "--hardware", str(HARDWARE / "rtx4090-r560.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert ada.returncode == 0, ada.stderr
    lines = ada.stdout.splitlines()
    assert "* pt_cu126: selected" in lines
    assert "+ cuda128: fits; 2.14.1+cu126 is newer (pt_cu126)" in lines
    assert "- cuda132: does not fit; driver >= 580.65.06 would run it" in lines
    assert "- win_cu126: does not fit" in lines  # another platform: no change would run it
    old = nvidia("440.33.01", "10.2", (7, 5))
    readout = tmp_path / "t4-r440.json"
    readout.write_text(json.dumps(old.to_json()), encoding="utf-8")
    t4 = run_cli("explain", "--root", str(REPO), "--hardware", str(readout), cwd=tmp_path)
    assert t4.stdout.splitlines()[-4:] == [
        "selected: none (no profile fits; see the reasons above)",
        "  would fit: driver >= 450.80.02 runs 2.7.1+cu118 (profile pt_cu118)",
        "  would fit: driver >= 525.60.13 runs 2.14.1+cu126 (profile pt_cu126)",
        "  would fit: driver >= 580.65.06 runs 2.15.0 (profile cuda132)",
    ]
