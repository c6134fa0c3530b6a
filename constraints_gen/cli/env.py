"""``gen-constraints env``: shell lines that set UV_CONSTRAINT and PIP_CONSTRAINT."""

from __future__ import annotations

from pathlib import Path

import click

from constraints_gen.cli.core import emit_options, write_out
from constraints_gen.shellenv import SHELLS


@click.command("env")
@emit_options
@click.option(
    "--shell",
    type=click.Choice(SHELLS),
    default="bash",
    show_default=True,
    help="Syntax of the lines printed.",
)
def env_cmd(
    root: Path | None,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
    shell: str,
) -> None:
    """Print the shell lines that make pip and uv obey the selected profile's constraints.

    The lines set UV_CONSTRAINT and PIP_CONSTRAINT to the profile's constraints.txt (under
    generated/, or the user cache for a profile locked on demand). Exit codes as emit's: 1 when
    no profile fits or (--strict) the lock is stale, 2 bad input.

    \b
    Examples:
      eval "$(gen-constraints env)"                          # bash, zsh
      gen-constraints env --shell fish | source
      gen-constraints env --shell powershell | Out-String | Invoke-Expression
    """
    from constraints_gen.cli.core import resolve_emit
    from constraints_gen.shellenv import env_lines

    result = resolve_emit(
        root=root, hardware=hardware, profile=profile, python=python, strict=strict
    )
    write_out(env_lines(result.path, shell))
