"""``gen-constraints verify`` and the verification that ``sync`` runs after uv.

Real venvs (uv venv), tiny real wheels, real ``uv pip sync``; the probe runs in the venv's own
interpreter. The GPU checks run against a stand-in ``torch`` wheel whose ``torch.cuda`` answers
from $STANDIN_TORCH (JSON; tests/support/standin_torch.py), so no GPU is needed to test both
verdicts; tests/test_gpucheck.py does the same for the other vendors.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.index import serve, write_simple_index
from support.standin_torch import build_standin_torch
from support.sync_project import PY, TORCH_TAG, gen, make_venv, scenario_project

from constraints_gen.detect.hardware import parse_hardware
from constraints_gen.errors import InputError
from constraints_gen.install.gpucheck import Device, TorchInfo, arch_covers, check_gpu
from constraints_gen.locks.compile import LockOptions, compile_one
from constraints_gen.locks.file import fingerprint
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import find_project

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

COMMON = ("--profile", "demo", "--root", "proj", "--python", "venv")
LOCKED = ["torch==2.5.1+cu121", "transformers==4.51.3", "peft==0.13.2"]
WHERE = f"profile demo, CPython {PY}, venv/bin/python"
SITE = f"venv/lib/python{PY}/site-packages"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _own_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv hard-links installed files to its cache: a test that edits one in place edits the
    cache as well, which must not leak into other tests."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def synced(tmp_path: Path) -> Path:
    """The scenario project, and a venv that `gen-constraints sync` made match its lock."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / SITE


def files_checked(tmp_path: Path) -> int:
    done = gen("verify", *COMMON, "--json", cwd=tmp_path)
    count = json.loads(done.stdout)["files"]
    assert isinstance(count, int) and count >= 9  # 3 packages: module, METADATA, WHEEL each
    return count


def test_green_after_sync(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, ["transformers==4.57.3", "extra==1.0"])
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = files_checked(tmp_path)
    summary = f"3 packages at their locked versions, {files} files match their RECORD, 3 imports"
    notice = "gen-constraints: GPU checks: not applicable (profile demo is a CPU build)\n"
    assert done.stderr.endswith(
        f"{notice}gen-constraints: verified ({WHERE}): {summary}\n"
        f"gen-constraints: synced ({WHERE}): 2 installed, 1 replaced, 1 removed\n"
    )
    verified = gen("verify", *COMMON, cwd=tmp_path)
    assert (verified.returncode, verified.stdout) == (0, "")
    assert verified.stderr == f"{notice}gen-constraints: verified ({WHERE}): {summary}\n"
    as_json = gen("verify", *COMMON, "--json", cwd=tmp_path)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {
        "version": 1,
        "profile": "demo",
        "python": PY,
        "environment": "venv/bin/python",
        "verified": True,
        "packages": 3,
        "files": files,
        "imports": ["peft", "torch", "transformers"],
        "gpus": [],
        "notices": ["GPU checks: not applicable (profile demo is a CPU build)"],
        "failures": [],
    }


@pytest.mark.parametrize(
    ("installed", "failure"),
    [
        (
            ["torch==2.5.1+cu121", "transformers==4.57.3", "peft==0.13.2"],
            "installed: transformers 4.57.3 is installed, 4.51.3 is locked\n",
        ),
        (
            ["torch==2.5.1+cu124", "transformers==4.51.3", "peft==0.13.2"],
            "installed: torch 2.5.1+cu124 is installed, 2.5.1+cu121 is locked"
            " (local labels differ: cu124 vs cu121)\n",
        ),
        (
            ["torch==2.5.1+cu121", "transformers==4.51.3"],
            "installed: peft 0.13.2 is not installed\n",
        ),
    ],
    ids=["wrong-version", "local-label", "missing"],
)
def test_wrong_install_is_named(tmp_path: Path, installed: list[str], failure: str) -> None:
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, installed)
    for deep in ((), ("--no-deep",)):
        done = gen("verify", *COMMON, *deep, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (1, failure), done.stderr
        assert done.stderr.endswith(f"gen-constraints: NOT verified ({WHERE}): 1 failures\n")
    report = json.loads(gen("verify", *COMMON, "--json", cwd=tmp_path).stdout)
    name = failure.split(": ", 1)[1].split()[0]
    assert report["verified"] is False
    assert report["failures"] == [
        {"check": "installed", "subject": name, "message": failure[11:-1], "repair": name}
    ]


def test_exact_versions_pass_where_labels_match(tmp_path: Path) -> None:
    """The must-pass side of the label test: the same stack with the locked label is green."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, LOCKED)
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_half_written_package_fails_and_sync_repairs_it(tmp_path: Path) -> None:
    site = synced(tmp_path)
    (site / "transformers" / "__init__.py").unlink()
    clean = gen("sync", "--check", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert clean.returncode == 0  # uv counts it as installed: only verify sees the damage
    done = gen("verify", *COMMON, cwd=tmp_path)
    failure = (
        "files: transformers 4.51.3: 1 of 6 files differ from its RECORD"
        f" ({site / 'transformers-4.51.3.dist-info'}): transformers/__init__.py (missing)\n"
    )
    assert (done.returncode, done.stdout) == (1, failure)

    repaired = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert "gen-constraints: reinstalling transformers\n" in repaired.stderr
    assert " ~ transformers==4.51.3\n" in repaired.stderr  # uv's own report of the reinstall
    assert (site / "transformers" / "__init__.py").is_file()
    again = gen("verify", *COMMON, cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, ""), again.stderr


def test_repair_from_a_served_index(tmp_path: Path) -> None:
    site = synced(tmp_path)
    write_simple_index(sorted((tmp_path / "wheels").glob("*.whl")), tmp_path / "index")
    (site / "peft" / "__init__.py").write_text("# half-written\n")  # in place: uv's cache too
    with serve(tmp_path / "index") as url:
        done = gen("sync", *COMMON, "--wheelhouse", f"{url}/simple", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "gen-constraints: reinstalling peft\n" in done.stderr
    assert (
        site / "peft" / "__init__.py"
    ).read_text() == "import transformers\n__version__ = '0.13.2'\n"


@pytest.mark.parametrize("edit", ["same-size", "longer"])
def test_edited_file_fails_verify(tmp_path: Path, edit: str) -> None:
    site = synced(tmp_path)
    module = site / "peft" / "__init__.py"
    text = module.read_text()
    module.write_text(text.replace("0.13.2", "0.13.3") if edit == "same-size" else text + "#\n")
    done = gen("verify", *COMMON, cwd=tmp_path)
    problem = "sha256 differs from RECORD" if edit == "same-size" else (
        f"{len(text) + 2} bytes, RECORD says {len(text)}"
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == (
        f"files: peft 0.13.2: 1 of 6 files differ from its RECORD ({site}/peft-0.13.2.dist-info):"
        f" peft/__init__.py ({problem})\n"
    )
    shallow = gen("verify", *COMMON, "--no-deep", cwd=tmp_path)
    assert (shallow.returncode, shallow.stdout) == (0, "")
    assert shallow.stderr.endswith(
        f"verified ({WHERE}): 3 packages at their locked versions, 3 imports\n"
    )
    unrepaired = gen("sync", *COMMON, "--no-deep", "--wheelhouse", "wheels", cwd=tmp_path)
    assert unrepaired.returncode == 0 and module.read_text() != text
    repaired = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert module.read_text() == text


def test_failing_import_is_named(tmp_path: Path) -> None:
    site = synced(tmp_path)
    (site / "transformers" / "__init__.py").write_text("raise ImportError('half-written')\n")
    done = gen("verify", *COMMON, "--no-deep", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == (
        "import: import peft failed: ImportError: half-written\n"
        "import: import transformers failed: ImportError: half-written\n"
    )
    assert done.stderr.endswith(f"gen-constraints: NOT verified ({WHERE}): 2 failures\n")


def test_sync_fails_when_verify_fails_and_reinstall_cannot_help(tmp_path: Path) -> None:
    site = synced(tmp_path)
    demo = tmp_path / "proj" / "profiles" / "demo.toml"
    demo.write_text(demo.read_text() + '[verify]\nimports = ["peft", "absent"]\n')
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith(
        "gen-constraints: import: import absent failed: ModuleNotFoundError: No module named"
        f" 'absent'\ngen-constraints: NOT verified ({WHERE}): 1 failures\n"
    )
    assert "reinstalling" not in done.stderr
    assert (site / "peft" / "__init__.py").is_file()
    # a script reading --json is told too: uv's sync is done, the environment is not verified
    as_json = gen("sync", *COMMON, "--wheelhouse", "wheels", "--json", cwd=tmp_path)
    payload = json.loads(as_json.stdout)
    assert (as_json.returncode, payload["in_sync"], payload["verified"]) == (1, True, False)
    assert [(f["check"], f["subject"]) for f in payload["findings"]] == [("import", "absent")]


def test_sync_json_says_verified_when_it_is(tmp_path: Path) -> None:
    synced(tmp_path)
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["in_sync"], payload["verified"], payload["findings"]) == (True, True, [])
    check = gen("sync", *COMMON, "--wheelhouse", "wheels", "--json", "--check", cwd=tmp_path)
    assert (check.returncode, json.loads(check.stdout)["verified"]) == (0, None)


def test_a_leftover_second_install_is_named(tmp_path: Path) -> None:
    site = synced(tmp_path)
    left = site / "transformers-4.57.3.dist-info"  # as a killed replacement can leave it
    shutil.copytree(site / "transformers-4.51.3.dist-info", left)
    for name in ("METADATA", "RECORD"):  # copies: editing them leaves uv's cache alone
        (left / name).write_text((left / name).read_text().replace("4.51.3", "4.57.3"))
    done = gen("verify", *COMMON, "--no-deep", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (
        1,
        f"installed: transformers is installed 2 times (4.51.3 in {site}/transformers-4.51.3"
        f".dist-info; 4.57.3 in {left}); locked 4.51.3\n",
    )
    repaired = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    again = gen("verify", *COMMON, cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, ""), again.stderr


def test_crashing_import_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    site = synced(tmp_path)
    (site / "torch" / "__init__.py").write_text("import os\nos._exit(9)\n")
    done = gen("verify", *COMMON, "--no-deep", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "import: the probe crashed while importing torch (exit code 9)\n"


def test_profile_imports_are_checked(tmp_path: Path) -> None:
    synced(tmp_path)
    demo = tmp_path / "proj" / "profiles" / "demo.toml"
    demo.write_text(demo.read_text() + '[verify]\nimports = ["peft", "peft.absent"]\n')
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == (
        "import: import peft.absent failed: ModuleNotFoundError: No module named 'peft.absent'\n"
    )
    check = gen("lock", "--check", "--root", "proj", cwd=tmp_path)
    assert check.returncode == 0, check.stderr  # [verify] does not make the lock stale


def test_a_target_that_hangs_is_stopped_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\nexec sleep 60\n")  # a hung driver or import, as seen from here
    python.chmod(0o755)
    monkeypatch.setenv("GEN_CONSTRAINTS_VERIFY_TIMEOUT", "0.5")
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert "python did not finish within 0.5 s and was stopped" in done.stderr
    monkeypatch.setenv("GEN_CONSTRAINTS_VERIFY_TIMEOUT", "nan")
    bad = gen("verify", *COMMON, cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (
        2,
        "ERROR: $GEN_CONSTRAINTS_VERIFY_TIMEOUT: expected a number of seconds above 0, got 'nan'\n",
    )


def test_unreadable_target_is_exit_2(tmp_path: Path) -> None:
    synced(tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    python.unlink()
    python.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    python.chmod(0o755)
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "ERROR: cannot read the environment of venv/bin/python: the probe crashed (exit code 3);"
        " the last line of its stderr: broken\n"
    )


# --- the GPU checks, with a stand-in torch ---------------------------------------------------

GPU_PROFILE = f"""\
name = "gpu"
[hardware]
vendor = "nvidia"
cuda = "12.1"
compute_capabilities = ["8.0", "8.6", "9.0"]
min_driver = "525.60.13"
[target]
platform = "x86_64-manylinux_2_28"
python = ["{PY}"]
[pins]
torch = "2.5.1+cu121"
"""

H200 = {
    "driver_version": "570.133.20",
    "cuda_driver_version": "12.8",
    "gpus": [{"index": 0, "name": "NVIDIA H200", "compute_capability": "9.0"}],
}
CPU: dict[str, Any] = {"driver_version": None, "cuda_driver_version": None, "gpus": []}
GPU_WHERE = f"profile gpu, CPython {PY}, venv/bin/python"


def gpu_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile ``gpu`` (CUDA 12.1, torch 2.5.1+cu121: the stand-in), locked and synced."""
    wheels = tmp_path / "wheels"
    build_standin_torch(wheels, "2.5.1+cu121", tag=TORCH_TAG)
    profiles = tmp_path / "proj" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "manifest.toml").write_text('[requirements]\ntorch = ">=2.5"\n')
    (profiles / "gpu.toml").write_text(GPU_PROFILE)
    project = find_project(tmp_path / "proj")
    loaded = load_profiles(project.profiles_dir)
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/unused")
    compile_one(project, loaded, loaded.get("gpu"), PY,
                LockOptions(find_links=(str(wheels),), offline=True))  # fmt: skip
    monkeypatch.delenv("UV_DEFAULT_INDEX")
    make_venv(tmp_path / "venv", wheels, [])
    for name, data in (("h200.json", H200), ("cpu.json", CPU)):
        (tmp_path / name).write_text(json.dumps(data))
    done = gen("sync", "--profile", "gpu", "--root", "proj", "--python", "venv",
               "--wheelhouse", "wheels", "--hardware", "h200.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"gen-constraints: verified ({GPU_WHERE}):" in done.stderr
    assert done.stderr.endswith(", 1 imports, torch runs on GPU 0 NVIDIA H200\n"
                                f"gen-constraints: synced ({GPU_WHERE}): 1 installed,"
                                " 0 replaced, 0 removed\n")  # fmt: skip


def verify_gpu(tmp_path: Path, hardware: str, standin: Mapping[str, Any]) -> Any:
    args = ("--profile", "gpu", "--root", "proj", "--python", "venv", "--hardware", hardware)
    os.environ["STANDIN_TORCH"] = json.dumps(standin)  # the monkeypatch of the test restores it
    return gen("verify", *args, "--no-deep", cwd=tmp_path)


def test_gpu_architecture_covered_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_TORCH", "{}")
    gpu_project(tmp_path, monkeypatch)
    covered = verify_gpu(tmp_path, "h200.json", {"arch_list": ["sm_80", "sm_90"]})
    assert (covered.returncode, covered.stdout) == (0, ""), covered.stderr
    assert covered.stderr == (
        f"gen-constraints: verified ({GPU_WHERE}): 1 packages at their locked versions,"
        " 1 imports, torch runs on GPU 0 NVIDIA H200\n"
    )
    ptx = verify_gpu(tmp_path, "h200.json", {"arch_list": ["sm_80", "compute_80"]})
    assert (ptx.returncode, ptx.stdout) == (0, ""), ptx.stderr

    two = [{"name": "NVIDIA H200", "cc": [9, 0]}, {"name": "NVIDIA A100", "cc": [8, 0]}]
    missing = verify_gpu(tmp_path, "h200.json", {"arch_list": ["sm_80", "sm_86"], "devices": two})
    assert missing.returncode == 1
    assert missing.stdout == (
        "gpu: GPU 0 NVIDIA H200 (compute capability 9.0): torch 2.5.1+cu121 has no kernels for"
        " it: neither sm_90 code nor PTX for it or an older architecture"
        " (torch.cuda.get_arch_list(): sm_80 sm_86)\n"
    )
    assert missing.stderr == f"gen-constraints: NOT verified ({GPU_WHERE}): 1 failures\n"

    skipped = verify_gpu(tmp_path, "cpu.json", {"arch_list": ["sm_80", "sm_86"]})
    assert (skipped.returncode, skipped.stdout) == (0, ""), skipped.stderr
    assert skipped.stderr == (
        "gen-constraints: GPU checks skipped: no NVIDIA GPU on this machine (cpu.json)\n"
        f"gen-constraints: verified ({GPU_WHERE}): 1 packages at their locked versions,"
        " 1 imports\n"
    )


@pytest.mark.parametrize(
    ("standin", "failure"),
    [
        (
            {"cuda": "12.4"},
            "gpu: torch 2.5.1+cu121 is built for CUDA 12.4 (torch.version.cuda),"
            " profile gpu needs CUDA 12.1\n",
        ),
        (
            {"cuda": None},
            "gpu: torch 2.5.1+cu121 is a CPU build (torch.version.cuda),"
            " profile gpu needs CUDA 12.1\n",
        ),
        (
            {"version": "2.5.1+cu124"},
            "gpu: torch.__version__ is 2.5.1+cu124, the lock has torch 2.5.1+cu121\n",
        ),
        (
            {"available": False, "warning": "The NVIDIA driver on your system is too old"},
            "gpu: torch 2.5.1+cu121 cannot use the GPUs (GPU 0 NVIDIA H200):"
            " torch.cuda.is_available() is False; The NVIDIA driver on your system is too old\n",
        ),
        (
            {
                "devices": [
                    {
                        "name": "NVIDIA H200",
                        "cc": [9, 0],
                        "error": "CUDA error: no kernel"
                        " image is available for execution on the device",
                    }
                ]
            },
            "gpu: GPU 0 NVIDIA H200 (compute capability 9.0): a tiny operation failed:"
            " RuntimeError: CUDA error: no kernel image is available for execution on the"
            " device\n",
        ),
    ],
    ids=["cuda-version", "cpu-build", "label", "unavailable", "operation"],
)
def test_gpu_build_mismatch_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standin: dict[str, Any], failure: str
) -> None:
    monkeypatch.setenv("STANDIN_TORCH", "{}")
    gpu_project(tmp_path, monkeypatch)
    done = verify_gpu(tmp_path, "h200.json", standin)
    assert (done.returncode, done.stdout) == (1, failure), done.stderr


# --- the arch rule and the profile key --------------------------------------------------------


@pytest.mark.parametrize(
    ("arch_list", "capability", "runs"),
    [
        (["sm_80", "sm_86"], (8, 9), "sm_86"),  # same major, older minor: SASS runs
        (["sm_86"], (8, 0), None),  # a newer minor does not run on an older GPU
        (["sm_90"], (10, 0), None),  # SASS never crosses a major version
        (["sm_90", "compute_90"], (12, 0), "compute_90"),  # PTX is JIT-compiled for newer GPUs
        (["compute_90"], (8, 9), None),  # but not for older ones
        (["sm_90a"], (9, 0), "sm_90a"),  # architecture-specific code: exactly that GPU
        (["sm_100a", "compute_100a"], (10, 3), None),
        (["sm_120"], (12, 1), "sm_120"),
        (["sm_100"], (12, 0), None),
        (["garbage", "sm_75"], (7, 5), "sm_75"),
    ],
)
def test_arch_rule(arch_list: list[str], capability: tuple[int, int], runs: str | None) -> None:
    assert arch_covers(arch_list, capability) == runs


def test_pypi_torch_has_no_label_in_the_lock_but_one_in_its_version() -> None:
    """PyPI's torch 2.10.0 says 2.10.0 in METADATA (so in the lock) and 2.10.0+cu128 at run time;
    a build of another CUDA or another version is named."""
    profile = load_profiles(REPO / "profiles").get("cuda128")
    h200 = parse_hardware(json.dumps(H200), "h200.json")
    device = Device(index=0, name="NVIDIA H200", capability=(9, 0), op_error=None)
    pypi = TorchInfo(
        error=None,
        version="2.10.0+cu128",
        cuda="12.8",
        available=True,
        arch_list=("sm_80", "sm_90", "sm_100", "sm_120"),
        devices=(device,),
    )
    assert check_gpu(profile, "2.10.0", h200, pypi) == ((), ("GPU 0 NVIDIA H200",))
    other = replace(pypi, version="2.10.1+cu126", cuda="12.6")
    findings, passed = check_gpu(profile, "2.10.0", h200, other)
    assert [f.message for f in findings] == [
        "torch.__version__ is 2.10.1+cu126, the lock has torch 2.10.0",
        "torch 2.10.1+cu126 is built for CUDA 12.6 (torch.version.cuda), profile cuda128 needs"
        " CUDA 12.8",
    ]
    assert passed == ("GPU 0 NVIDIA H200",)  # the GPU itself ran the operation


def test_verify_key_in_profiles(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "manifest.toml").write_text('[requirements]\ntorch = ">=2"\n')
    base = textwrap.dedent("""\
        name = "base"
        abstract = true
        [verify]
        imports = ["torch", "torch.cuda"]
        """)  # fmt: skip
    child = textwrap.dedent(f"""\
        name = "child"
        extends = "base"
        [hardware]
        vendor = "cpu"
        [target]
        platform = "x86_64-manylinux_2_28"
        python = ["{PY}"]
        [pins]
        torch = "2.5.1"
        """)  # fmt: skip
    (folder / "base.toml").write_text(base)
    (folder / "child.toml").write_text(child)
    loaded = load_profiles(folder)
    profile = loaded.get("child")
    assert profile.verify_imports == ("torch", "torch.cuda")  # inherited
    before = fingerprint(profile, loaded.manifest, PY)
    (folder / "child.toml").write_text(child + '[verify]\nimports = ["peft"]\n')
    loaded = load_profiles(folder)
    assert loaded.get("child").verify_imports == ("peft",)  # ours win
    assert fingerprint(loaded.get("child"), loaded.manifest, PY) == before  # lock stays fresh

    (folder / "child.toml").write_text(child + '[verify]\nimports = "peft"\nimport = ["x"]\n')
    (folder / "base.toml").write_text(base.replace('"torch.cuda"', '"torch-cuda", 3'))
    with pytest.raises(InputError) as info:
        load_profiles(folder)
    assert info.value.problems == (
        f'{folder}/base.toml: verify.imports[1]: expected a module name like "torch.cuda"'
        " (got 'torch-cuda')",
        f'{folder}/base.toml: verify.imports[2]: expected a module name like "torch.cuda" (got 3)',
        f"{folder}/child.toml: verify.import: unknown key (expected imports)",
        f"{folder}/child.toml: verify.imports: expected an array of module names like"
        ' ["torch", "peft"], got a string',
    )
