"""``gen-constraints profiles``: the build table and the profiles made from it."""

from __future__ import annotations

from pathlib import Path

import click

from constraints_gen.cli.core import json_option, mirror_option, root_option, write_out
from constraints_gen.errors import NewerReleases
from constraints_gen.reporter import REPORT


@click.group("profiles")
def profiles_cmd() -> None:
    """The profiles' build table (profiles/builds/torch.toml).

    \b
    Examples:
      gen-constraints profiles generate --check
      gen-constraints profiles newer
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
        REPORT.notice(f"wrote {path}")
    verb = "in step with" if check else "generated from"
    REPORT.notice(
        f"{len(outcome.written) + len(outcome.unchanged)} profiles {verb} the build table"
    )


@profiles_cmd.command("newer")
@click.argument("names", nargs=-1, metavar="[PROFILE]...")
@root_option
@mirror_option
@json_option
@click.option("--fail", is_flag=True, help="Exit 1 when an index has a newer torch.")
def newer_cmd(
    names: tuple[str, ...], root: Path | None, mirror: dict[str, str], as_json: bool, fail: bool
) -> None:
    """List newer torch releases than each build-table profile pins, on the index it comes from.

    A newer release counts when it has a wheel of the same variant for the profile's platform
    and Pythons. Also lists profiles that a newer row of the table serves everywhere they run.
    Exit 0 (with --fail: 0 nothing newer, 1 something newer), 2 bad input or an unreachable
    index.

    \b
    Examples:
      gen-constraints profiles newer
      gen-constraints profiles newer pt_cu126 --mirror pytorch-cu126=/srv/wheels --json
    """
    from constraints_gen.install.newer import staleness
    from constraints_gen.profiles.config import project_mirrors
    from constraints_gen.profiles.project import find_project

    project = find_project(root)
    found = staleness(project.profiles_dir, project_mirrors(project.root, mirror), names)
    if as_json:
        import json

        body = {"version": 1, "profiles": [s.to_json() for s in found]}
        write_out(json.dumps(body, indent=2) + "\n")
    else:
        lines = []
        for s in found:
            news = ", ".join(s.newer) if s.newer else "nothing newer"
            lines.append(f"{s.profile}: pins {s.pinned}; on {s.index}: {news}")
            if s.superseded_by:
                lines.append(f"    superseded by {', '.join(s.superseded_by)} wherever it runs")
        write_out("\n".join(lines) + "\n")
    stale = [s.profile for s in found if s.newer]
    if fail and stale:
        raise NewerReleases(f"a newer torch is published for {', '.join(stale)}")
