"""``gen-constraints sync``: make an environment match the profile's lock, offline, with uv."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import click

from constraints_gen.cli.core import (
    choose_profile,
    hardware_option,
    json_option,
    root_option,
    write_out,
)
from constraints_gen.cli.verify import NO_DEEP_HELP, verify_synced
from constraints_gen.cli.wheelhouse import WHEELHOUSE_ENV, fill_command
from constraints_gen.errors import EXIT_FAILURE, ConstraintsGenError, ToolError


@click.command("sync")
@root_option
@hardware_option
@click.option("--profile", metavar="NAME", help="Use this profile instead of selecting.")
@click.option(
    "--python",
    metavar="PATH",
    help="The target interpreter or venv folder (default: the active venv, $VIRTUAL_ENV).",
)
@click.option(
    "--wheelhouse",
    default="wheelhouse",
    show_default=True,
    envvar=WHEELHOUSE_ENV,
    metavar="DIR|URL",
    help="A folder of wheels, or the URL of a served index (`wheelhouse index`).",
)
@click.option("--check", is_flag=True, help="Only report drift (exit 1); change nothing.")
@click.option("--print-command", is_flag=True, help="Print the uv command line instead.")
@click.option("--no-deep", is_flag=True, help=NO_DEEP_HELP)
@json_option
def sync_cmd(
    root: Path | None,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    wheelhouse: str,
    check: bool,
    print_command: bool,
    no_deep: bool,
    as_json: bool,
) -> None:
    """Install the profile's exact lock into an environment with `uv pip sync`, from the wheelhouse.

    uv installs, replaces (local labels count: 2.5.1+cu124 is not 2.5.1+cu121) and removes
    packages until the environment is the lock; --check only reports that drift. Then it runs
    `gen-constraints verify` and reinstalls any package whose files differ from its RECORD.
    Exit 0 in sync (and verified), 1 drift (--check) or not verified, 2 errors.

    \b
    Examples:
      gen-constraints sync --check                     # is the active venv the lock?
      gen-constraints sync --python /opt/venv          # install offline from ./wheelhouse
      gen-constraints sync --wheelhouse https://wheels.example/llm/simple
      gen-constraints sync --print-command             # the uv command, for your own scripts
    """
    from constraints_gen import lockfile, sync, verify
    from constraints_gen.wheelhouse import read_lock

    project, profiles, chosen = choose_profile(root, hardware, profile)
    target = sync.interpreter(python)
    version = sync.python_version(target)
    lock = read_lock(project, chosen, version)
    expected = lockfile.fingerprint(chosen, profiles.manifest, version)
    if not lockfile.lock_is_fresh(lock.path, expected):
        click.echo(
            f"gen-constraints: warning: {lock.path} is stale (refresh: gen-constraints lock"
            f" {chosen.name})",
            err=True,
        )
    if print_command:
        write_out(shlex.join(sync.uv_args(lock.path, target, wheelhouse, check=check)) + "\n")
        return

    def require_wheels() -> None:
        missing = sync.missing_wheels(lock, wheelhouse)
        if missing:
            fix = fill_command(Path(wheelhouse), root, [chosen.name])
            if "://" in wheelhouse:
                fix = f"{fix.replace(f'--wheelhouse {wheelhouse}', '--wheelhouse DIR')}, then"
                fix += " `gen-constraints wheelhouse index DIR` and serve DIR"
            raise ConstraintsGenError(
                f"wheelhouse {wheelhouse} lacks {len(missing)} wheels of profile {chosen.name}"
                f" (CPython {version}): {', '.join(missing)}",
                tip=f"fill it: {fix}",
            )

    try:
        changes = sync.check_drift(sync.uv_args(lock.path, target, wheelhouse, check=True))
    except ToolError:
        require_wheels()  # a missing wheel, said plainly, rather than uv's resolver error
        raise
    applied = False
    if changes and not check:
        require_wheels()
        report = sync.sync(sync.uv_args(lock.path, target, wheelhouse))
        click.echo(report.rstrip("\n"), err=True)
        applied = True
    if as_json:
        payload = {
            "version": 1,
            "profile": chosen.name,
            "python": version,
            "environment": str(target),
            "lock": str(lock.path),
            "wheelhouse": wheelhouse,
            "in_sync": applied or not changes,
            "applied": applied,
            "changes": [
                {"name": c.name, "action": c.action, "installed": c.old, "locked": c.new}
                for c in changes
            ],
        }
        write_out(json.dumps(payload, indent=2) + "\n")
    else:
        write_out("".join(c.describe() + "\n" for c in changes))
    if not check:  # what uv installed, checked in the target; half-written packages reinstalled

        def reinstall(names: Sequence[str]) -> None:
            require_wheels()
            args = verify.reinstall_args(sync.uv_args(lock.path, target, wheelhouse), names)
            click.echo(sync.sync(args).rstrip("\n"), err=True)

        verify_synced(chosen, profiles.manifest, lock.packages, target, version, hardware,
                      deep=not no_deep, reinstall=reinstall)  # fmt: skip
    where = f"profile {chosen.name}, CPython {version}, {target}"
    if not changes:
        click.echo(f"gen-constraints: in sync ({where}, {len(lock.packages)} packages)", err=True)
        return
    counts = [sum(c.action == a for c in changes) for a in ("install", "replace", "remove")]
    if applied:
        done = "{} installed, {} replaced, {} removed".format(*counts)
        click.echo(f"gen-constraints: synced ({where}): {done}", err=True)
        return
    drift = "{} to install, {} to replace, {} to remove".format(*counts)
    click.echo(f"gen-constraints: drift ({where}): {drift}", err=True)
    raise click.exceptions.Exit(EXIT_FAILURE)
