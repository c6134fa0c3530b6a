"""``gen-constraints sync``: uv pip sync from a wheelhouse, drift checks, missing wheels.

The end-to-end test replays the incident this project began with: the profile pins
transformers 4.51.3, the venv holds 4.57.3 (inside the manifest range, so nothing replaced it) and
a torch with the wrong local label, and the wheelhouse holds a stale 4.57.3 wheel.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version
from support.index import serve, write_simple_index
from support.sync_project import PY, gen, make_venv, scenario_project

from constraints_gen import runner
from constraints_gen.errors import ToolError
from constraints_gen.install.sync import Change, check_drift, parse_changes, uv_args

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

COMMON = ("--profile", "demo", "--root", "proj")
INCIDENT = ["transformers==4.57.3", "torch==2.5.1+cu124", "peft==0.13.2", "extra==1.0"]
DRIFT = "- extra 1.0\n~ torch 2.5.1+cu124 -> 2.5.1+cu121\n~ transformers 4.57.3 -> 4.51.3\n"
WHERE = f"profile demo, CPython {PY}, venv/bin/python"


def fill_from_index(tmp_path: Path, wheels: Path, folder: str = "wh") -> None:
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        done = gen("wheelhouse", "fill", *COMMON, "--wheelhouse", folder,
                   "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_incident_end_to_end(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    fill_from_index(tmp_path, wheels)
    shutil.copy(wheels / "transformers-4.57.3-py3-none-any.whl", tmp_path / "wh")
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    sync = (*COMMON, "--python", "venv", "--wheelhouse", "wh")

    check = gen("sync", "--check", *sync, "--json", cwd=tmp_path)
    assert check.returncode == 1
    assert json.loads(check.stdout) == {
        "version": 1,
        "profile": "demo",
        "python": PY,
        "environment": "venv/bin/python",
        "lock": f"proj/generated/demo/py{PY}.lock.txt",
        "wheelhouse": "wh",
        "in_sync": False,
        "applied": False,
        "lacking": [],
        "verified": None,
        "findings": [],
        "changes": [
            {"name": "extra", "action": "remove", "installed": "1.0", "locked": None},
            {"name": "torch", "action": "replace", "installed": "2.5.1+cu124",
             "locked": "2.5.1+cu121"},
            {"name": "transformers", "action": "replace", "installed": "4.57.3",
             "locked": "4.51.3"},
        ],
    }  # fmt: skip
    check = gen("sync", "--check", *sync, cwd=tmp_path)
    assert (check.returncode, check.stdout) == (1, DRIFT)
    assert check.stderr == (
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 1 to remove\n"
    )

    house = gen("wheelhouse", "check", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert house.returncode == 1  # installable, not exact: the seed's stale 4.57.3 wheel
    assert house.stdout == (
        f"profile demo, CPython {PY} (x86_64-manylinux_2_28): installable, not exact,"
        " 3 locked packages\n"
        "  wrong version: transformers-4.57.3-py3-none-any.whl"
        " (transformers 4.57.3; locked 4.51.3)\n"
    )
    assert house.stderr == (
        "ERROR: wheelhouse wh holds 1 wrong-version wheels (transformers-4.57.3-py3-none-any.whl)\n"
        "TIP: remove them: gen-constraints wheelhouse fill --prune --profile demo --wheelhouse wh"
        " --root proj\n"
    )

    done = gen("sync", *sync, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, DRIFT)
    assert done.stderr.endswith(
        f"gen-constraints: synced ({WHERE}): 0 installed, 2 replaced, 1 removed\n"
    )
    assert " + transformers==4.51.3\n" in done.stderr  # uv's own report, passed on

    clean = gen("sync", "--check", *sync, cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, "")
    assert clean.stderr == f"gen-constraints: in sync ({WHERE}, 3 packages)\n"
    no_wheels = gen("sync", "--check", *COMMON, "--python", "venv", "--wheelhouse", "nowhere",
                    cwd=tmp_path)  # fmt: skip
    assert no_wheels.returncode == 0  # an environment in sync needs no wheelhouse

    dry = gen("wheelhouse", "prune", "--dry-run", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert (dry.returncode, dry.stdout) == (0, "transformers-4.57.3-py3-none-any.whl\n")
    assert dry.stderr == "wheelhouse wh: would remove 1 wheels\n"
    assert (tmp_path / "wh" / "transformers-4.57.3-py3-none-any.whl").is_file()
    pruned = gen("wheelhouse", "prune", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert (pruned.returncode, pruned.stdout) == (0, "transformers-4.57.3-py3-none-any.whl\n")
    assert pruned.stderr == "wheelhouse wh: removed 1 wheels\n"
    assert sorted(p.name for p in (tmp_path / "wh").glob("*.whl")) == [
        "peft-0.13.2-py3-none-any.whl",
        f"torch-2.5.1+cu121-cp{PY.replace('.', '')}-cp{PY.replace('.', '')}"
        "-manylinux_2_28_x86_64.whl",
        "transformers-4.51.3-py3-none-any.whl",
    ]

    imported = subprocess.run(
        [tmp_path / "venv/bin/python", "-c", "import peft, transformers, torch;"
         " print(peft.__version__, transformers.__version__, torch.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert imported.stdout == "0.13.2 4.51.3 2.5.1+cu121\n"


def test_quiet_says_only_problems_and_verbose_shows_commands(tmp_path: Path) -> None:
    """-q silences progress, uv's report and the verdicts of success of fill, sync, verify, prune
    and index (before, they went to stderr all the same); a drift, a "no", still says why."""
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        filled = gen("wheelhouse", "fill", "-q", *COMMON, "--wheelhouse", "wh",
                     "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
    assert (filled.returncode, filled.stderr) == (0, "")
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    sync = (*COMMON, "--python", "venv", "--wheelhouse", "wh")
    drift = gen("-q", "sync", "--check", *sync, cwd=tmp_path)
    assert (drift.returncode, drift.stdout) == (1, DRIFT)
    assert drift.stderr == (
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 1 to remove\n"
    )
    done = gen("sync", *sync, "-q", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, DRIFT, "")
    for args in (("sync", "--check", *sync), ("verify", *COMMON, "--python", "venv"),
                 ("wheelhouse", "prune", "--dry-run", *COMMON, "--wheelhouse", "wh"),
                 ("wheelhouse", "index", "public", "--wheelhouse", "wh")):  # fmt: skip
        quiet = gen(*args, "-q", cwd=tmp_path)
        assert (quiet.returncode, quiet.stderr) == (0, ""), args
        loud = gen(*args, cwd=tmp_path)
        assert loud.returncode == 0 and loud.stderr != "", args
    verbose = gen("sync", "--check", *sync, "-v", cwd=tmp_path)
    assert verbose.returncode == 0
    assert f"$ {runner.uv_bin()} pip sync --no-config --offline --no-index --find-links wh" in (
        verbose.stderr
    )


def test_missing_wheel_is_named_with_the_fix(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "wh").mkdir()
    for name in ("peft-0.13.2-py3-none-any.whl", "transformers-4.51.3-py3-none-any.whl"):
        shutil.copy(wheels / name, tmp_path / "wh")
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    drift = f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 1 to remove\n"
    lacks = (
        f"wheelhouse wh lacks 1 wheels of profile demo (CPython {PY}): torch==2.5.1+cu121\n"
        f"TIP: fill it: gen-constraints wheelhouse fill --profile demo --python {PY}"
        " --wheelhouse wh --root proj\n"
    )
    # uv alone would call this a resolver error and say nothing of the drift: drift first,
    # then the wheels it lacks, with the command that fetches them
    done = gen("sync", *COMMON, "--python", "venv", "--wheelhouse", "wh", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, DRIFT, drift + "ERROR: " + lacks)
    check = gen("sync", "--check", *COMMON, "--python", "venv", "--wheelhouse", "wh", cwd=tmp_path)
    assert (check.returncode, check.stdout) == (1, DRIFT)
    assert check.stderr == drift + "gen-constraints: " + lacks
    house = gen("wheelhouse", "check", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert house.returncode == 1
    assert house.stdout == (
        f"profile demo, CPython {PY} (x86_64-manylinux_2_28): NOT installable, 3 locked packages\n"
        "  missing: torch 2.5.1+cu121\n"
    )
    assert house.stderr == (
        "ERROR: wheelhouse wh cannot install the lock of demo\n"
        "TIP: fill it: gen-constraints wheelhouse fill --profile demo --wheelhouse wh"
        " --root proj\n"
    )


def test_tampered_wheel_is_refused(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "wh").mkdir()
    for wheel in wheels.glob("*.whl"):
        shutil.copy(wheel, tmp_path / "wh")
    good = tmp_path / "wh" / "transformers-4.51.3-py3-none-any.whl"
    good.write_bytes(good.read_bytes() + b"tampered")  # same name, other bytes
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    done = gen("sync", *COMMON, "--python", "venv", "--wheelhouse", "wh", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == DRIFT
    assert done.stderr.startswith(
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 1 to remove\n"
        f"ERROR: wheelhouse wh lacks 1 wheels of profile demo (CPython {PY}):"
        " transformers==4.51.3 (transformers-4.51.3-py3-none-any.whl is corrupt: not the lock's"
        " hash)\n"
    )
    frozen = subprocess.run(
        [runner.uv_bin(), "pip", "freeze", "--python", tmp_path / "venv/bin/python"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "transformers==4.57.3\n" in frozen.stdout  # nothing was touched


def test_print_command(tmp_path: Path) -> None:
    scenario_project(tmp_path)
    make_venv(tmp_path / "venv", tmp_path / "wheels", [])
    done = gen("sync", "--print-command", *COMMON, "--python", "venv", "--wheelhouse", "wh",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0
    assert shlex.split(done.stdout) == [
        runner.uv_bin(), "pip", "sync", "--no-config", "--offline", "--no-index", "--find-links",
        "wh", "--require-hashes", "--python", "venv/bin/python",
        f"proj/generated/demo/py{PY}.lock.txt",
    ]  # fmt: skip


def test_file_url_wheelhouse_is_the_folder(tmp_path: Path) -> None:
    """``--wheelhouse file:///...`` is the folder, offline, as a ``file://`` mirror is for lock
    and fill (before: handed to uv as an index URL, which a folder of wheels is not)."""
    _, wheels = scenario_project(tmp_path)
    fill_from_index(tmp_path, wheels)
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    url = (tmp_path / "wh").as_uri()
    sync = (*COMMON, "--python", "venv", "--wheelhouse", url)
    printed = gen("sync", "--print-command", *sync, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert shlex.split(printed.stdout)[4:8] == [
        "--offline", "--no-index", "--find-links", str(tmp_path / "wh")
    ]  # fmt: skip
    done = gen("sync", *sync, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, DRIFT), done.stderr
    clean = gen("sync", "--check", *sync, cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr


def test_sync_from_a_served_static_index(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    fill_from_index(tmp_path, wheels)
    index = gen("wheelhouse", "index", "public", "--wheelhouse", "wh", cwd=tmp_path)
    assert index.returncode == 0
    assert index.stderr == "wrote a PEP 503 index of 3 projects to public/simple\n"
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    with serve(tmp_path / "public") as url:
        sync = (*COMMON, "--python", "venv", "--wheelhouse", f"{url}/simple")
        done = gen("sync", *sync, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, DRIFT), done.stderr
        clean = gen("sync", "--check", *sync, cwd=tmp_path)
        assert (clean.returncode, clean.stdout) == (0, "")


def test_no_target_environment(tmp_path: Path) -> None:
    scenario_project(tmp_path)
    done = gen("sync", "--check", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "ERROR: no target environment: no --python given and no virtual environment is active\n"
        "TIP: name one: --python .venv/bin/python (or activate the venv)\n"
    )


def test_a_failed_uv_run_shows_command_and_output(tmp_path: Path) -> None:
    args = [runner.uv_bin(), "pip", "sync", "--check", "--output-format", "json", "--python",
            sys.executable, str(tmp_path / "absent.txt")]  # fmt: skip
    with pytest.raises(ToolError) as info:
        check_drift(args)
    message = info.value.message
    assert message.startswith(f"uv failed with exit code 2\ncommand: {shlex.join(args)}\nstderr:\n")
    assert "absent.txt" in message.split("stderr:\n", 1)[1]


def test_uv_args_builds_each_variant_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command is built whole (the CLI edits no command it was handed)."""
    monkeypatch.chdir(tmp_path)  # no folder "wh": a check of an environment in sync needs none
    uv, lock, python = runner.uv_bin(), Path("l.txt"), Path("p/bin/python")
    head = [uv, "pip", "sync", "--no-config", "--offline", "--no-index", "--find-links", "wh",
            "--require-hashes", "--python", "p/bin/python"]  # fmt: skip
    assert uv_args(lock, python, "wh", reinstall=["a", "b"]) == [
        *head, "--reinstall-package=a", "--reinstall-package=b", "--no-cache", "l.txt"
    ]  # fmt: skip
    assert uv_args(lock, python, "wh", check=True, allow_empty=True) == [
        *head[:6],
        *head[8:],
        "--allow-empty-requirements",
        "--check",
        "--output-format",
        "json",
        "l.txt",
    ]  # fmt: skip
    served = uv_args(lock, python, "https://wheels.example/simple")
    assert served[3:6] == ["--no-config", "--default-index", "https://wheels.example/simple"]


def test_parse_changes_pairs_uv_entries() -> None:
    # As uv 0.13.9 prints it for `uv pip sync --check --output-format json`.
    text = json.dumps(
        {
            "schema": {"version": "preview"},
            "changes": [
                {"name": "extra", "version": "1.0", "action": "uninstalled"},
                {"name": "peft", "version": "0.13.2", "action": "installed"},
                {"name": "torch", "version": "2.5.1+cu124", "action": "uninstalled"},
                {"name": "torch", "version": "2.5.1+cu121", "action": "installed"},
            ],
            "dry_run": True,
        }
    )
    assert parse_changes(text) == (
        Change(name="extra", old="1.0", new=None),
        Change(name="peft", old=None, new="0.13.2"),
        Change(name="torch", old="2.5.1+cu124", new="2.5.1+cu121"),
    )
    assert [c.action for c in parse_changes(text)] == ["remove", "install", "replace"]


def test_sync_in_sync_skips_wheel_tag_machinery(tmp_path: Path) -> None:
    """An environment already in sync costs one `uv pip sync --check`: no packaging.tags."""
    root, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    args = ["sync", "--profile", "demo", "--root", str(root), "--python", str(tmp_path / "venv"),
            "--wheelhouse", str(wheels)]  # fmt: skip
    assert gen(*args, cwd=tmp_path).returncode == 0
    heavy = "sorted(m for m in ('packaging.tags', 'packaging.utils') if m in sys.modules)"
    probe = (
        "import sys\nfrom constraints_gen.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exit:\n"
        f"    print(exit.code, {heavy})\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    # What packaging itself costs for the version checks sync needs: nothing from 26.4 on, while
    # packaging 24.0 to 26.3 (pyproject's floor is 24) import tags from packaging.specifiers.
    base = f"import sys, packaging.specifiers, packaging.version\nprint(0, {heavy})\n"
    unavoidable = subprocess.run([sys.executable, "-c", base], capture_output=True, text=True)
    assert result.stdout == unavoidable.stdout, result.stderr
    if Version(md.version("packaging")) >= Version("26.4"):
        assert result.stdout == "0 []\n", result.stderr


def test_drift_from_a_served_index_that_lacks_a_wheel(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "wh").mkdir()
    for name in ("peft-0.13.2-py3-none-any.whl", "transformers-4.51.3-py3-none-any.whl"):
        shutil.copy(wheels / name, tmp_path / "wh")
    assert gen("wheelhouse", "index", "public", "--wheelhouse", "wh", cwd=tmp_path).returncode == 0
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    with serve(tmp_path / "public") as url:
        check = gen("sync", "--check", *COMMON, "--python", "venv", "--wheelhouse",
                    f"{url}/simple", cwd=tmp_path)  # fmt: skip
    assert (check.returncode, check.stdout) == (1, DRIFT), check.stderr
    assert check.stderr == (
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 1 to remove\n"
        f"gen-constraints: wheelhouse {url}/simple lacks 1 wheels of profile demo (CPython {PY}):"
        " torch==2.5.1+cu121\n"
        f"TIP: fill it: gen-constraints wheelhouse fill --profile demo --python {PY}"
        " --wheelhouse DIR --root proj, then `gen-constraints wheelhouse index DIR` and serve DIR\n"
    )
