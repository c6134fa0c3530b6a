"""``gen-constraints sync``: make an environment match the profile's lock, offline, with uv."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from constraints_gen.cli.core import (
    WHEELHOUSE_ENV,
    choose_profile,
    complete_with,
    json_option,
    write_out,
)
from constraints_gen.cli.verify import (
    FULL_HELP,
    NO_DEEP_HELP,
    environment_options,
    finish,
    prepare_synced,
    verify_synced,
)
from constraints_gen.cli.wheelhouse import fill_command
from constraints_gen.errors import EXIT_FAILURE, ConstraintsGenError, ToolError
from constraints_gen.reporter import REPORT


def printed_command(args: Sequence[str], env: Mapping[str, str | None]) -> str:
    """The line ``--print-command`` prints: it runs as printed. The ambient settings ``env``
    clears that are set here become ``env -u NAME``; a username becomes ``NAME=VALUE``; a
    password is never printed (uv reads it from the same variable, exported by the user, or
    from ~/.netrc), and a notice says which variable to export."""
    import os

    unset = [word for key, value in env.items() if value is None and key in os.environ
             for word in ("-u", key)]  # fmt: skip
    users = [f"{key}={value}" for key, value in env.items()
             if value is not None and key.endswith("_USERNAME")]  # fmt: skip
    secrets = [key for key, value in env.items() if value and key.endswith("_PASSWORD")]
    for key in secrets:
        REPORT.warning(
            f"the password is not printed: export {key} (or put it in ~/.netrc) before running"
            " the command"
        )
    prefix = ["env", *unset, *users] if unset or users else []
    return shlex.join([*prefix, *args]) + "\n"


@click.command("sync")
@environment_options
@click.option(
    "--wheelhouse",
    default="wheelhouse",
    show_default=True,
    envvar=WHEELHOUSE_ENV,
    metavar="DIR|URL",
    shell_complete=complete_with("folders"),
    help="A folder of wheels (a path or a file:// URL), or the URL of a served index"
    " (`wheelhouse index`).",
)
@click.option("--check", is_flag=True, help="Only report drift (exit 1); change nothing.")
@click.option(
    "--print-command",
    is_flag=True,
    help="Print the uv command line instead; it runs as printed (in a POSIX shell). It clears"
    " the uv and pip settings that would send uv elsewhere (env -u), and never holds a password:"
    " for a --wheelhouse URL with credentials it sets UV_INDEX_WHEELHOUSE_USERNAME and uv reads"
    " the password from $UV_INDEX_WHEELHOUSE_PASSWORD (export it) or ~/.netrc.",
)
@click.option("--no-deep", is_flag=True, help=NO_DEEP_HELP)
@click.option("--full", is_flag=True, help=FULL_HELP)
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
    full: bool,
    as_json: bool,
) -> None:
    """Install the profile's exact lock into an environment with `uv pip sync`, from the wheelhouse.

    uv installs, replaces (local labels count: 2.5.1+cu124 is not 2.5.1+cu121) and removes
    packages until the environment is the lock; --check only reports that drift, and does so
    even when the wheelhouse lacks wheels (it then names them, and the command that fetches
    them). Then it runs `gen-constraints verify` and reinstalls any package whose files differ
    from its RECORD (only what changed since the last verify is read again: see `verify`;
    --full reads it all). A profile without a committed lock is locked on demand first, exactly as
    emit does. Exit 0 in sync (and verified), 1 drift (--check) or not verified, 2 errors (for
    sync, a wheelhouse that lacks wheels).

    \b
    Examples:
      gen-constraints sync --check                     # is the active venv the lock?
      gen-constraints sync --python /opt/venv          # install offline from ./wheelhouse
      gen-constraints sync --wheelhouse https://wheels.example/llm/simple
      gen-constraints sync --print-command             # the uv command, for your own scripts
    """
    from constraints_gen.install import sync
    from constraints_gen.profiles.config import local_folder

    project, profiles, picked = choose_profile(root, hardware, profile)
    env = sync.environment(project, profiles, picked, python)
    chosen, target, version, lock = env.profile, env.python, env.version, env.lock
    if sync.is_stale(env, profiles):
        REPORT.warning(f"{lock.path} is stale (refresh: gen-constraints lock {chosen.name})")
    uv_env = sync.uv_env(wheelhouse)  # read before any work: a URL that cannot be is exit 2
    if print_command:
        write_out(printed_command(sync.uv_args(lock.path, target, wheelhouse, check=check), uv_env))
        return

    def lacking_error(missing: dict[str, str]) -> ConstraintsGenError:
        served = local_folder(wheelhouse) is None  # fill a folder, then index and serve it
        fix = fill_command(Path("DIR" if served else wheelhouse), root, [chosen.name], version)
        if served:
            fix += ", then `gen-constraints wheelhouse index DIR` and serve DIR"
        return ConstraintsGenError(
            f"wheelhouse {wheelhouse} lacks {len(missing)} wheels of profile {chosen.name}"
            f" (CPython {version}): {', '.join(missing.values())}",
            tip=f"fill it: {fix}",
        )

    # the state's stat walk runs while uv checks (neither changes anything): a no-op sync
    # costs the longer of the two, not their sum
    ahead = None if check else prepare_synced(
        env, profiles.manifest, hardware, deep=not no_deep, full=full
    )  # fmt: skip
    missing: dict[str, str] = {}
    try:
        changes = sync.check_drift(sync.uv_args(lock.path, target, wheelhouse, check=True), uv_env)
    except ToolError:  # uv needs the wheels even to report: ask it about the rest of the lock
        missing = sync.missing_wheels(lock, wheelhouse)
        if not missing:
            raise
        changes = sync.drift_without(lock, missing, target, wheelhouse)
    if changes and not check and not missing:  # said plainly, before uv calls it a resolver error
        missing = sync.missing_wheels(lock, wheelhouse)
    applied = False
    if changes and not check and not missing:
        report = sync.sync(sync.uv_args(lock.path, target, wheelhouse), uv_env)
        REPORT.info(report.rstrip("\n"))
        applied = True
    verified = None
    if not check and (applied or not changes):  # what uv installed, checked in the target;
        # half-written packages reinstalled

        def reinstall(names: Sequence[str]) -> None:
            lacking = sync.missing_wheels(lock, wheelhouse)
            if lacking:
                raise lacking_error(lacking)
            args = sync.uv_args(lock.path, target, wheelhouse, reinstall=names)
            REPORT.info(sync.sync(args, uv_env).rstrip("\n"))

        prepared = None if applied or ahead is None else ahead()  # uv changed it: walk again
        verified = verify_synced(
            env,
            profiles.manifest,
            hardware,
            deep=not no_deep,
            full=full,
            reinstall=reinstall,
            prepared=prepared,
        )
    if as_json:
        payload = {
            "version": 1,
            "profile": chosen.name,
            "python": version,
            "environment": str(target),
            "lock": str(lock.path),
            "wheelhouse": wheelhouse,  # masked by write_out, as all output
            "in_sync": applied or not changes,
            "applied": applied,
            "lacking": list(missing.values()),
            # null: not verified (--check, or drift left); else verify's verdict and findings
            "verified": None if verified is None else verified.ok,
            "findings": [] if verified is None else [f.to_json() for f in verified.findings],
            "changes": [
                {"name": c.name, "action": c.action, "installed": c.old, "locked": c.new}
                for c in changes
            ],
        }
        write_out(json.dumps(payload, indent=2) + "\n")
    else:
        write_out("".join(c.describe() + "\n" for c in changes))
    if verified is not None:
        finish(verified, prefix="gen-constraints: ")
    where = env.where
    if not changes:
        REPORT.notice(f"in sync ({where}, {len(lock.packages)} packages)")
        if missing:  # said, not failed: nothing had to be installed
            error = lacking_error(missing)
            REPORT.always(f"gen-constraints: {error.message} ({error.tip})")
        return
    counts = [sum(c.action == a for c in changes) for a in ("install", "replace", "remove")]
    if applied:
        done = "{} installed, {} replaced, {} removed".format(*counts)
        REPORT.notice(f"synced ({where}): {done}")
        return
    drift = "{} to install, {} to replace, {} to remove".format(*counts)
    REPORT.always(f"gen-constraints: drift ({where}): {drift}")
    if missing and not check:
        raise lacking_error(missing)
    if missing:
        error = lacking_error(missing)
        REPORT.always(f"gen-constraints: {error.message}\nTIP: {error.tip}")
    raise click.exceptions.Exit(EXIT_FAILURE)
