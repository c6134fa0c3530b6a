"""``gen-constraints sync``: make an environment match the profile's lock, offline, with uv."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from constraints_gen.cli.core import (
    WHEELHOUSE_ENV,
    complete_with,
    json_option,
    write_out,
)
from constraints_gen.cli.verify import (
    FULL_HELP,
    NO_DEEP_HELP,
    environment,
    environment_options,
    finish,
)
from constraints_gen.errors import EXIT_FAILURE
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.install.sync import Environment
    from constraints_gen.profiles.model import ProfileSet


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
    hardware_file: Path | None,
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
    from constraints_gen.install import noop, sync

    uv_env = sync.uv_env(wheelhouse)  # read before any work: a URL that cannot be is exit 2
    found = noop.lookup(
        "sync", root=root, hardware_file=hardware_file, profile=profile, python=python
    )
    done = None
    if found.hit is not None and not (print_command or no_deep or full):
        done = noop.sync(found.hit, wheelhouse, found, check=check)
    if done is None:
        from constraints_gen.install.repair import repair

        def work() -> tuple[ProfileSet, Environment]:
            profiles, env = environment(found, hardware_file, profile, python)
            if sync.is_stale(env, profiles):
                REPORT.warning(
                    f"{env.lock.path} is stale (refresh: gen-constraints lock {env.profile.name})"
                )
            return profiles, env

        profiles, env = noop.resolve(found, work)
        if print_command:
            args = sync.uv_args(env.lock.path, env.python, wheelhouse, check=check)
            write_out(printed_command(args, uv_env))
            return
        done = repair(
            env,
            profiles.manifest,
            wheelhouse,
            found.machine,
            root=root,
            check=check,
            deep=not no_deep,
            full=full,
        )
    target = done.target
    if as_json:
        write_out(json.dumps(done.to_json(), indent=2) + "\n")
    else:
        write_out("".join(c.describe() + "\n" for c in done.changes))
    if done.verified is not None:
        finish(done.verified, prefix="gen-constraints: ")
    error = done.lacking_error
    if not done.changes:
        REPORT.notice(f"in sync ({target.where}, {target.packages} packages)")
        if error is not None:  # said, not failed: nothing had to be installed
            REPORT.always(f"gen-constraints: {error.message} ({error.tip})")
        return
    if done.applied:
        REPORT.notice(
            "synced ({}): {} installed, {} replaced, {} removed".format(
                target.where, *done.counts()
            )
        )
        return
    drift = "{} to install, {} to replace, {} to remove".format(*done.counts())
    REPORT.always(f"gen-constraints: drift ({target.where}): {drift}")
    if error is not None and not check:
        raise error
    if error is not None:
        REPORT.always(f"gen-constraints: {error.message}\nTIP: {error.tip}")
    raise click.exceptions.Exit(EXIT_FAILURE)
