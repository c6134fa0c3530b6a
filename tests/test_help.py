"""``--help`` of every command, and shell completion through the real CLI.

- Every command (the group, each subcommand, each wheelhouse subcommand) shows an ``Examples:``
  block (click's ``\\b``, so the lines stay lines), and states its exit codes where they differ
  from the general rule.
- Every example line is run as written, in bash, with ``gen-constraints`` on PATH: against the
  built-in profiles (a hardware readout from tests/data/hardware as ``h200.json``), a copy of
  this repository's profiles and locks, or a tiny project with real wheels served on loopback
  (the paths and URLs of the examples mapped into tmp_path). It must exit 0 or the exit code
  the help documents. The few examples that need the internet are listed, with the reason; an
  example that is neither run nor listed fails the test.
- Completion: click's protocol (``_GEN_CONSTRAINTS_COMPLETE=bash_complete``, ``COMP_WORDS``,
  ``COMP_CWORD``) through the installed entry point: profile names for every ``--profile`` (and
  ``lock``'s PROFILE), the project's Pythons for ``--python X.Y``, files for ``--python PATH``;
  a broken project completes nothing, silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from conftest import HARDWARE, REPO
from support.index import serve, write_simple_index
from support.sync_project import make_venv, scenario_project
from test_uvproject import indexes as indexes  # the fixture, by name
from test_uvproject import make

from constraints_gen import runner
from constraints_gen.cli import cli
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import builtin_root


def _commands() -> dict[str, click.Command]:
    """Every command by its words after ``gen-constraints`` ('' is the group itself)."""
    found: dict[str, click.Command] = {"": cli}

    def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            found[" ".join((*path, name))] = command
            if isinstance(command, click.Group):
                walk(command, click.Context(command, parent=ctx, info_name=name), (*path, name))

    walk(cli, click.Context(cli, info_name="gen-constraints"), ())
    return found


COMMANDS = _commands()


def help_text(path: str) -> str:
    ctx = click.Context(cli, info_name="gen-constraints")
    command: click.Command = cli
    for word in path.split():
        assert isinstance(command, click.Group)
        sub = command.get_command(ctx, word)
        assert sub is not None
        ctx, command = click.Context(sub, parent=ctx, info_name=word), sub
    return command.get_help(ctx)


def examples(text: str) -> list[str]:
    """The command lines of the help's ``Examples:`` block, without their ``# comments``."""
    lines = text.splitlines()
    found: list[str] = []
    for start, line in enumerate(lines):
        if line.strip() != "Examples:":
            continue
        for example in lines[start + 1 :]:
            if not example.strip():
                break
            found.append(re.sub(r"\s+#\s.*$", "", example.strip()))
    return [line for line in found if "gen-constraints" in line]


#: Commands whose exit 1 (or 2) means something of their own: their help says which.
EXIT_STATED = {"", "detect", "explain", "env", "lock", "sync", "verify", "wheelhouse fill"}
EXIT_STATED |= {"wheelhouse check", "wheelhouse prune", "plan"}
EXIT_STATED |= {"profiles generate", "profiles newer"}
EXIT_STATED |= {f"uv-project {sub}" for sub in ("write", "check", "extra", "verify")}
#: The rest follow the general rule (0 done, 2 bad input, 3 a bug), which the group states.
GENERAL_RULE = {"wheelhouse", "wheelhouse index", "profiles", "uv-project"}


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_examples(path: str) -> None:
    text = help_text(path)
    assert examples(text), f"`gen-constraints {path} --help` has no Examples: block"
    if path in EXIT_STATED:
        assert re.search(r"\b[Ee]xit (0|codes)\b", text), text


def test_every_command_is_classified_for_its_exit_codes() -> None:
    assert set(COMMANDS) == EXIT_STATED | GENERAL_RULE
    assert not EXIT_STATED & GENERAL_RULE


def test_help_without_examples_is_caught() -> None:
    """The checks above say no: no block, or example lines that click rewrapped (no \\b)."""
    bare = click.Command("bare", help="Do a thing.")
    rewrapped = click.Command(
        "rewrapped", help="Do a thing.\n\nExamples:\n  gen-constraints a\n  gen-constraints b"
    )
    kept = click.Command(
        "kept", help="Do a thing.\n\n\b\nExamples:\n  gen-constraints a  # one\n  gen-constraints b"
    )
    texts = {
        c.name: c.get_help(click.Context(c, info_name=c.name)) for c in (bare, rewrapped, kept)
    }
    assert examples(texts["bare"]) == []
    assert examples(texts["rewrapped"]) == []
    assert examples(texts["kept"]) == ["gen-constraints a", "gen-constraints b"]


# --- every example, run -------------------------------------------------------------------

#: Examples that cannot run here: they resolve against or download from the internet.
NEEDS_NETWORK = {
    "gen-constraints lock cuda130 --python 3.12 --upgrade-package transformers": "resolves on PyPI",
    "gen-constraints lock cpu --mirror pytorch-cpu=./wheels --force": "resolves on PyPI",
    "gen-constraints lock cuda130 --format pylock --output-dir .": "resolves on PyPI",
    "gen-constraints profiles newer": "reads PyPI and download.pytorch.org",
    "gen-constraints wheelhouse fill --profile cuda121_ampere --python 3.11": (
        "downloads torch 2.5.1+cu121 from download.pytorch.org"
    ),
}

#: Examples that run a cluster's own tool (not installed here); what they write is read by the
#: plan examples that follow them, which do run (test_builtin_examples_run writes their input).
NEEDS_CLUSTER = {
    "srun -N 64 --ntasks-per-node=1 -o 'readouts/%N.json' gen-constraints detect --json": "Slurm",
    "srun -N 64 --ntasks-per-node=1 --label gen-constraints detect --json | gen-constraints plan": (
        "Slurm"
    ),
    "ansible gpu -m command -a 'gen-constraints detect --json' > fleet.log": "Ansible",
}

#: Lines for another shell: run there when it is installed, else the gen-constraints part.
OTHER_SHELLS = {
    "gen-constraints env --shell fish | source": "fish",
    "gen-constraints env --shell powershell | Out-String | Invoke-Expression": "pwsh",
}

#: Against the built-in profiles, in a folder outside any project, as an H200 machine.
BUILTIN = {
    "gen-constraints > constraints.txt": 0,
    "gen-constraints --hardware h200.json": 0,
    "gen-constraints --profile cpu --python 3.11": 0,
    "gen-constraints explain": 0,
    "gen-constraints profiles newer pt_cu126 --mirror pytorch-cu126=/srv/wheels --json": 0,
    "gen-constraints explain --hardware h200.json --json": 0,
    "gen-constraints detect": 0,
    "gen-constraints detect --json > node.json": 0,
    'eval "$(gen-constraints env)"': 0,
    'eval "$(_GEN_CONSTRAINTS_COMPLETE=bash_source gen-constraints)"': 0,
    **dict.fromkeys(OTHER_SHELLS, 0),
    "gen-constraints plan readouts/": 0,  # an H200 node: it fits cuda130
    "gen-constraints plan --json fleet.log > plan.json": 0,
}

#: In a copy of this repository's profiles/ and generated/ (every committed lock fresh).
REPO_COPY = {"gen-constraints lock": 0, "gen-constraints lock --check": 0}
REPO_COPY |= {
    "gen-constraints profiles generate": 0,
    "gen-constraints profiles generate --check": 0,
}

#: In a tiny project (profile demo, real wheels served on loopback), in this order.
PROJECT = {
    "gen-constraints wheelhouse fill --prune": 0,
    "gen-constraints wheelhouse fill": 0,
    "gen-constraints wheelhouse fill --all --wheelhouse /srv/wheels": 0,
    "gen-constraints wheelhouse fill --all --wheelhouse /srv/wheels --mirror"
    " pypi=https://m/simple": 0,
    "gen-constraints wheelhouse check": 0,
    "gen-constraints wheelhouse check --json": 0,
    "gen-constraints wheelhouse check --all --json --wheelhouse /srv/wheels": 0,
    "gen-constraints wheelhouse prune --dry-run": 0,
    "gen-constraints wheelhouse prune --all --wheelhouse /srv/wheels": 0,
    "gen-constraints wheelhouse fill --plan plan.json --wheelhouse /srv/wheels": 0,
    "gen-constraints wheelhouse index wheelhouse": 0,
    "gen-constraints wheelhouse index /srv/wheels": 0,
    "gen-constraints wheelhouse index /srv/www --wheelhouse /srv/wheels": 0,
    "gen-constraints sync --check": 1,  # documented: exit 1 drift (the venv is empty)
    "gen-constraints sync --print-command": 0,
    "gen-constraints sync --python /opt/venv": 0,
    "gen-constraints sync --wheelhouse https://wheels.example/llm/simple": 0,
    "gen-constraints verify": 0,
    "gen-constraints verify --python /opt/venv --json": 0,
    "gen-constraints verify --no-deep": 0,
    "gen-constraints verify --full": 0,
}


#: In a tiny uv project (tests/test_uvproject.py's profiles and folder indexes), in this order;
#: the machine is a CPU one, node.json an A100 readout.
UV_PROJECT = {
    "gen-constraints uv-project write --fits node.json --prefix gc-": 0,
    "gen-constraints uv-project write --profile cuda126 --profile cpu": 0,
    'uv lock && uv sync --extra "$(gen-constraints uv-project extra)"': 0,
    "gen-constraints uv-project check": 0,
    "gen-constraints uv-project check --json": 0,
    "gen-constraints uv-project extra": 0,
    "gen-constraints uv-project extra --hardware node.json": 0,
    "gen-constraints uv-project verify": 0,
    "gen-constraints uv-project verify --python .venv --no-deep --json": 0,
}


def test_every_example_is_run_or_says_why_not() -> None:
    shown = {line for path in COMMANDS for line in examples(help_text(path))}
    classified = [*NEEDS_NETWORK, *NEEDS_CLUSTER, *BUILTIN, *REPO_COPY, *PROJECT, *UV_PROJECT]
    assert len(classified) == len(set(classified))
    assert shown == set(classified)


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell:
    cwd: Path
    env: Mapping[str, str]
    paths: Mapping[str, str]  # an example's path or URL -> where it is here

    def run(self, line: str, expected: int) -> None:
        for old, new in self.paths.items():
            line = line.replace(old, new)
        words = ["bash", "-c", line]
        shell = OTHER_SHELLS.get(line)
        if shell is not None:
            words = [shell, "-c", line] if shutil.which(shell) else ["bash", "-c", _left(line)]
        result = subprocess.run(words, cwd=self.cwd, env=dict(self.env), capture_output=True,
                                text=True, check=False)  # fmt: skip
        assert result.returncode == expected, (line, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr


def _left(line: str) -> str:
    """The gen-constraints part of a pipe into another shell (its output must not be empty)."""
    return f'out="$({line.split(" | ")[0]})" && test -n "$out"'


def _shell(tmp_path: Path, cwd: Path, paths: Mapping[str, str] = {}, **env: str) -> Shell:
    """``gen-constraints`` on PATH as this interpreter's, in the test's isolated environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "gen-constraints"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m constraints_gen "$@"\n')
    shim.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PIP_INDEX_URL")}
    base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
    return Shell(cwd=cwd, env={**base, **env}, paths=paths)


def test_builtin_examples_run(tmp_path: Path) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running not in BUILTIN_PROFILES.get("cuda132").pythons:  # the H200's profile
        pytest.skip(f"cuda132 has no committed lock for CPython {running} (emit would lock it)")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    shutil.copyfile(HARDWARE / "h200-real.json", cwd / "h200.json")
    shell = _shell(tmp_path, cwd, GEN_CONSTRAINTS_HARDWARE=str(cwd / "h200.json"))
    # What the cluster examples would have written: srun's file per node, ansible's log.
    (cwd / "readouts").mkdir()
    shutil.copyfile(HARDWARE / "h200-real.json", cwd / "readouts" / "gpu-a01.json")
    h200 = (HARDWARE / "h200-real.json").read_text(encoding="utf-8")
    (cwd / "fleet.log").write_text(f"gpu-a01 | CHANGED | rc=0 >>\n{h200}\n", encoding="utf-8")
    for line, code in BUILTIN.items():
        shell.run(line, code)
    written = (cwd / "constraints.txt").read_text(encoding="utf-8")
    assert "\ntorch==" in written and "--hash" not in written


def test_lock_examples_run_in_a_project(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for folder in ("profiles", "generated"):
        shutil.copytree(REPO / folder, root / folder)
    shell = _shell(tmp_path, root)
    for line, code in REPO_COPY.items():
        shell.run(line, code)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Shell]:
    root, wheels = scenario_project(tmp_path)
    venv = tmp_path / "venv"
    make_venv(venv, wheels, [])
    srv = tmp_path / "srv"
    (srv / "www").mkdir(parents=True)
    with ExitStack() as stack:
        index = stack.enter_context(
            serve(write_simple_index(wheels.glob("*.whl"), tmp_path / "ix").parent)
        )
        www = stack.enter_context(serve(srv / "www"))
        paths = {
            "/opt/venv": str(venv),
            "/srv/": f"{srv}/",
            "https://m/simple": f"{index}/simple",
            "https://wheels.example/llm/simple": f"{www}/simple",
        }
        yield _shell(
            tmp_path,
            root,
            paths,
            GEN_CONSTRAINTS_HARDWARE=str(HARDWARE / "cpu.json"),
            GEN_CONSTRAINTS_MIRRORS=f"pypi={index}/simple",
            VIRTUAL_ENV=str(venv),
        )


def test_install_examples_run_in_a_project(project: Shell) -> None:
    project.run(f"gen-constraints plan --json {HARDWARE / 'cpu.json'} > plan.json", 0)
    for line, code in PROJECT.items():
        project.run(line, code)


def test_uv_project_examples_run(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    indexes: dict[str, str] = request.getfixturevalue("indexes")
    project = make(tmp_path, indexes)
    shell = _shell(
        tmp_path,
        project,
        {"node.json": str(HARDWARE / "a100-r570.json")},
        GEN_CONSTRAINTS_ROOT=str(tmp_path / "gc"),
        GEN_CONSTRAINTS_HARDWARE=str(HARDWARE / "cpu.json"),
        UV_DEFAULT_INDEX=indexes["pypi"],
    )
    path = f"{Path(runner.uv_bin()).parent}{os.pathsep}{shell.env['PATH']}"  # uv, as installed
    shell = Shell(cwd=shell.cwd, env={**shell.env, "PATH": path}, paths=shell.paths)
    for line, code in UV_PROJECT.items():
        shell.run(line, code)


# --- shell completion ---------------------------------------------------------------------


def complete(*words: str, cwd: Path, env: Mapping[str, str] = {}) -> tuple[list[str], str]:
    """(the completions, stderr) of the last word of ``gen-constraints WORDS``, as bash asks."""
    line = ["gen-constraints", *words]
    environ = {k: v for k, v in os.environ.items() if k != "GEN_CONSTRAINTS_ROOT"}
    environ |= {"_GEN_CONSTRAINTS_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(line)}
    environ |= {"COMP_CWORD": str(len(line) - 1), **env}
    result = subprocess.run(
        [sys.executable, "-m", "constraints_gen"], cwd=cwd, env=environ, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [item.partition(",")[2] for item in result.stdout.splitlines() if item], result.stderr


BUILTIN_PROFILES = load_profiles(builtin_root() / "profiles")
NAMES = [p.name for p in BUILTIN_PROFILES.profiles]


def _profile_options() -> list[tuple[str, str]]:
    """(command, option) of every option that takes a profile name, and lock's argument."""
    found = []
    for path, command in COMMANDS.items():
        for param in command.params:
            if "--profile" in param.opts or (path == "lock" and param.name == "names"):
                found.append((path, param.opts[0] if isinstance(param, click.Option) else ""))
    return found


PROFILE_OPTIONS = _profile_options()


def test_the_completion_matrix_covers_every_profile_option() -> None:
    paths = {path for path, _ in PROFILE_OPTIONS}
    assert paths == {"", "env", "lock", "sync", "verify", "uv-project write"} | {
        f"wheelhouse {sub}" for sub in ("fill", "check", "prune")
    }


@pytest.mark.parametrize(("path", "option"), PROFILE_OPTIONS)
def test_profile_names_complete(path: str, option: str, tmp_path: Path) -> None:
    words = [*path.split(), *([option] if option else [])]
    everything, stderr = complete(*words, "", cwd=tmp_path)
    assert everything == NAMES and stderr == ""
    assert "cuda130" in everything and "llm-stack" not in everything  # abstract: not offered
    some, _ = complete(*words, "cuda13", cwd=tmp_path)
    assert some == [n for n in NAMES if n.startswith("cuda13")] and some


def test_profile_names_come_from_the_project_given_by_root(tmp_path: Path) -> None:
    root, _ = scenario_project(tmp_path)
    assert complete("--profile", "", cwd=tmp_path, env={"GEN_CONSTRAINTS_ROOT": str(root)})[0] == [
        "demo"
    ]
    assert complete("--root", str(root), "wheelhouse", "fill", "--profile", "", cwd=tmp_path)[
        0
    ] == ["demo"]
    assert complete("sync", "--root", str(root), "--profile", "d", cwd=tmp_path)[0] == ["demo"]
    assert complete("sync", "--profile", "", cwd=root / "profiles")[0] == ["demo"]  # found upward


def test_a_broken_project_completes_nothing_and_says_nothing(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "manifest.toml").write_text("[requirements\n", encoding="utf-8")
    (root / "profiles" / "gpu.toml").write_text('name = "gpu"\n', encoding="utf-8")
    for words in (
        ["--profile", ""],
        ["lock", ""],
        ["--python", ""],
        ["--root", "/nowhere", "env", "--profile", ""],
    ):
        assert complete(*words, cwd=root) == ([], "")


def test_a_group_option_the_subcommand_lacks_still_completes(tmp_path: Path) -> None:
    """`gen-constraints --strict lock` is a usage error when run; completing it says nothing."""
    names, stderr = complete("--strict", "lock", "cuda13", cwd=tmp_path)
    assert (names, stderr) == ([n for n in NAMES if n.startswith("cuda13")], "")


def test_python_versions_complete(tmp_path: Path) -> None:
    every = sorted({v for p in BUILTIN_PROFILES.profiles for v in p.pythons})
    assert complete("--python", "", cwd=tmp_path)[0] == every
    cpu = list(BUILTIN_PROFILES.get("cpu").pythons)
    assert complete("--profile", "cpu", "--python", "", cwd=tmp_path)[0] == cpu
    assert (
        complete("wheelhouse", "check", "--profile", "cpu", "--python", "3", cwd=tmp_path)[0] == cpu
    )
    # lock's PROFILE arguments before it are lost when click parses a half-typed option, so
    # there it offers every profile's Pythons
    assert complete("lock", "cpu", "--python", "", cwd=tmp_path)[0] == every
    assert complete("--python", "9", cwd=tmp_path)[0] == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("sync --python .ve", "file,.ve\n"),
        ("verify --python .ve", "file,.ve\n"),
        ("sync --wheelhouse wh", "dir,wh\n"),
    ],
)
def test_paths_complete_as_files_or_folders(words: str, expected: str, tmp_path: Path) -> None:
    """The shell is told to complete file (or folder) names itself: click's "file"/"dir"."""
    line = f"gen-constraints {words}"
    result = subprocess.run(
        [sys.executable, "-m", "constraints_gen"],
        env={**os.environ, "_GEN_CONSTRAINTS_COMPLETE": "bash_complete", "COMP_WORDS": line,
             "COMP_CWORD": str(len(line.split()) - 1)},
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_for_each_shell(shell: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "constraints_gen"],
        env={**os.environ, "_GEN_CONSTRAINTS_COMPLETE": f"{shell}_source"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "_GEN_CONSTRAINTS_COMPLETE" in result.stdout
    assert "_gen_constraints_completion" in result.stdout


def test_emit_does_not_load_completion() -> None:
    """The callbacks are imported only while completing: emit's imports are unchanged."""
    probe = (
        "import io, sys\nfrom constraints_gen.cli import main\nsys.stdout = io.StringIO()\n"
        f"try:\n    main(['--hardware', {str(HARDWARE / 'h200-real.json')!r},"
        " '--python', '3.11'])\n"
        "except SystemExit as exit:\n"
        "    loaded = sorted(m for m in ('constraints_gen.cli.complete', 'click.shell_completion',"
        " 'constraints_gen.profiles.model') if m in sys.modules)\n"
        "    sys.__stdout__.write(f'{exit.code} {loaded}\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout == "0 ['constraints_gen.profiles.model']\n", result.stderr
