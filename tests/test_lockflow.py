"""Lock freshness (lock --check), incremental refresh, determinism, atomicity and concurrency.

Every test runs the real gen-constraints and the real uv against tiny wheels in folders."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.lock_project import PYTHON, edit, gen, make_project
from support.wheels import build_wheel

from constraints_gen.fsutil import exclusive_lock
from constraints_gen.locks import file as lockfile
from constraints_gen.locks.compile import LockOptions
from constraints_gen.locks.refresh import refresh
from constraints_gen.profiles.config import load_config
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import Project

PY = PYTHON
#: The longest a test waits for another process (a hang fails the test instead of the suite).
WAIT_S = 120


def wait_for(done: Callable[[], bool], child: subprocess.Popen[bytes], what: str) -> None:
    """Poll until ``done()``; fail when ``child`` exits first or after WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert child.poll() is None, f"the child exited before {what}"
        assert time.monotonic() < deadline, f"no {what} after {WAIT_S} s"
        time.sleep(0.01)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


@pytest.fixture
def locked(root: Path) -> Path:
    result = gen("lock", "--root", root)
    assert result.returncode == 0, result.stderr
    return root


def lines(root: Path, *states: tuple[str, str]) -> str:
    out = []
    for name, state in states:
        if state in ("locked", "unchanged"):
            outcome = "updated" if state == "locked" else "unchanged"
            path = root / "generated" / name / f"py{PY}.lock.txt"
            out.append(f"{name} (CPython {PY}): locked, 3 packages, {outcome}: {path}")
        else:
            out.append(f"{name} (CPython {PY}): {state}")
    return "".join(line + "\n" for line in out)


def test_first_lock_writes_every_profile(root: Path) -> None:
    result = gen("lock", "--root", root)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == lines(
        root, ("alpha", "locked"), ("beta", "locked"), ("gamma", "locked")
    )
    text = (root / "generated" / "beta" / f"py{PY}.constraints.txt").read_text()
    assert text.splitlines()[5:] == [
        "# Index pytorch-test: https://download.pytorch.org/whl/test",
        "tinydep==1.0      # dependency of tinylib, torch",
        "tinylib==1.0      # profile pin (base.toml)",
        "torch==2.1.0+cpu  # profile pin (beta.toml)",
    ]


def test_check_fresh(locked: Path) -> None:
    result = gen("lock", "--check", "--root", locked)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "gen-constraints: all 3 locks are fresh\n"


def check_fails(root: Path, *reports: str) -> None:
    result = gen("lock", "--check", "--root", root)
    assert result.returncode == 1
    names = " ".join(dict.fromkeys(r.split(" ")[0] for r in reports))
    assert result.stderr == "".join(r + "\n" for r in reports) + (
        f"ERROR: {len(reports)} of 3 locks are stale or missing\n"
        f"TIP: refresh them: gen-constraints lock {names}\n"
    )


def test_check_profile_change(locked: Path) -> None:
    edit(locked / "profiles" / "alpha.toml", 'description = "alpha"', 'description = "A"')
    check_fails(locked, f"alpha (CPython {PY}): stale: profile alpha.toml changed")


def test_check_ignores_comments(locked: Path) -> None:
    edit(locked / "profiles" / "base.toml", "# shared pins", "# shared pins, reworded")
    assert gen("lock", "--check", "--root", locked).returncode == 0


def test_check_parent_change(locked: Path) -> None:
    edit(locked / "profiles" / "base.toml", 'tinylib = "1.0"', 'tinylib = "1.1"')
    check_fails(
        locked,
        f"alpha (CPython {PY}): stale: parent profile base.toml changed",
        f"beta (CPython {PY}): stale: parent profile base.toml changed",
    )


def test_check_manifest_change(locked: Path) -> None:
    edit(locked / "profiles" / "manifest.toml", 'tinylib = ">=1"', 'tinylib = ">=1.0"')
    check_fails(
        locked,
        *(
            f"{n} (CPython {PY}): stale: manifest manifest.toml changed"
            for n in ["alpha", "beta", "gamma"]
        ),
    )


def test_a_new_tool_version_keeps_locks_fresh(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockfile, "__version__", "0.0.9")
    project = Project(root=root, builtin=False)
    profiles = load_profiles(project.profiles_dir)
    options = LockOptions(mirrors=load_config(root).mirrors)
    refresh(project, profiles, [profiles.get("gamma")], options)
    monkeypatch.undo()
    result = gen("lock", "--check", "gamma", "--root", root)
    assert (result.returncode, result.stderr) == (0, "gen-constraints: all 1 locks are fresh\n")


def test_check_reports_a_lock_format_change(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockfile, "FORMAT", 2)
    project = Project(root=root, builtin=False)
    profiles = load_profiles(project.profiles_dir)
    options = LockOptions(mirrors=load_config(root).mirrors)
    refresh(project, profiles, [profiles.get("gamma")], options)
    monkeypatch.undo()
    result = gen("lock", "--check", "gamma", "--root", root)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"gamma (CPython {PY}): stale: written in lock format 2, this tool writes 3:"
        " run gen-constraints lock"
    )
    relock = gen("lock", "gamma", "--root", root)
    assert relock.returncode == 0, relock.stderr
    assert gen("lock", "--check", "gamma", "--root", root).returncode == 0


def test_check_missing_and_on_demand(locked: Path) -> None:
    (locked / "generated" / "gamma" / f"py{PY}.lock.txt").unlink()
    (locked / "profiles" / "delta.toml").write_text(
        'name = "delta"\nextends = "gamma"\n\n[target]\ncommit_lock = false\n'
    )
    result = gen("lock", "--check", "--root", locked)
    assert result.returncode == 1
    assert result.stderr == (
        "delta: not locked (locked on demand)\n"
        f"gamma (CPython {PY}): missing: no generated/gamma/py{PY}.lock.txt\n"
        "ERROR: 1 of 3 locks are stale or missing\n"
        "TIP: refresh them: gen-constraints lock gamma\n"
    )


def test_check_usage_and_input_errors(locked: Path) -> None:
    result = gen("lock", "--check", "--force", "--root", locked)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "Error: --check takes only profile names, --all, --python and --root\n"
    )
    (locked / "profiles" / "alpha.toml").write_text('name = "alpha"\n[target]\ncommit_lock = 1\n')
    result = gen("lock", "--check", "--root", locked)
    assert result.returncode == 2
    assert (
        f"{locked}/profiles/alpha.toml: target.commit_lock: expected true or false, got an integer"
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr


def test_incremental_rule(locked: Path) -> None:
    profiles = locked / "profiles"
    edit(profiles / "alpha.toml", 'description = "alpha"', 'description = "A"')
    result = gen("lock", "--root", locked)
    assert result.stderr == lines(
        locked, ("alpha", "locked"), ("beta", "up to date"), ("gamma", "up to date")
    )
    edit(profiles / "base.toml", "abstract = true", "abstract = true\ndescription = 'shared'")
    result = gen("lock", "--all", "--root", locked)
    assert result.stderr == lines(
        locked, ("alpha", "locked"), ("beta", "locked"), ("gamma", "up to date")
    )
    edit(profiles / "manifest.toml", 'torch = ">=2"', 'torch = ">=2.0"')
    result = gen("lock", "--root", locked)
    assert result.stderr == lines(
        locked, ("alpha", "locked"), ("beta", "locked"), ("gamma", "locked")
    )
    # named profiles: only when stale, unless --force
    assert gen("lock", "gamma", "--root", locked).stderr == lines(locked, ("gamma", "up to date"))
    forced = gen("lock", "gamma", "--force", "--root", locked)
    assert forced.stderr == lines(locked, ("gamma", "unchanged"))


def test_mirror_is_not_an_input(locked: Path) -> None:
    moved = locked / "elsewhere"
    shutil.move(locked / "torchwheels", moved)
    edit(locked / "constraints-gen.toml", '"torchwheels"', '"elsewhere"')
    assert gen("lock", "--check", "--root", locked).returncode == 0


def test_deterministic_output(locked: Path, tmp_path: Path) -> None:
    first = {p.relative_to(locked): p.read_bytes() for p in (locked / "generated").rglob("*.txt")}
    shutil.rmtree(locked / "generated")
    assert (
        gen("lock", "--root", locked, env={"UV_CACHE_DIR": str(tmp_path / "cold")}).returncode == 0
    )
    again = {p.relative_to(locked): p.read_bytes() for p in (locked / "generated").rglob("*.txt")}
    assert again == first
    assert gen("lock", "--force", "--root", locked).returncode == 0
    assert {
        p.relative_to(locked): p.read_bytes() for p in (locked / "generated").rglob("*.txt")
    } == first


def test_upgrade_package(locked: Path) -> None:
    from support.wheels import build_wheel

    build_wheel(locked / "wheels", "tinydep", "2.0")
    lock = locked / "generated" / "gamma" / f"py{PY}.lock.txt"
    assert gen("lock", "gamma", "--force", "--root", locked).returncode == 0
    assert "tinydep==1.0 " in lock.read_text()  # the existing lock's versions are kept
    upgraded = gen("lock", "gamma", "--upgrade-package", "tinydep", "--root", locked)
    assert upgraded.stderr == lines(locked, ("gamma", "locked"))
    assert "tinydep==2.0 " in lock.read_text()


def _edit_constraints(lock: Path, other: Path) -> None:
    lockfile.constraints_beside(lock).write_text(
        lockfile.constraints_beside(lock).read_text() + "# edited\n"
    )


def _edit_lock(lock: Path, other: Path) -> None:
    lock.write_text(lock.read_text() + "# edited\n")


def _copy_other_lock(lock: Path, other: Path) -> None:
    shutil.copyfile(other, lock)


@pytest.mark.parametrize(
    ("tamper", "tinydep", "outcome"),
    [
        # the lock is intact and gamma's (only constraints.txt was edited): its versions stay
        (_edit_constraints, "1.0", "unchanged"),
        # uv keeps only gamma's own lock as written; else it resolves afresh (a newer tinydep)
        (_edit_lock, "2.0", "locked"),
        (_copy_other_lock, "2.0", "locked"),
    ],
)
def test_relock_keeps_the_versions_of_an_intact_lock_only(
    locked: Path, tamper: Callable[[Path, Path], None], tinydep: str, outcome: str
) -> None:
    from support.wheels import build_wheel

    build_wheel(locked / "wheels", "tinydep", "2.0")  # a newer version uv would take afresh
    lock = locked / "generated" / "gamma" / f"py{PY}.lock.txt"
    assert gen("lock", "gamma", "--force", "--root", locked).returncode == 0
    assert "tinydep==1.0 " in lock.read_text()
    tamper(lock, locked / "generated" / "alpha" / f"py{PY}.lock.txt")
    assert gen("lock", "--check", "--root", locked).returncode == 2  # corrupt: refused
    relocked = gen("lock", "--root", locked)
    assert relocked.stderr == lines(
        locked, ("alpha", "up to date"), ("beta", "up to date"), ("gamma", outcome)
    )
    assert f"tinydep=={tinydep} " in lock.read_text()
    assert gen("lock", "--check", "--root", locked).returncode == 0


def test_resolver_failure_names_the_profile(locked: Path) -> None:
    # pins that do not resolve together (tinylib 1.0 needs tinydep>=1), every wheel at hand: a
    # pin with no wheel in the mirror folder at all is refused before uv runs (test_mirrors.py)
    build_wheel(locked / "wheels", "tinydep", "0.9")
    edit(
        locked / "profiles" / "gamma.toml",
        'torch = "2.0.0"',
        'torch = "2.0.0"\ntinylib = "1.0"\ntinydep = "0.9"',
    )
    result = gen("lock", "--root", locked)
    assert result.returncode == 1
    error = result.stderr[result.stderr.index("ERROR:") :]
    assert (
        error.splitlines()[0] == f"ERROR: profile gamma, CPython {PY}: uv failed with exit code 1"
    )
    assert "No solution found when resolving dependencies" in error
    assert error.splitlines()[-1] == (
        f"TIP: profile gamma (CPython {PY}) did not resolve; the resolver's explanation is above"
    )


def test_fail_on_change(locked: Path) -> None:
    assert gen("lock", "--fail-on-change", "--root", locked).returncode == 0
    edit(locked / "profiles" / "gamma.toml", 'description = "gamma', 'description = "G')
    result = gen("lock", "--fail-on-change", "--root", locked)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"ERROR: 1 lock(s) changed under {locked}/generated; review and commit them"
    )


def test_named_on_demand_profile_is_refused(locked: Path) -> None:
    (locked / "profiles" / "delta.toml").write_text(
        'name = "delta"\nextends = "gamma"\n\n[target]\ncommit_lock = false\n'
    )
    result = gen("lock", "delta", "--root", locked)
    assert (result.returncode, result.stderr) == (
        2,
        "ERROR: profile delta is locked on demand (target.commit_lock = false), never into"
        " generated/\nTIP: gen-constraints --profile NAME locks it into the user cache when used\n",
    )


KILLED_WRITER = """
import os, sys, time
from pathlib import Path
import constraints_gen.fsutil as fsutil
real_fsync = os.fsync
def fsync_then_hang(fd):
    real_fsync(fd)
    Path(sys.argv[1]).touch()  # the temporary file is written, not yet renamed
    time.sleep(600)
fsutil.os.fsync = fsync_then_hang
from constraints_gen.cli import main
main(sys.argv[2:])
"""


def test_killed_writer_leaves_old_file_and_next_run_cleans(locked: Path, tmp_path: Path) -> None:
    gamma = locked / "generated" / "gamma"
    before = {p.name: p.read_bytes() for p in gamma.iterdir()}
    edit(locked / "profiles" / "gamma.toml", 'description = "gamma', 'description = "G')
    signal_file = tmp_path / "writing"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(signal_file), "lock", "--root", str(locked)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(signal_file.exists, child, "the temporary file was written")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT_S)
    temps = sorted(p.name for p in gamma.glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].startswith(f".py{PY}.lock.txt.")
    assert {p.name: p.read_bytes() for p in gamma.iterdir() if not p.name.startswith(".")} == before
    check_fails(locked, f"gamma (CPython {PY}): stale: profile gamma.toml changed")
    result = gen("lock", "--root", locked)
    assert result.returncode == 0
    assert result.stderr.splitlines()[0] == (
        f"gen-constraints: removed {gamma}/{temps[0]} (left by an interrupted run)"
    )
    assert list(gamma.glob(".*.tmp")) == []
    assert gen("lock", "--check", "--root", locked).returncode == 0


FAILING_WRITER = """
import errno, os, sys
import constraints_gen.fsutil as fsutil
real_fsync = os.fsync
def fsync(fd):
    if "/generated/gamma/" in os.readlink(f"/proc/self/fd/{fd}"):  # gamma's temporary files
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    real_fsync(fd)
fsutil.os.fsync = fsync
from constraints_gen.cli import main
main(sys.argv[1:])
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd (Linux)")
def test_a_failing_write_leaves_that_target_whole_and_writes_the_others(locked: Path) -> None:
    generated = locked / "generated"
    gamma = {p: p.read_bytes() for p in (generated / "gamma").iterdir()}
    edit(locked / "profiles" / "manifest.toml", 'tinylib = ">=1"', 'tinylib = ">=1.0"')  # all stale
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WRITER, "lock", "--root", str(locked)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"ERROR: profile gamma, CPython {PY}: cannot write {generated}/gamma/py{PY}.lock.txt:"
        " No space left on device"
    )
    assert {p: p.read_bytes() for p in (generated / "gamma").iterdir()} == gamma  # old, whole
    assert list(generated.rglob(".*.tmp")) == []  # no temporary file left behind
    check_fails(locked, f"gamma (CPython {PY}): stale: manifest manifest.toml changed")


def test_second_run_waits_for_the_lock(root: Path, tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    (root / "generated").mkdir()
    with exclusive_lock(root / "generated" / ".lock"):
        with err.open("w") as handle:
            child = subprocess.Popen(
                [sys.executable, "-m", "constraints_gen", "lock", "--root", str(root)],
                stderr=handle,
            )
        waiting = f"gen-constraints: waiting for another run to finish ({root}/generated/.lock)\n"
        wait_for(lambda: err.read_text() == waiting, child, "the waiting notice")
        assert sorted((root / "generated").iterdir()) == [root / "generated" / ".lock"]
    assert child.wait(timeout=WAIT_S) == 0
    assert err.read_text() == waiting + lines(
        root, ("alpha", "locked"), ("beta", "locked"), ("gamma", "locked")
    )


def test_concurrent_runs_lock_each_target_once(root: Path) -> None:
    command = [sys.executable, "-m", "constraints_gen", "lock", "--root", str(root)]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outputs = [run.communicate(timeout=WAIT_S)[1] for run in runs]
    finally:
        for run in runs:
            run.kill()  # a no-op for a run that ended; stops one that hangs
    assert [run.returncode for run in runs] == [0, 0]
    reports = [
        line
        for out in outputs
        for line in out.splitlines()
        if not line.startswith("gen-constraints:")
    ]
    for name in ("alpha", "beta", "gamma"):
        mine = sorted(line for line in reports if line.startswith(f"{name} "))
        assert mine == sorted(lines(root, (name, "locked"), (name, "up to date")).splitlines())
    assert gen("lock", "--check", "--root", root).returncode == 0


def test_emit_warns_when_stale_and_strict_fails(locked: Path) -> None:
    edit(locked / "profiles" / "alpha.toml", 'description = "alpha"', 'description = "A"')
    path = locked / "generated" / "alpha" / f"py{PY}.constraints.txt"
    result = gen("--root", locked, "--profile", "alpha")
    assert result.returncode == 0
    assert result.stdout == path.read_text()
    assert result.stderr == textwrap.dedent(f"""\
        gen-constraints: warning: {path} is stale: profile alpha or the manifest changed since it was locked (refresh: gen-constraints lock alpha)
        gen-constraints: profile alpha, CPython {PY} ({path})
        """)  # noqa: E501
    strict = gen("--root", locked, "--profile", "alpha", "--strict")
    assert (strict.returncode, strict.stdout) == (1, "")
    assert strict.stderr == (
        f"ERROR: {path} is stale: profile alpha or the manifest changed since it was locked\n"
        "TIP: refresh it: gen-constraints lock alpha\n"
    )
    fresh = gen("--root", locked, "--profile", "gamma", "--strict")
    assert fresh.returncode == 0


@pytest.mark.parametrize(
    ("shell", "template"),
    [
        ("bash", "export {var}='{path}'"),
        ("fish", "set -gx {var} '{path}'"),
        ("powershell", "$env:{var} = '{path}'"),
    ],
)
def test_env_lines(locked: Path, shell: str, template: str) -> None:
    path = locked / "generated" / "gamma" / f"py{PY}.constraints.txt"
    result = gen("env", "--root", locked, "--profile", "gamma", "--shell", shell)
    assert result.returncode == 0
    assert result.stdout == "".join(
        template.format(var=var, path=value) + "\n"
        for var, value in (("UV_CONSTRAINT", path), ("PIP_CONSTRAINT", path))
    )


def test_builtin_locks_are_fresh() -> None:
    result = gen("lock", "--check")
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        0,
        "gen-constraints: all 43 locks are fresh",
    )


def test_check_needs_no_resolver() -> None:
    probe = (
        "import sys\nfrom constraints_gen.cli import main\n"
        "try:\n    main(['lock', '--check'])\nexcept SystemExit as exit:\n"
        "    heavy = sorted(m for m in ('uv', 'constraints_gen.locks.compile',"
        " 'constraints_gen.runner', 'piptools') if m in sys.modules)\n    print(exit.code, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout == "0 []\n"


def test_emit_imports_only_its_own_path() -> None:
    """The default command loads no subcommand module, no uv lookup, no NVML (with --hardware)."""
    hardware = Path(__file__).parent / "data" / "hardware" / "h200-real.json"
    probe = (
        "import io, sys\nfrom constraints_gen.cli import main\nsys.stdout = io.StringIO()\n"
        f"try:\n    main(['--hardware', {str(hardware)!r}, '--python', '3.11'])\n"
        "except SystemExit as exit:\n"
        "    heavy = sorted(m for m in ('uv', 'pynvml', 'constraints_gen.detect.nvml',"
        " 'constraints_gen.cli.lock', 'constraints_gen.cli.env', 'constraints_gen.locks.compile',"
        " 'constraints_gen.runner', 'constraints_gen.fsutil') if m in sys.modules)\n"
        "    sys.__stdout__.write(f'{exit.code} {heavy}\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout == "0 []\n", result.stderr


@pytest.mark.parametrize(
    "where",
    [["--mirror", "pypi=wheels"], ["--offline", "--find-links", "wheels"]],
    ids=["mirror", "find-links"],
)
def test_relative_folders_given_on_the_command_line_mean_the_current_directory(
    root: Path, where: list[str]
) -> None:
    """uv runs in a temporary folder: a relative folder handed on as given would name nothing."""
    (root / "constraints-gen.toml").unlink()
    result = gen("lock", "gamma", *where, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "torch==2.0.0" in (root / "generated" / "gamma" / f"py{PY}.lock.txt").read_text()
