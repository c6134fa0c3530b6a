"""``gen-constraints plan``: a mixed fleet's profiles and targets; ``wheelhouse fill --plan``."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from support.index import serve, write_simple_index
from support.sync_project import (
    LINUX,
    PINS,
    PY,
    REQUIREMENTS,
    gen,
    make_project,
    scenario_project,
    scenario_wheels,
)
from support.wheels import sha256_of

from constraints_gen.detect.hardware import Hardware
from constraints_gen.detect.readouts import read_paths, read_stream
from constraints_gen.errors import InputError
from constraints_gen.install.wheelhouse import FOLDER_LOCK, HASH_CACHE
from constraints_gen.profiles import plan as plan_module
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet
from constraints_gen.profiles.plan import make_plan, read_plan
from constraints_gen.profiles.select import Selection, select

ROOT = Path(__file__).resolve().parents[1]  # the built-in profiles
DATA = Path(__file__).parent / "data" / "hardware"
FLEET = ["h200-real", "a100-r570", "gtx1080-r535", "cpu", "k80-r470", "mac-m3-macos14"]
LINUX_X86 = "x86_64-manylinux_2_28"


def fleet_stream(*, broken: bool = False) -> str:
    """JSON lines with host keys, as a loop over ssh with `detect --json | jq -c` writes them."""
    lines = [json.dumps({"host": name, **json.loads((DATA / f"{name}.json").read_text())})
             for name in FLEET]  # fmt: skip
    if broken:
        lines.insert(2, '{"host": "n-broken", "gpus": [')
    return "\n".join(lines) + "\n"


def run_plan(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", "plan", "--root", str(ROOT), *args],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_mixed_fleet_plan_is_right_and_exit_1_names_the_node_that_fits_nothing() -> None:
    done = run_plan("--json", stdin=fleet_stream())
    assert done.returncode == 1, done.stderr
    plan = json.loads(done.stdout)
    assert [(m["host"], m["status"], m["profile"], m["platform"]) for m in plan["machines"]] == [
        ("h200-real", "fits", "cuda132", LINUX_X86),
        ("a100-r570", "fits", "pt_cu126", LINUX_X86),  # R570: 2.14.1+cu126 is the newest there
        ("gtx1080-r535", "fits", "pt_cu126", LINUX_X86),  # Pascal: the last CUDA 12.6 build
        ("cpu", "fits", "cpu", LINUX_X86),
        ("k80-r470", "no fit", None, None),
        ("mac-m3-macos14", "fits", "mps", "aarch64-apple-darwin"),
    ]
    assert plan["machines"][0]["source"] == "<stdin>:1"
    assert plan["machines"][0]["reasons"] == [
        "platform x86_64-manylinux_2_28: glibc unknown, assumed >= 2.28",
        "driver 580.159.04 >= 580.65.06 for the CUDA 13.2 build",
        "GPU 0 NVIDIA H200 (compute capability 9.0): runs the build's sm_90 code",
    ]
    k80 = plan["machines"][4]
    assert k80["reasons"][0].startswith("cuda132: platform x86_64-manylinux_2_28: glibc unknown")
    assert not any(r.startswith(("mps", "win_", "cpu_windows")) for r in k80["reasons"])
    assert k80["tips"] == ["use a CPU build explicitly: --profile cpu"]
    targets = [(t["profile"], t["python"], t["platform"], t["machines"]) for t in plan["targets"]]
    assert targets == [
        ("cpu", "3.11", LINUX_X86, ["cpu"]),
        *[("cuda132", py, LINUX_X86, ["h200-real"]) for py in ("3.11", "3.12", "3.13", "3.14")],
        *[("mps", py, "aarch64-apple-darwin", ["mac-m3-macos14"])
          for py in ("3.11", "3.12", "3.13", "3.14")],
        *[("pt_cu126", py, LINUX_X86, ["a100-r570", "gtx1080-r535"])
          for py in ("3.11", "3.12", "3.13", "3.14")],
    ]  # fmt: skip
    assert plan["summary"] == {"machines": 6, "fit": 5, "no_fit": 1, "unreadable": 0}
    assert done.stderr == (
        "ERROR: 1 of 6 machines fit no profile: k80-r470 (<stdin>:5)\n"
        "TIP: see each machine's reasons above; upgrade its driver, give it a CPU build"
        " (sync --profile), or add a profile that fits it\n"
    )


def test_every_machine_fits_exit_0_and_python_narrows_the_targets() -> None:
    fits = "".join(line + "\n" for line in fleet_stream().splitlines() if "k80" not in line)
    done = run_plan("--python", "3.11", stdin=fits)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    head, targets = done.stdout.split("\n\n")
    assert head.splitlines()[0].split() == ["HOST", "SOURCE", "PROFILE", "PLATFORM"]
    assert head.splitlines()[1].split() == ["h200-real", "<stdin>:1", "cuda132", LINUX_X86]
    assert targets == (
        "targets (4; `wheelhouse fill --plan` fills these):\n"
        f"  cpu, CPython 3.11, {LINUX_X86}: 1 machine (cpu)\n"
        f"  cuda132, CPython 3.11, {LINUX_X86}: 1 machine (h200-real)\n"
        "  mps, CPython 3.11, aarch64-apple-darwin: 1 machine (mac-m3-macos14)\n"
        f"  pt_cu126, CPython 3.11, {LINUX_X86}: 2 machines (a100-r570, gtx1080-r535)\n"
    )


def test_a_profile_without_the_wanted_python_is_no_fit() -> None:
    cpu = fleet_stream().splitlines()[3]
    done = run_plan("--python", "3.12", "--json", stdin=cpu)
    assert done.returncode == 1
    (machine,) = json.loads(done.stdout)["machines"]
    assert machine["reasons"][0] == "cpu fits, but it is locked for CPython 3.11, none of 3.12"


def test_an_unreadable_readout_is_exit_2_and_the_others_are_planned() -> None:
    done = run_plan("--json", stdin=fleet_stream(broken=True))
    assert done.returncode == 2
    plan = json.loads(done.stdout)
    assert plan["summary"] == {"machines": 7, "fit": 5, "no_fit": 1, "unreadable": 1}
    bad = plan["machines"][2]
    assert (bad["source"], bad["host"], bad["status"]) == ("<stdin>:3", None, "unreadable")
    # The document opened on line 3 runs on into line 4's object; the decoder stops on line 5.
    assert bad["reasons"] == ["<stdin>:5: invalid JSON: Expecting ',' delimiter"]
    assert done.stderr.splitlines()[:2] == [
        "ERROR: 2 problems:",
        "  1 of 7 readouts cannot be read",
    ]
    assert "  <stdin>:3: <stdin>:5: invalid JSON: Expecting ',' delimiter" in done.stderr


def test_no_readouts_at_all_is_exit_2() -> None:
    done = run_plan(stdin="")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("ERROR: stdin: no readouts found\n")


def test_selection_runs_once_per_distinct_readout_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand nodes of one kind differ only in UUIDs and names: one selection."""
    calls: list[Hardware] = []
    real = select

    def counted(profiles: ProfileSet, hardware: Hardware) -> Selection:
        calls.append(hardware)
        return real(profiles, hardware)

    monkeypatch.setattr(plan_module, "select", counted)
    h200 = json.loads((DATA / "h200-real.json").read_text())
    lines = []
    for n in range(300):
        gpu = {**h200["gpus"][0], "uuid": f"GPU-{n:08x}"}
        lines.append(json.dumps({**h200, "host": f"n{n}", "gpus": [gpu]}))
    older = {**h200, "driver_version": "570.172.08", "cuda_driver_version": "12.8"}
    lines += [json.dumps({**older, "host": f"old{n}"}) for n in range(100)]
    profiles = load_profiles(ROOT / "profiles")
    plan = make_plan(profiles, read_stream("\n".join(lines), "<stdin>"))
    assert len(calls) == 2
    assert [t.profile for t in plan.targets] == ["cuda132"] * 4 + ["pt_cu126"] * 4
    assert len(plan.targets[0].machines) == 300


def write_plan(path: Path, targets: object, **extra: object) -> Path:
    path.write_text(json.dumps({"version": 1, "machines": [], "targets": targets, **extra}))
    return path


def test_read_plan_checks_every_target_against_the_project(tmp_path: Path) -> None:
    profiles = load_profiles(ROOT / "profiles")
    plan = write_plan(tmp_path / "p.json", [
        {"profile": "cuda130", "python": "3.12", "platform": LINUX_X86},
        {"profile": "cuda130", "python": "3.12", "platform": LINUX_X86},  # twice: once
        {"profile": "nope", "python": "3.12", "platform": LINUX_X86},
        {"profile": "cuda130", "python": "3.9", "platform": LINUX_X86},
        {"profile": "cuda130", "python": "3.12", "platform": "x86_64-pc-windows-msvc"},
        "cuda130",
    ])  # fmt: skip
    with pytest.raises(InputError) as info:
        read_plan(plan, profiles)
    known = ", ".join(p.name for p in profiles.profiles)
    assert info.value.problems == (
        f"{plan}: targets[2].profile: expected one of the project's profiles ({known}), got 'nope'",
        f"{plan}: targets[3].python: expected one of profile cuda130's Pythons on {LINUX_X86}"
        " (3.11, 3.12, 3.13, 3.14), got '3.9'",
        f"{plan}: targets[4].platform: expected one of profile cuda130's platforms ({LINUX_X86}),"
        " got 'x86_64-pc-windows-msvc'",
        f"{plan}: targets[5]: expected an object with profile, python and platform",
    )
    write_plan(plan, [{"profile": "cuda130", "python": "3.12", "platform": LINUX_X86}] * 2)
    (wanted,) = read_plan(plan, profiles)
    assert (wanted.profile.name, wanted.profile.platform, wanted.python) == (
        "cuda130", LINUX_X86, "3.12",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "p.json: line 1 column 2: invalid JSON: Expecting property name enclosed in double"
              " quotes"),
        ("[]", "p.json: expected a JSON object (as `plan --json` writes)"),
        ('{"machines": []}', "p.json: targets: expected a list of targets (missing)"),
        ('{"version": 2, "targets": []}', "p.json: version: expected 1, got 2"),
        ('{"targets": []}', "p.json: targets: expected at least one target (no machine fits?)"),
    ],
)  # fmt: skip
def test_read_plan_refuses_what_plan_does_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("p.json").write_text(text)
    with pytest.raises(InputError) as info:
        read_plan(Path("p.json"), load_profiles(ROOT / "profiles"))
    assert info.value.problems[0] == problem


linux_x86 = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)


@linux_x86
def test_fill_plan_fills_exactly_the_plans_targets(tmp_path: Path) -> None:
    """Two CPU profiles fit a CPU node; the plan selects one (the same torch release: the name
    decides, chosen before demo), and fill --plan fetches its wheels only: not demo's
    transformers 4.51.3 nor its torch."""
    wheels = scenario_wheels(tmp_path / "wheels")
    other = {"torch": "2.5.1+cu124", "transformers": "4.57.3"}
    make_project(tmp_path / "proj", wheels, requirements=REQUIREMENTS,
                 profiles={"demo": (LINUX, PINS), "chosen": (LINUX, other)})  # fmt: skip
    (tmp_path / "node1.json").write_text((DATA / "cpu.json").read_text())
    planned = gen("plan", "--json", "--root", "proj", "node1.json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    (tmp_path / "plan.json").write_text(planned.stdout)
    assert [(t["profile"], t["python"]) for t in json.loads(planned.stdout)["targets"]] == [
        ("chosen", PY)
    ]
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        fill = ("wheelhouse", "fill", "--plan", "plan.json", "--root", "proj", "--wheelhouse",
                "wh", "--index-url", f"{url}/simple")  # fmt: skip
        done = gen(*fill, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        again = gen(*fill, "--json", cwd=tmp_path)  # resumes: nothing left to fetch
    names = sorted(p.name for p in (tmp_path / "wh").iterdir() if p.name not in
                   (HASH_CACHE, FOLDER_LOCK))  # fmt: skip
    assert [n.split("-")[:2] for n in names] == [
        ["peft", "0.13.2"], ["torch", "2.5.1+cu124"], ["transformers", "4.57.3"],
    ]  # fmt: skip
    assert json.loads(again.stdout)["already_present"] == 3
    check = gen("wheelhouse", "check", "--profile", "chosen", "--root", "proj", "--wheelhouse",
                "wh", cwd=tmp_path)  # fmt: skip
    assert check.returncode == 0, check.stdout


@linux_x86
def test_fill_plan_excludes_the_other_choosers_and_refuses_a_foreign_plan(tmp_path: Path) -> None:
    wheels = scenario_wheels(tmp_path / "wheels")
    make_project(tmp_path / "proj", wheels, requirements=REQUIREMENTS,
                 profiles={"demo": (LINUX, PINS)})  # fmt: skip
    write_plan(tmp_path / "plan.json", [{"profile": "cuda130", "python": "3.12",
                                         "platform": LINUX_X86}])  # fmt: skip
    both = gen("wheelhouse", "fill", "--plan", "plan.json", "--all", "--root", "proj",
               cwd=tmp_path)  # fmt: skip
    assert both.returncode == 2
    assert "--plan names the targets: it excludes --all, --profile, --python and --hardware" in (
        both.stderr
    )
    foreign = gen("wheelhouse", "fill", "--plan", "plan.json", "--root", "proj", "--wheelhouse",
                  "wh", cwd=tmp_path)  # fmt: skip
    assert (foreign.returncode, foreign.stdout) == (2, "")
    assert foreign.stderr == (
        "ERROR: plan.json: targets[0].profile: expected one of the project's profiles (demo),"
        " got 'cuda130'\n"
        "TIP: make the plan again with this project's profiles: gen-constraints plan --json"
        " READOUT... > PLAN.json\n"
    )
    assert not (tmp_path / "wh").exists()


def test_plan_reads_a_folder_of_srun_output_files(tmp_path: Path) -> None:
    """`srun -o 'readouts/%N.json' gen-constraints detect --json`: one file per node."""
    folder = tmp_path / "readouts"
    folder.mkdir()
    for name in ("gpu-a01", "gpu-a02"):
        (folder / f"{name}.json").write_text((DATA / "h200-real.json").read_text())
    found = read_paths([folder])
    plan = make_plan(load_profiles(ROOT / "profiles"), found)
    assert plan.targets[0].machines == ("gpu-a01", "gpu-a02")


def test_plan_imports_no_detection(tmp_path: Path) -> None:
    """plan reads readouts: NVML and the machine probes stay unloaded (they cost start-up)."""
    (tmp_path / "n1.json").write_text((DATA / "h200-real.json").read_text())
    script = (
        "import sys\nfrom constraints_gen.cli import main\n"
        f"try:\n    main(['plan', '--root', {str(ROOT)!r}, {str(tmp_path / 'n1.json')!r}])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('constraints_gen.detect'))\n"
        "print(loaded, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == str(
        ["constraints_gen.detect", "constraints_gen.detect.hardware",
         "constraints_gen.detect.readouts"]
    )  # fmt: skip


@linux_x86
def test_fill_plan_refuses_a_file_with_the_wrong_hash(tmp_path: Path) -> None:
    """The plan's fill checks every file against the lock, as any fill does."""
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "node1.json").write_text((DATA / "cpu.json").read_text())
    planned = gen("plan", "--json", "--root", "proj", "node1.json", cwd=tmp_path)
    (tmp_path / "plan.json").write_text(planned.stdout)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    served = tmp_path / "index" / "files" / "transformers-4.51.3-py3-none-any.whl"
    expected = sha256_of(served)
    served.write_bytes(served.read_bytes() + b"tampered")
    with serve(tmp_path / "index") as url:
        done = gen("wheelhouse", "fill", "--plan", "plan.json", "--root", "proj", "--wheelhouse",
                   "wh", "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.endswith(
        "ERROR: transformers-4.51.3-py3-none-any.whl: hash mismatch, file discarded: expected"
        f" sha256:{expected} (from the lock), got sha256:{sha256_of(served)} (downloaded from"
        f" {url}/files/transformers-4.51.3-py3-none-any.whl)\n"
        "TIP: the files that did download are kept; run the same command again to resume\n"
    )
    assert not (tmp_path / "wh" / served.name).exists()
