"""``gen-constraints verify``: is the environment the lock, does it import, does torch run?"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from constraints_gen.cli.core import (
    choose_profile,
    complete_with,
    hardware_option,
    json_option,
    profile_option,
    root_option,
    write_out,
)
from constraints_gen.errors import EXIT_FAILURE
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.install.findings import Report
    from constraints_gen.install.noop import Lookup
    from constraints_gen.install.sync import Environment
    from constraints_gen.profiles.model import ProfileSet

F = TypeVar("F", bound=Callable[..., Any])

NO_DEEP_HELP = "Skip the check of each installed file against its RECORD (sha256 and size)."
FULL_HELP = (
    "Ignore the state of the last verify: hash every file and run every probe (default: only"
    " what changed since, found by a stat of every file and folder it checked)."
)


def environment_options(func: F) -> F:
    """The options that name an environment and its profile (`verify`, `sync`): --root,
    --hardware, --profile NAME, --python PATH."""
    for option in reversed(
        (
            root_option,
            hardware_option,
            profile_option,
            click.option(
                "--python",
                metavar="PATH",
                shell_complete=complete_with("interpreter_paths"),
                help="The target interpreter or venv folder (default: the active venv,"
                " $VIRTUAL_ENV).",
            ),
        )
    ):
        func = option(func)
    return func


@click.command("verify")
@environment_options
@click.option("--no-deep", is_flag=True, help=NO_DEEP_HELP)
@click.option("--full", is_flag=True, help=FULL_HELP)
@json_option
def verify_cmd(
    root: Path | None,
    hardware_file: Path | None,
    profile: str | None,
    python: str | None,
    no_deep: bool,
    full: bool,
    as_json: bool,
) -> None:
    """Verify an environment against the profile's lock, in its own interpreter.

    Every locked package is installed at its exact version (local labels count: 2.5.1+cu124 is
    not 2.5.1+cu121) and its files match its RECORD (a half-written install fails here; `sync`
    reinstalls it); the profile's imports ([verify] imports, default: the top-level modules of
    the pinned stack) succeed; for a GPU profile (NVIDIA, Jetson, AMD, Intel, Apple) on a machine
    with GPUs of its vendor, torch's version and its CUDA, ROCm, XPU or MPS build fit every
    such GPU and a tiny operation runs on each (skipped, with a notice, without one). A passing
    verify keeps what it checked (each file's and folder's identity, in the user cache): the next
    one hashes only the packages whose files, RECORD or folders changed since, and runs no probe
    when nothing did; --full does it all. Exit 0 verified, 1 not verified (each failure listed on
    stdout), 2 could not run.

    \b
    Examples:
      gen-constraints verify                          # the active venv
      gen-constraints verify --python /opt/venv --json
      gen-constraints verify --no-deep                # versions and imports only
      gen-constraints verify --full                   # every file hashed, every probe run
    """
    from constraints_gen.install import noop

    found = noop.lookup(
        "verify", root=root, hardware_file=hardware_file, profile=profile, python=python
    )
    report = None
    if found.hit is not None and not (no_deep or full):
        report = noop.verify(found.hit, found)
    if report is None:
        from constraints_gen.install.repair import verify_env

        profiles, env = noop.resolve(
            found, lambda: environment(found, hardware_file, profile, python)
        )
        report = verify_env(env, profiles.manifest, found.machine, deep=not no_deep, full=full)
    if as_json:
        write_out(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        write_out("".join(f"{f.check}: {f.message}\n" for f in report.findings))
    finish(report)


def environment(
    found: Lookup, hardware_file: Path | None, profile: str | None, python: str | None
) -> tuple[ProfileSet, Environment]:
    """The profiles and the environment a command works on, worked out in full."""
    from constraints_gen.install.sync import environment as target_environment

    project, profiles, chosen = choose_profile(
        found.project.root, hardware_file, profile, found.project, found.detected
    )
    return profiles, target_environment(project, profiles, chosen, python)


def finish(report: Report, *, prefix: str = "") -> None:
    """The notices and the verdict on stderr; exit 1 when not verified."""
    for notice in report.notices:
        REPORT.notice(notice)
    where = f"profile {report.profile}, CPython {report.python}, {report.environment}"
    if report.ok:
        REPORT.notice(f"verified ({where}): {report.summary()}")
        return
    for finding in report.findings if prefix else ():
        REPORT.always(f"{prefix}{finding.check}: {finding.message}")
    count = len(report.findings)
    REPORT.always(f"gen-constraints: NOT verified ({where}): {count} failures")
    raise click.exceptions.Exit(EXIT_FAILURE)
