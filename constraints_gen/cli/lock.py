"""``gen-constraints lock``: compile profiles into generated/ with uv."""

from __future__ import annotations

from pathlib import Path

import click

from constraints_gen.cli.core import root_option, write_out
from constraints_gen.errors import ConstraintsGenError


def _mirror(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    from constraints_gen.lock import mirrors_from_env, parse_mirrors

    return {**mirrors_from_env(), **parse_mirrors(values, "--mirror")}


@click.command("lock")
@click.argument("names", nargs=-1, metavar="[PROFILE]...")
@root_option
@click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="X.Y",
    help="Lock only these Pythons (default: each profile's target.python).",
)
@click.option("--upgrade", "-U", is_flag=True, help="Ignore the versions of the existing lock.")
@click.option(
    "--upgrade-package",
    "-P",
    multiple=True,
    metavar="NAME",
    help="Allow this package to move to a newer version.",
)
@click.option(
    "--mirror",
    multiple=True,
    callback=_mirror,
    metavar="INDEX=URL|DIR",
    help="Take a profile index from elsewhere (a URL, or a folder of wheels); also"
    ' $GEN_CONSTRAINTS_MIRRORS="INDEX=URL ...".',
)
@click.option(
    "--find-links",
    "-f",
    multiple=True,
    metavar="DIR|URL",
    help="Also look for wheels here (not written into the lock).",
)
@click.option("--offline", is_flag=True, help="Resolve from uv's cache only.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["requirements", "pylock"]),
    default="requirements",
    show_default=True,
    help="pylock writes a PEP 751 pylock.<profile>.toml into --output-dir instead.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Folder for --format pylock.",
    show_default=True,
)
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Parallel uv runs (default: CPUs).")
def lock_cmd(
    names: tuple[str, ...],
    root: Path | None,
    pythons: tuple[str, ...],
    upgrade: bool,
    upgrade_package: tuple[str, ...],
    mirror: dict[str, str],
    find_links: tuple[str, ...],
    offline: bool,
    fmt: str,
    output_dir: Path,
    jobs: int | None,
) -> None:
    """Compile profiles (default: all) into hashed locks and constraints.txt under generated/.

    \b
    Examples:
      gen-constraints lock                              # every profile, every target Python
      gen-constraints lock cuda130 --python 3.12
      gen-constraints lock cpu --mirror pytorch-cpu=/opt/wheels
      gen-constraints lock cuda130 --format pylock --output-dir .
    """
    from constraints_gen.lock import LockOptions, compile_many, export_pylock
    from constraints_gen.profiles import load_profiles
    from constraints_gen.project import find_project

    project = find_project(root)
    profiles = load_profiles(project.profiles_dir)
    chosen = [profiles.get(name) for name in names] if names else list(profiles.profiles)
    options = LockOptions(
        upgrade=upgrade,
        upgrade_packages=upgrade_package,
        mirrors=mirror,
        find_links=find_links,
        offline=offline,
    )
    targets = [(p, py) for p in chosen for py in (pythons or p.pythons)]
    if not targets:
        raise ConstraintsGenError("nothing to lock: no profile or no target Python")
    if fmt == "pylock":
        for profile, python in targets:
            path = export_pylock(profiles, profile, python, options, output_dir)
            click.echo(f"wrote {path}", err=True)
        return
    results = compile_many(project, profiles, targets, options, jobs=jobs)
    for result in results:
        state = "updated" if result.changed else "unchanged"
        click.echo(
            f"{result.profile} (CPython {result.python}): {result.packages} packages,"
            f" {state}: {result.lock_path}",
            err=True,
        )
    write_out("")
