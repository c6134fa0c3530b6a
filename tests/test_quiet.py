"""``-q`` and ``-v`` mean the same for every command: every message goes through the one reporter.

With ``-q`` a command that succeeds says nothing on stderr (its data still goes to stdout);
without it the same run says something, so the quiet run is not quiet by accident. ``-v`` shows
each external command wherever one runs. (``sync``, ``verify``, ``wheelhouse fill``, ``prune``
and ``index`` are covered the same way in tests/test_sync.py, with a venv and a served index.)
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import HARDWARE, REPO
from support.index import serve, write_simple_index
from support.sync_project import gen, scenario_project

from constraints_gen import runner

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

FLEET = Path(__file__).parent / "data" / "hardware"


def both(
    args: Sequence[str | Path], cwd: Path, stdin: str | None = None, *, loud: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with -q (success, empty stderr) and without (success; stderr not empty when
    ``loud``); the quiet run's result."""
    command = [sys.executable, "-m", "constraints_gen", *map(str, args)]
    quiet, normal = (
        subprocess.run([*command, *extra], cwd=cwd, input=stdin, capture_output=True, text=True)
        for extra in (["-q"], [])
    )
    assert (quiet.returncode, quiet.stderr) == (0, ""), args
    assert normal.returncode == 0, (args, normal.stderr)
    assert normal.stdout == quiet.stdout, args  # -q touches messages only
    if loud:
        assert normal.stderr != "", args
    return quiet


def test_quiet_success_says_nothing_on_every_command(tmp_path: Path) -> None:
    h200 = HARDWARE / "h200-real.json"
    # the repository's own profiles: emit, env, explain, profiles generate, plan
    both(["--hardware", h200, "--python", "3.11"], REPO)
    both(["env", "--profile", "cuda130", "--python", "3.12"], REPO)
    both(["explain", "--hardware", h200], REPO, loud=False)  # explain's answer is data
    both(["profiles", "generate", "--check"], REPO)
    fleet = "".join(
        (FLEET / f"{name}.json").read_text().replace("\n", " ") + "\n"
        for name in ("h200-real", "cpu")
    )
    both(["plan", "--python", "3.11"], REPO, stdin=fleet, loud=False)
    # outside any project: the notice that names the built-in profiles is a notice too
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    both(["explain", "--hardware", h200], outside)  # loud: the notice naming the folder
    # a project of tiny real wheels: emit, lock --check, wheelhouse fill and check
    _, wheels = scenario_project(tmp_path)
    both(["--profile", "demo", "--root", "proj"], tmp_path)
    both(["lock", "--check", "--root", "proj"], tmp_path)
    common = ("--profile", "demo", "--root", "proj")
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        fill = ["wheelhouse", "fill", *common, "--wheelhouse", "wh", "--index-url", f"{url}/simple"]
        both(fill, tmp_path)  # the second run finds the wheels there
    both(["wheelhouse", "check", *common, "--wheelhouse", "wh"], tmp_path, loud=False)


def test_verbose_shows_each_external_command_wherever_one_runs(tmp_path: Path) -> None:
    scenario_project(tmp_path)
    uv = runner.uv_bin()
    offline = ("--root", "proj", "--force", "--offline", "--find-links", "wheels")
    locked = gen("lock", *offline, "-v", cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    assert f"$ {uv} pip compile" in locked.stderr
    for args in (["lock", "--check"], ["wheelhouse", "check", "--profile", "demo"]):
        verbose = gen(*args, "--root", "proj", "-v", cwd=tmp_path)
        assert f"$ {uv}" not in verbose.stderr  # -v shows what runs, and nothing ran
    quiet = gen("-q", "lock", *offline, cwd=tmp_path)
    assert (quiet.returncode, quiet.stderr) == (0, "")
