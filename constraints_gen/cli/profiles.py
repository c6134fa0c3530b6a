"""``gen-constraints profiles``: the build table and the profiles made from it."""

from __future__ import annotations

from pathlib import Path

import click

from constraints_gen.cli.core import root_option
from constraints_gen.cli.output import notice


@click.group("profiles")
def profiles_cmd() -> None:
    """The profiles' build table (profiles/builds/torch.toml).

    \b
    Examples:
      gen-constraints profiles generate --check
    """


@profiles_cmd.command("generate")
@root_option
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 when a profile's [hardware], torch pin, index, platform or"
    " Pythons differ from the build table.",
)
def generate_cmd(root: Path | None, check: bool) -> None:
    """Write each NVIDIA profile's [hardware] table from the build table.

    Exit 0 in step (or written), 1 a profile out of step with the table, 2 a bad table or
    profile.

    \b
    Examples:
      gen-constraints profiles generate
      gen-constraints profiles generate --check
    """
    from constraints_gen.profiles.generate import generate
    from constraints_gen.profiles.project import find_project

    outcome = generate(find_project(root).profiles_dir, check=check)
    for path in outcome.written:
        notice(f"wrote {path}")
    verb = "in step with" if check else "generated from"
    notice(f"{len(outcome.written) + len(outcome.unchanged)} profiles {verb} the build table")
