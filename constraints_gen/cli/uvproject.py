"""``gen-constraints uv-project``: each GPU's exact torch build as a conflicting extra of a uv
project (write, check, extra, verify). The work is in :mod:`constraints_gen.locks.uvproject`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from constraints_gen.cli.core import (
    complete_with,
    hardware_option,
    json_option,
    mirror_option,
    read_machine,
    root_option,
    write_out,
)
from constraints_gen.errors import EXIT_FAILURE, EXIT_INPUT, InputError
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.profiles.model import Profile, ProfileSet


def project_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--project",
        "project",
        type=click.Path(path_type=Path),
        default=Path("."),
        show_default=True,
        help="The uv project: its folder, or its pyproject.toml.",
    )(func)


def _pyproject(project: Path) -> Path:
    path = project / "pyproject.toml" if project.is_dir() else project
    if not path.is_file():
        raise InputError([f"{path}: no such file (a uv project's pyproject.toml)"])
    return path


def _profiles(path: Path, root: Path | None) -> ProfileSet:
    """The profiles of --root, else of the root the block's record names (write's), else the
    one found from here: every subcommand finds the same ones."""
    from constraints_gen.locks.uvproject import find_root
    from constraints_gen.profiles.load import load_profiles

    return load_profiles(find_root(path, root).profiles_dir)


@click.group("uv-project")
def uv_project_cmd() -> None:
    """Write each profile's exact torch build into a uv project as a conflicting extra.

    uv's PyTorch recipe (one extra per accelerator, [tool.uv] conflicts, explicit indexes,
    per-extra sources), made from the profiles and kept inside the project's own torch range.

    Each subcommand's help states its exit codes.

    \b
    Examples:
      gen-constraints uv-project write --profile cuda126 --profile cpu
      uv lock && uv sync --extra "$(gen-constraints uv-project extra)"
      gen-constraints uv-project verify           # the project's .venv
      gen-constraints uv-project check            # fresh, stale or edited
    """


@uv_project_cmd.command("write")
@project_option
@root_option
@click.option(
    "--profile",
    "names",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_with("profile_names"),
    help="A profile (repeatable).",
)
@click.option("--all", "all_", is_flag=True, help="Every profile.")
@click.option(
    "--fits",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Every profile that fits one of these machine readouts (detect --json); repeatable.",
)
@click.option("--prefix", default="", help="Put this before each extra's and index's name.")
@click.option(
    "--with-stack",
    is_flag=True,
    help="Also pin the profile's LLM-stack pins in each extra (default: the project decides).",
)
@click.option("--force", is_flag=True, help="Rewrite a block that was edited by hand.")
@mirror_option
def write_cmd(
    project: Path,
    root: Path | None,
    names: tuple[str, ...],
    all_: bool,
    fits: tuple[Path, ...],
    prefix: str,
    with_stack: bool,
    force: bool,
    mirror: dict[str, str],
) -> None:
    """Write (or refresh) the block in pyproject.toml; nothing else in it changes.

    Each extra pins the hardware layer of its profile (torch, torchvision/torchaudio where the
    project uses them, triton, the CUDA/ROCm runtime packages) exactly, at the newest build
    for the profile's hardware that the project's requirements allow (found with uv lock).
    Exit 0 written or unchanged, 2 refused (nothing written: the reasons name the key).

    The profiles' root is recorded in the block, so that check, extra and verify find the same
    profiles without --root. Mirrors ([mirrors] in constraints-gen.toml, --mirror) are read
    where the profiles' indexes (and pypi) are, as lock reads them; the block still names each
    profile's published index (uv lock --index NAME=URL reads a URL mirror of it).

    \b
    Examples:
      gen-constraints uv-project write --fits node.json --prefix gc-   # what fits these machines
      gen-constraints uv-project write --profile cuda126 --profile cpu
    """
    from constraints_gen.locks.uvproject import WriteOptions, find_root, root_text, write
    from constraints_gen.profiles.config import project_mirrors
    from constraints_gen.profiles.load import load_profiles

    path = _pyproject(project)
    found = find_root(path, root)
    profiles = load_profiles(found.profiles_dir)
    chosen = _chosen(profiles, names, all_, fits)
    command = ["gen-constraints", "uv-project", "write"]
    for profile in chosen:
        command += ["--profile", profile.name]
    if prefix:
        command += ["--prefix", prefix]
    if with_stack:
        command.append("--with-stack")
    options = WriteOptions(
        prefix=prefix,
        with_stack=with_stack,
        force=force,
        command=shlex.join(command),
        root=root_text(path, found),
        mirrors=project_mirrors(found.root, mirror),
    )
    result = write(path, chosen, options)
    for message in result.notices:
        REPORT.notice(message)
    extras = ", ".join(
        f"{e.name} (torch {next(r.version for r in e.requirements if r.name == 'torch')})"
        for e in result.block.extras
    )
    REPORT.notice(f"{'wrote' if result.changed else 'unchanged'}: {path}: {extras}")


def _chosen(
    profiles: ProfileSet, names: tuple[str, ...], all_: bool, fits: tuple[Path, ...]
) -> list[Profile]:
    if sum(map(bool, (names, all_, fits))) != 1:
        raise click.UsageError("name the profiles: --profile NAME (repeatable), --all or --fits")
    if all_:
        return list(profiles.profiles)
    if names:
        return [profiles.get(name) for name in dict.fromkeys(names)]
    from constraints_gen.detect.hardware import load_hardware
    from constraints_gen.profiles.select import evaluate

    chosen: dict[str, Profile] = {}
    for readout in fits:
        hardware = load_hardware(readout)
        for profile in profiles.profiles:
            if evaluate(profile, hardware).fits:
                chosen.setdefault(profile.name, profile)
    if not chosen:
        raise InputError([f"{', '.join(map(str, fits))}: no profile fits these machines"])
    return list(chosen.values())


@uv_project_cmd.command("check")
@project_option
@root_option
@json_option
def check_cmd(project: Path, root: Path | None, as_json: bool) -> None:
    """Is the block as written and made from today's profiles, and does uv.lock agree?

    Offline: no resolver, no network. Exit 0 fresh, 1 stale (a profile changed, or uv.lock
    locks other versions than the block pins), 2 edited by hand (or no block).

    \b
    Examples:
      gen-constraints uv-project check
      gen-constraints uv-project check --json
    """
    from constraints_gen.locks.uvproject import check

    path = _pyproject(project)
    result = check(path, _profiles(path, root))
    if as_json:
        payload = {
            "version": 1,
            "state": result.state,
            "reasons": list(result.reasons),
            "notes": list(result.notes),
        }
        write_out(json.dumps(payload, indent=2) + "\n")
    for line in (*result.notes, *result.reasons):
        REPORT.notice(line)
    REPORT.notice(f"{result.state}: {result.path}")
    if result.state != "fresh":
        raise click.exceptions.Exit(EXIT_INPUT if result.state == "edited" else EXIT_FAILURE)


@uv_project_cmd.command("extra")
@project_option
@root_option
@hardware_option
def extra_cmd(project: Path, root: Path | None, hardware_file: Path | None) -> None:
    """Print the block's extra for this machine (or --hardware FILE).

    For scripts: uv sync --extra "$(gen-constraints uv-project extra)". Exit 0 printed, 1 when
    no extra fits, with the reasons (never an empty line, which would sync without one).

    \b
    Examples:
      gen-constraints uv-project extra
      gen-constraints uv-project extra --hardware node.json
    """
    from constraints_gen.locks.uvproject import pick

    path = _pyproject(project)
    chosen = pick(path, _profiles(path, root), read_machine(hardware_file))
    REPORT.notice(f"extra {chosen.extra}: profile {chosen.profile.name}")
    write_out(chosen.extra + "\n")


@uv_project_cmd.command("verify")
@project_option
@root_option
@hardware_option
@click.option("--extra", metavar="NAME", help="The extra synced (default: this machine's).")
@click.option(
    "--python",
    metavar="PATH",
    help="The environment: an interpreter or venv folder (default: the project's .venv).",
)
@click.option("--no-deep", is_flag=True, help="Skip the check of each file against its RECORD.")
@json_option
def verify_cmd(
    project: Path,
    root: Path | None,
    hardware_file: Path | None,
    extra: str | None,
    python: str | None,
    no_deep: bool,
    as_json: bool,
) -> None:
    """Verify the project's environment has its extra's exact builds, and torch runs.

    Exit 0 verified, 1 not verified (each failure on stdout), 2 could not run.

    \b
    Examples:
      gen-constraints uv-project verify
      gen-constraints uv-project verify --python .venv --no-deep --json
    """
    from constraints_gen.cli.verify import finish
    from constraints_gen.install.uvproject import verify_project
    from constraints_gen.locks.uvproject import pick, read_block

    path = _pyproject(project)
    profiles = _profiles(path, root)
    if extra is None:
        chosen = pick(path, profiles, read_machine(hardware_file))
        extra, profile_name = chosen.extra, chosen.profile.name
    else:
        _, record = read_block(path)
        profile_name = dict(record.extras).get(extra, "")
        if not profile_name:
            raise InputError([f"{path}: --extra {extra}: not an extra of the block"])
    report = verify_project(
        path,
        profiles,
        extra=extra,
        profile_name=profile_name,
        python=python,
        read_machine=lambda: read_machine(hardware_file),
        deep=not no_deep,
    )
    if as_json:
        write_out(json.dumps({**report.to_json(), "extra": extra}, indent=2) + "\n")
    else:
        write_out("".join(f"{f.check}: {f.message}\n" for f in report.findings))
    finish(report)
