"""The command line as a whole: where options may stand, -v/-q, the error boundary, and output.

- An option given before a subcommand applies to it (through nested groups), or is a usage
  error when the subcommand has no such option; the same option on both sides with different
  values is a usage error. Checked for every subcommand of the real CLI, every option of the
  group, both positions (in process: the command's callback records what it was given).
- stdout closed or full, and OSErrors from the filesystem: one ``ERROR`` line, never a traceback.
- Outside a project: each command names the built-in folder it uses; ``lock`` refuses to write
  there. ``lock`` with several targets reports every failure.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import HARDWARE, REPO
from support.lock_project import PYTHON, edit, gen, make_project
from support.wheels import build_wheel

from constraints_gen.cli import cli, main
from constraints_gen.fsutil import atomic_write
from constraints_gen.profiles.project import builtin_root
from constraints_gen.reporter import REPORT


def _leaves() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command that runs (subcommands of subcommands included), by its words."""
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            if isinstance(command, click.Group):
                walk(command, click.Context(command, parent=ctx, info_name=name), (*path, name))
            else:
                found.append(((*path, name), command))

    walk(cli, click.Context(cli, info_name="gen-constraints"), ())
    return found


LEAVES = dict(_leaves())
#: The group's own options (as emit takes them) and a value for each.
GROUP_OPTIONS = [
    param
    for param in cli.params
    if isinstance(param, click.Option) and param.expose_value and param.name
]
VALUES = {"--root": "some/project", "--hardware": "some/node.json", "--profile": "cpu"}
VALUES |= {"--python": "3.12"}
OTHER = {"--root": "other/project", "--hardware": "other.json", "--profile": "cuda130"}
OTHER |= {"--python": "3.13"}


def _words(option: click.Option, value: str | None = None) -> list[str]:
    name = option.opts[0]
    return [name] if option.is_flag else [name, value or VALUES[name]]


def _namesake(command: click.Command, option: click.Option) -> click.Option | None:
    return next(
        (
            p
            for p in command.params
            if isinstance(p, click.Option) and set(p.opts) & set(option.opts)
        ),
        None,
    )


def _takes(command: click.Command, option: click.Option) -> bool:
    """Does ``command`` have this option with the same meaning (the same metavar)?"""
    namesake = _namesake(command, option)
    return namesake is not None and namesake.metavar == option.metavar


def _required(command: click.Command) -> list[str]:
    return [
        "x" for p in command.params if isinstance(p, click.Argument) and p.required
    ]  # e.g. wheelhouse index OUT


CASES = [
    pytest.param(path, option, id=f"{' '.join(path)}-{option.opts[0]}")
    for path in LEAVES
    for option in GROUP_OPTIONS
]


@pytest.fixture(autouse=True)
def _reset_flags() -> Iterator[None]:
    yield
    REPORT.level = "normal"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each leaf command records the parameters it was called with instead of running."""
    calls: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        calls.append(dict(click.get_current_context().params))

    for command in LEAVES.values():
        monkeypatch.setattr(command, "callback", record)
    return calls


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)
    raise AssertionError("main() returned without exiting")


def test_the_matrix_covers_the_nested_commands() -> None:
    paths = {" ".join(path) for path in LEAVES}
    assert {"detect", "explain", "env", "lock", "sync"} <= paths
    assert {"wheelhouse fill", "wheelhouse check", "wheelhouse prune", "wheelhouse index"} <= paths
    assert [o.opts[0] for o in GROUP_OPTIONS] == [
        "--strict",
        "--python",
        "--profile",
        "--hardware",
        "--root",
    ]


@pytest.mark.parametrize(("path", "option"), CASES)
def test_option_before_a_subcommand_applies_to_it_or_is_refused(
    path: tuple[str, ...],
    option: click.Option,
    recorded: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = LEAVES[path]
    args = [*path, *_required(command)]
    before = run([*_words(option), *args])
    if not _takes(command, option):
        assert (before, recorded) == (2, [])
        name, where = option.opts[0], " ".join(path)
        namesake = _namesake(command, option)
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"Error: {name} was given before `gen-constraints {where}`, which has no option"
            f" {name}; see `gen-constraints {where} --help`"
            if namesake is None
            # sync/verify --python PATH is an interpreter, the group's --python X.Y a version
            else f"Error: {name} before `gen-constraints {where}` means {option.metavar}, but"
            f" `gen-constraints {where}` takes {name} {namesake.metavar}; give it after"
            f" `gen-constraints {where}`"
        )
        if namesake is not None:
            return
        assert run([*args, *_words(option)]) == 2  # after it, click says "no such option"
        return
    assert before == 0, capsys.readouterr().err
    assert run([*args, *_words(option)]) == 0
    assert run(args) == 0
    given_before, given_after, default = recorded
    assert given_before == given_after
    assert given_before != default  # the option took effect, it was not dropped


@pytest.mark.parametrize(
    ("path", "option"),
    [
        case
        for case in CASES
        if _takes(LEAVES[case.values[0]], case.values[1])  # type: ignore[arg-type,index]
        and not case.values[1].is_flag  # type: ignore[union-attr]
    ],
)
def test_same_option_on_both_sides(
    path: tuple[str, ...],
    option: click.Option,
    recorded: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = LEAVES[path]
    name, args = option.opts[0], [*path, *_required(command)]
    assert run([*_words(option), *args, *_words(option, OTHER[name])]) == 2
    assert recorded == []
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"Error: {name} given twice with different values: {VALUES[name]!r} before"
        f" `gen-constraints {' '.join(path)}` and {OTHER[name]!r} after it"
    )
    assert run([*_words(option), *args, *_words(option)]) == 0  # the same value: no conflict
    assert run([*args, *_words(option)]) == 0
    assert recorded[0] == recorded[1]


@pytest.mark.parametrize("flag", ["-v", "--verbose", "-q", "--quiet"])
@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("path", list(LEAVES), ids=" ".join)
def test_verbose_and_quiet_in_either_position(
    path: tuple[str, ...], where: str, flag: str, recorded: list[dict[str, Any]]
) -> None:
    args = [*path, *_required(LEAVES[path])]
    assert run([flag, *args] if where == "before" else [*args, flag]) == 0
    assert len(recorded) == 1
    loud = flag in ("-v", "--verbose")
    assert REPORT.level == ("verbose" if loud else "quiet")


@pytest.mark.parametrize("path", list(LEAVES), ids=" ".join)
def test_verbose_and_quiet_exclude_each_other(
    path: tuple[str, ...], recorded: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*path, *_required(LEAVES[path])]
    for argv in (["-v", *args, "-q"], ["-q", *args, "-v"], [*args, "-q", "-v"]):
        assert run(argv) == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            "Error: -v/--verbose and -q/--quiet exclude each other"
        )
    assert recorded == []


def test_flags_do_not_leak_into_the_next_run(recorded: list[dict[str, Any]]) -> None:
    assert run(["-q", "detect"]) == 0
    assert run(["detect"]) == 0
    assert REPORT.level == "normal"


# The reported cases, run as users run them.


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def test_root_before_lock_check_checks_that_root(project: Path) -> None:
    done = gen("--root", project, "lock", "--check")
    assert done.returncode == 1
    assert f"alpha (CPython {PYTHON}): missing" in done.stderr
    assert done.stderr.splitlines()[-2] == "ERROR: 3 of 3 locks are stale or missing"


def test_hardware_before_explain_reads_that_file() -> None:
    done = gen("--hardware", HARDWARE / "h200-real.json", "explain", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith(f"({HARDWARE / 'h200-real.json'})")
    assert done.stdout.splitlines()[-1] == "selected: cuda132"


def test_profile_and_python_before_env_select_them() -> None:
    done = gen("--profile", "cuda130", "--python", "3.12", "env", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert f"{REPO}/generated/cuda130/py3.12.constraints.txt" in done.stdout


def test_root_before_sync_check_uses_that_root(project: Path) -> None:
    target = ("--profile", "alpha", "--python", sys.executable)
    done = gen("--root", project, "sync", "--check", *target)
    assert done.returncode == 1  # alpha (only in that root) locked on demand; drift, no wheels
    assert f"profile alpha has no committed lock for CPython {PYTHON}" in done.stderr
    assert f"--root {project}\n" in done.stderr  # the tip that fetches the wheels
    assert str(REPO / "generated") not in done.stderr


def test_strict_before_lock_is_a_usage_error(project: Path) -> None:
    done = gen("--strict", "lock", "--root", project)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: --strict was given before `gen-constraints lock`, which has no option --strict;"
        " see `gen-constraints lock --help`"
    )
    assert not (project / "generated").exists()


def test_quiet_silences_notices_not_errors(project: Path) -> None:
    loud = gen("lock", "--root", project)
    assert loud.returncode == 0 and loud.stderr.count("locked, 3 packages") == 3
    assert gen("lock", "--root", project, "--force", "-q").stderr == ""
    emitted = gen("-q", "--hardware", HARDWARE / "h200-real.json", "--python", "3.11", cwd=REPO)
    assert (emitted.returncode, emitted.stderr) == (0, "")
    assert emitted.stdout == (REPO / "generated/cuda132/py3.11.constraints.txt").read_text()
    failed = gen("-q", "lock", "--check", "--root", project / "nothing")
    assert failed.returncode == 2 and failed.stderr.startswith("ERROR: ")


# lock: several targets


def test_lock_reports_every_failure_and_every_success(project: Path) -> None:
    # pins that do not resolve together (tinylib 1.0 needs tinydep>=1), every wheel at hand in the
    # mirror folders (a pin with no wheel there is refused before uv runs: test_mirrors.py)
    build_wheel(project / "wheels", "tinydep", "0.9")
    conflict = '\ntinylib = "1.0"\ntinydep = "0.9"'
    edit(
        project / "profiles" / "beta.toml", 'torch = "2.1.0+cpu"', 'torch = "2.1.0+cpu"' + conflict
    )
    edit(project / "profiles" / "gamma.toml", 'torch = "2.0.0"', 'torch = "2.0.0"' + conflict)
    done = gen("lock", "--root", project)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    alpha = project / "generated" / "alpha" / f"py{PYTHON}.lock.txt"
    assert lines[0] == f"alpha (CPython {PYTHON}): locked, 3 packages, updated: {alpha}"
    errors = [line for line in lines if line.startswith("ERROR:")]
    assert errors == [
        f"ERROR: profile beta, CPython {PYTHON}: uv failed with exit code 1",
        f"ERROR: profile gamma, CPython {PYTHON}: uv failed with exit code 1",
        "ERROR: 2 of 3 locks failed",
    ]
    assert alpha.is_file()  # the one that resolved is written all the same
    assert not (project / "generated" / "gamma").exists()


def test_lock_names_the_file_it_cannot_write(project: Path) -> None:
    (project / "generated").mkdir()
    (project / "generated" / "gamma").symlink_to(project / "nowhere" / "gamma")
    done = gen("lock", "--root", project)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"ERROR: profile gamma, CPython {PYTHON}: cannot write {project}/generated/gamma:"
        " File exists"
    )
    assert "Traceback" not in done.stderr
    assert (project / "generated" / "alpha" / f"py{PYTHON}.lock.txt").is_file()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda g: g.write_text("not a folder\n"), ("", "File exists")),
        (lambda g: (g / ".lock").mkdir(parents=True), ("/.lock", "Is a directory")),
        (
            lambda g: (g.mkdir(), (g / "gamma").write_text("not a folder\n")),
            (f"/gamma/py{PYTHON}.lock.txt", "Not a directory"),
        ),
    ],
    ids=["generated-is-a-file", "lock-is-a-folder", "profile-folder-is-a-file"],
)
def test_os_errors_become_one_error_line(project: Path, make: Any, reason: tuple[str, str]) -> None:
    generated = project / "generated"
    make(generated)
    done = gen("lock", "--root", project)
    assert done.returncode == 2
    assert done.stderr == f"ERROR: {generated}{reason[0]}: {reason[1]}\n"


# Outside a project


def test_outside_a_project_each_command_names_the_builtin_folder(tmp_path: Path) -> None:
    done = gen("--hardware", HARDWARE / "h200-real.json", "explain", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "gen-constraints: no profiles/manifest.toml here or above; using the built-in profiles"
        f" in {builtin_root()}\n"
    )
    assert gen("--hardware", HARDWARE / "h200-real.json", "explain", cwd=REPO).stderr == ""


def test_outside_a_project_lock_refuses_to_write_into_the_builtin_folder(tmp_path: Path) -> None:
    generated = builtin_root() / "generated"
    before = sorted((p, p.stat().st_mtime_ns) for p in generated.rglob("*"))
    done = gen("lock", "--force", "cpu", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-2:] == [
        f"ERROR: no project here: {builtin_root()} holds the built-in profiles of the installed"
        " package, and lock does not write into it",
        "TIP: run it inside a repository with profiles/manifest.toml, or give --root DIR",
    ]
    assert sorted((p, p.stat().st_mtime_ns) for p in generated.rglob("*")) == before
    checked = gen("lock", "--check", cwd=tmp_path)  # reading is fine
    assert checked.returncode == 0, checked.stderr


# stdout closed or full: a real process, a real closed descriptor or full device


EMIT = ["--hardware", str(HARDWARE / "h200-real.json"), "--python", "3.11"]
WRITERS = {
    "emit": EMIT,
    "detect": ["detect"],
    "detect-json": ["detect", "--json"],
    "env": ["env", *EMIT],
}


@pytest.mark.parametrize("args", list(WRITERS.values()), ids=list(WRITERS))
def test_stdout_closed(args: list[str]) -> None:
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" >&-', sys.executable, "-m", "constraints_gen", *args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-2:] == [
        "ERROR: stdout is closed; nothing was written",
        "TIP: send it to a file or a pipe: gen-constraints ... > FILE",
    ]
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", list(WRITERS.values()), ids=list(WRITERS))
def test_stdout_full(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "constraints_gen", *args],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "ERROR: cannot write to stdout: No space left on device"
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


# Files others read get the umask's permissions


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_honours_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "new.txt", "x\n")
        (tmp_path / "old.txt").write_text("before\n")
        atomic_write(tmp_path / "old.txt", "after\n")
    finally:
        os.umask(old)
    for name, text in (("new.txt", "x\n"), ("old.txt", "after\n")):
        path = tmp_path / name
        assert (stat.S_IMODE(path.stat().st_mode), path.read_text()) == (mode, text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.txt", "old.txt"]
