"""The commands of the main pipeline: emit (default), detect, explain."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from constraints_gen.profiles.choose import HARDWARE_ENV as HARDWARE_ENV
from constraints_gen.profiles.choose import choose_profile as choose_profile
from constraints_gen.profiles.choose import read_machine as read_machine
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.locks.emit import Emitted

F = TypeVar("F", bound=Callable[..., Any])

WHEELHOUSE_ENV = "GEN_CONSTRAINTS_WHEELHOUSE"  # here, not in cli/wheelhouse.py: sync needs it cheap


def root_option(func: F) -> F:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="GEN_CONSTRAINTS_ROOT",
        help="Project folder holding profiles/ and generated/ (default: found from the current"
        " directory upward, else the built-in profiles).",
    )(func)


def hardware_option(func: F) -> F:
    return click.option(
        "--hardware",
        "hardware_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Read the machine from a JSON file (as `detect --json` writes) instead of NVML."
        f" Also ${HARDWARE_ENV}.",
    )(func)


def _mirrors(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    if not values and not os.environ.get("GEN_CONSTRAINTS_MIRRORS", "").strip(", "):
        return {}  # nothing to parse: config.py (and tomllib) stay unloaded, as lock --check wants
    from constraints_gen.profiles.config import mirrors_from_env, parse_mirrors

    return {**mirrors_from_env(), **parse_mirrors(values, "--mirror")}


def mirror_option(func: F) -> F:
    """``--mirror INDEX=URL|DIR`` (repeatable), merged over $GEN_CONSTRAINTS_MIRRORS: a dict."""
    return click.option(
        "--mirror",
        multiple=True,
        callback=_mirrors,
        metavar="INDEX=URL|DIR",
        help="Take a profile index (or pypi, the default index) from elsewhere: a URL, or a"
        " folder of wheels. Wins over $GEN_CONSTRAINTS_MIRRORS and [mirrors] in"
        " constraints-gen.toml.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def complete_with(values: str) -> Callable[[click.Context, click.Parameter, str], Any]:
    """A shell_complete callback from :mod:`constraints_gen.cli.complete`, imported only while
    completing (the emit path imports nothing more)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
        from constraints_gen.cli import complete as found

        return getattr(found, values)(ctx, param, incomplete)

    return complete


def profile_option(func: F) -> F:
    return click.option(
        "--profile",
        metavar="NAME",
        shell_complete=complete_with("profile_names"),
        help="Use this profile instead of selecting.",
    )(func)


def emit_options(func: F) -> F:
    for option in (
        root_option,
        hardware_option,
        profile_option,
        click.option(
            "--python",
            metavar="X.Y",
            shell_complete=complete_with("python_versions"),
            help="Target CPython version (default: the running one).",
        ),
        click.option("--strict", is_flag=True, help="Fail when the lock is stale."),
    ):
        func = option(func)
    return func


def write_out(text: str) -> None:
    """Write the whole text at once: nothing partial ever reaches stdout unnoticed."""
    from constraints_gen.cli.output import write_out

    write_out(text)


def resolve_emit(
    *,
    root: Path | None,
    hardware_file: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
) -> Emitted:
    """Select (or take) the profile and find its constraints; a notice names the file."""
    from constraints_gen.locks.emitrun import emitted

    result = emitted(
        root=root, hardware=hardware_file, profile=profile, python=python, strict=strict
    )
    REPORT.notice(f"profile {result.profile.name}, CPython {result.python} ({result.path})")
    return result


def run_emit(
    *,
    root: Path | None,
    hardware_file: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
) -> None:
    """Emit (the default command): the answer (constraints_gen.locks.emitrun) on stdout, which
    file it is on stderr."""
    from constraints_gen.locks.emitrun import answer_emit

    answer = answer_emit(
        root=root, hardware=hardware_file, profile=profile, python=python, strict=strict
    )
    REPORT.notice(answer.describe())
    write_out(answer.text)


@click.command("detect")
@json_option
def detect_cmd(as_json: bool) -> None:
    """Read this machine: platform, GPUs of every vendor, NVIDIA driver.

    NVIDIA through NVML, Jetson from /etc/nv_tegra_release, AMD from the kernel's KFD topology,
    Intel discrete GPUs from PCI, Apple Silicon through sysctl. Notes go to stderr. Exit 0 read
    (no GPU library, driver or device: a CPU machine), 2 when a GPU that the driver lists cannot
    be described (never a CPU machine).

    \b
    Examples:
      gen-constraints detect
      gen-constraints detect --json > node.json   # replay later with --hardware node.json
    """
    from constraints_gen.detect.machine import detect

    detected = detect()
    for note in detected.notes:
        REPORT.always(f"gen-constraints: note: {note}")
    for problem in detected.problems:
        REPORT.always(f"gen-constraints: warning: {problem}")
    hardware = detected.hardware
    if as_json:
        import json

        write_out(json.dumps(hardware.to_json(), indent=2) + "\n")
    else:
        write_out(hardware.describe() + "\n")


@click.command("explain")
@root_option
@hardware_option
@json_option
def explain_cmd(root: Path | None, hardware_file: Path | None, as_json: bool) -> None:
    """Show every profile, whether it fits this machine, and why.

    Exit 0 even when no profile fits (the reasons say why; emit exits 1 then), 2 bad input.

    \b
    Examples:
      gen-constraints explain
      gen-constraints explain --hardware h200.json --json
    """
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project
    from constraints_gen.profiles.select import change_text, nearest_changes, select

    profiles = load_profiles(find_project(root).profiles_dir)
    selection = select(profiles, read_machine(hardware_file))
    if as_json:
        import json

        write_out(json.dumps({"version": 1, **selection.to_json()}, indent=2) + "\n")
        return
    lines = [selection.hardware.describe(), ""]
    for verdict in selection.verdicts:
        chosen = verdict.profile is selection.chosen
        mark = "*" if chosen else ("+" if verdict.fits else "-")
        status = "selected" if chosen else ("fits" if verdict.fits else "does not fit")
        if verdict.lost is not None and not chosen:
            status = verdict.lost
        elif verdict.changes:
            status += f"; {change_text(verdict.changes)} would run it"
        lines.append(f"{mark} {verdict.profile.name}: {status}")
        lines += [f"    {reason}" for reason in verdict.reasons]
    lines.append("")
    lines.append(
        f"selected: {selection.chosen.name}"
        if selection.chosen
        else "selected: none (no profile fits; see the reasons above)"
    )
    if selection.chosen is None:
        lines += [f"  would fit: {change}" for change in nearest_changes(selection)]
    write_out("\n".join(lines) + "\n")
