"""``gen-constraints lock``: compile profiles into generated/ with uv."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from constraints_gen.cli.core import complete_with, mirror_option, root_option, write_out
from constraints_gen.cli.output import echo_error
from constraints_gen.errors import ChangedFiles, LockFailed
from constraints_gen.locks.resolver import RESOLVER_NAMES, ResolverName
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.locks.compile import LockResult
    from constraints_gen.locks.refresh import Refreshed


@click.command("lock")
@click.argument(
    "names", nargs=-1, metavar="[PROFILE]...", shell_complete=complete_with("profile_names")
)
@root_option
@click.option(
    "--check",
    is_flag=True,
    help="Only check that the committed locks match their inputs (no resolver, no network):"
    " exit 0 fresh, 1 stale or missing.",
)
@click.option("--all", "all_", is_flag=True, help="All profiles (the default with no names).")
@click.option("--force", is_flag=True, help="Re-lock even the targets that are fresh.")
@click.option(
    "--resolver",
    type=click.Choice(RESOLVER_NAMES),
    default="uv",
    show_default=True,
    help="pip-tools resolves with pip-compile, for the running Python only.",
)
@click.option(
    "--fail-on-change",
    is_flag=True,
    help="Exit 1 when a file under generated/ changed (as a pre-commit hook does).",
)
@click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="X.Y",
    shell_complete=complete_with("python_versions"),
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
@mirror_option
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
    check: bool,
    all_: bool,
    force: bool,
    resolver: ResolverName,
    fail_on_change: bool,
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
    """Lock profiles into hashed locks and constraints.txt under generated/.

    With no names (or --all), every profile whose inputs changed since it was locked: its file,
    a parent it extends, the manifest, or the tool version. Named profiles are likewise re-locked
    only when stale; --force, --upgrade and --upgrade-package re-lock them all the same.
    Profiles with target.commit_lock = false are locked on demand, never here.
    Mirrors come from constraints-gen.toml ([mirrors]) and --mirror; they are not inputs.
    Exit 0 locked or already fresh; 1 --check found a stale or missing lock, a resolution
    failed (the other targets are locked all the same), or --fail-on-change changed a file;
    2 bad input.

    \b
    Examples:
      gen-constraints lock                      # every stale profile, every target Python
      gen-constraints lock --check              # exit 1 if a committed lock is stale
      gen-constraints lock cuda130 --python 3.12 --upgrade-package transformers
      gen-constraints lock cpu --mirror pytorch-cpu=./wheels --force
      gen-constraints lock cuda130 --format pylock --output-dir .
    """
    from constraints_gen.locks import lockrun
    from constraints_gen.profiles.project import find_project

    if names and all_:
        raise click.UsageError("give profile names or --all, not both")
    relock_flags = force or upgrade or upgrade_package or resolver != "uv" or fail_on_change
    # --mirror on the command line, not $GEN_CONSTRAINTS_MIRRORS (a CI machine may export it)
    source = click.get_current_context().get_parameter_source("mirror")
    given = source is click.core.ParameterSource.COMMANDLINE
    if check and (relock_flags or given or find_links or offline or fmt != "requirements"):
        raise click.UsageError("--check takes only profile names, --all, --python and --root")
    project = find_project(root)
    if check:
        lockrun.check_locks(project, names, pythons)
        return
    from constraints_gen.locks.refresh import refresh
    from constraints_gen.locks.resolver import LockOptions
    from constraints_gen.profiles.config import absolute, project_mirrors

    into_generated = fmt == "requirements"
    profiles, chosen = lockrun.profiles_to_lock(project, names, into_generated=into_generated)
    options = LockOptions(
        upgrade=upgrade,
        upgrade_packages=upgrade_package,
        mirrors=project_mirrors(project.root, mirror),
        find_links=tuple(absolute(link) for link in find_links),
        offline=offline,
        resolver=resolver,
    )
    if not into_generated:
        lockrun.export_pylocks(project, profiles, chosen, options, output_dir, pythons=pythons)
        return
    try:
        done = refresh(project, profiles, chosen, options, pythons=pythons, force=force, jobs=jobs)
    except LockFailed as failed:  # the others were locked all the same: say so, then each error
        for locked in failed.results:
            _say(_locked(locked))
        if len(failed.failures) == 1:
            raise failed.failures[0] from None
        for error in failed.failures:
            echo_error(error)
        raise failed from None
    _render(done)
    if fail_on_change and done.changed:
        raise ChangedFiles(
            f"{len(done.changed)} lock(s) changed under {project.generated_dir}; review and"
            " commit them"
        )


def _render(done: Refreshed) -> None:
    """The report of a refresh: each target's outcome on stderr."""
    for path in done.removed:
        REPORT.notice(f"removed {path} (left by an interrupted run)")
    results = {(r.profile, r.python): r for r in done.results}
    for state in done.states:
        result = results.get((state.profile.name, state.python or ""))
        if result is None:
            _say(state.describe().replace(": fresh", ": up to date"))
        else:
            _say(_locked(result))
    write_out("")


def _locked(result: LockResult) -> str:
    outcome = "updated" if result.changed else "unchanged"
    return (
        f"{result.profile} (CPython {result.python}): locked, {result.packages} packages,"
        f" {outcome}: {result.lock_path}"
    )


def _say(line: str) -> None:
    """One line of the report on stderr (silenced by -q)."""
    REPORT.info(line)
