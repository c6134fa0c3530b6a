"""``gen-constraints env``: shell lines that set UV_CONSTRAINT and PIP_CONSTRAINT."""

from __future__ import annotations

from pathlib import Path

import click

from constraints_gen.cli.core import emit_options, write_out
from constraints_gen.locks.shellenv import SHELLS
from constraints_gen.reporter import REPORT


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
    hardware_file: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
    shell: str,
) -> None:
    """Print the shell lines that make pip and uv obey the selected profile's constraints.

    The lines set UV_CONSTRAINT and PIP_CONSTRAINT to the profile's constraints.txt (under
    generated/, or the user cache for a profile locked on demand). For a profile whose pins come
    from another index (the PyTorch CPU index), UV_EXTRA_INDEX_URL and PIP_EXTRA_INDEX_URL (or
    *_FIND_LINKS for a mirror folder) name it, replacing those set in pip.conf or uv.toml.
    pip 26.2 and later keep PIP_CONSTRAINT out of build environments; for pip 25.3 to 26.1 in
    the active environment PIP_USE_FEATURE=build-constraint does it; an older pip is noted.
    Exit codes as emit's: 1 when no profile fits or (--strict) the lock is stale, 2 bad input
    (also a lock or constraints.txt that fails its integrity check).

    \b
    Examples:
      eval "$(gen-constraints env)"                          # bash, zsh
      gen-constraints env --shell fish | source
      gen-constraints env --shell powershell | Out-String | Invoke-Expression
    """
    from constraints_gen.cli.core import resolve_emit
    from constraints_gen.locks.shellenv import NOTE, active_pip, env_lines

    result = resolve_emit(
        root=root, hardware_file=hardware_file, profile=profile, python=python, strict=strict
    )
    pip = active_pip()
    write_out(env_lines(result.path, shell, result.index_options, pip))
    if pip is not None and pip < (25, 3):
        REPORT.always(f"gen-constraints: note: pip {pip[0]}.{pip[1]}: {NOTE}")
