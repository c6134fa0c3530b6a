"""``gen-constraints lock``: compile profiles into generated/ with uv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from constraints_gen.cli.core import complete_with, mirror_option, root_option, write_out
from constraints_gen.cli.output import echo_error
from constraints_gen.errors import ChangedFiles, ConstraintsGenError, LockFailed, StaleLocks
from constraints_gen.locks.resolver import RESOLVER_NAMES, ResolverName
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.locks.compile import LockResult
    from constraints_gen.locks.resolver import LockOptions
    from constraints_gen.profiles.model import Profile, ProfileSet
    from constraints_gen.profiles.project import Project


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
        _check(project, names, pythons)
        return
    from constraints_gen.profiles.config import absolute, project_mirrors
    from constraints_gen.profiles.load import load_profiles

    profiles = load_profiles(project.profiles_dir)
    chosen = [profiles.get(name) for name in names] if names else list(profiles.profiles)
    if project.builtin and fmt == "requirements":
        raise ConstraintsGenError(
            f"no project here: {project.root} holds the built-in profiles of the installed"
            " package, and lock does not write into it",
            tip="run it inside a repository with profiles/manifest.toml, or give --root DIR",
        )
    on_demand = [p.name for p in chosen if not p.commit_lock]
    if names and on_demand:
        raise ConstraintsGenError(
            f"profile {', '.join(on_demand)} is locked on demand (target.commit_lock = false),"
            " never into generated/",
            tip="gen-constraints --profile NAME locks it into the user cache when used",
        )
    from constraints_gen.locks.resolver import LockOptions

    options = LockOptions(
        upgrade=upgrade,
        upgrade_packages=upgrade_package,
        mirrors=project_mirrors(project.root, mirror),
        find_links=tuple(absolute(link) for link in find_links),
        offline=offline,
        resolver=resolver,
    )
    if fmt == "pylock":
        from constraints_gen.profiles.config import check_mirrors

        for view in (view for profile in chosen for view in profile.views()):
            check_mirrors(project.root, view, options.mirrors)
        _pylock(profiles, chosen, pythons, options, output_dir)
        return
    from constraints_gen.locks.refresh import refresh

    try:
        done = refresh(
            project,
            profiles,
            chosen,
            options,
            pythons=pythons,
            force=force,
            jobs=jobs,
        )
    except LockFailed as failed:  # the others were locked all the same: say so, then each error
        for locked in failed.results:
            _say(_locked(locked))
        if len(failed.failures) == 1:
            raise failed.failures[0] from None
        for error in failed.failures:
            echo_error(error)
        raise failed from None
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
    if fail_on_change and done.changed:
        raise ChangedFiles(
            f"{len(done.changed)} lock(s) changed under {project.generated_dir}; review and"
            " commit them"
        )


def _locked(result: LockResult) -> str:
    outcome = "updated" if result.changed else "unchanged"
    return (
        f"{result.profile} (CPython {result.python}): locked, {result.packages} packages,"
        f" {outcome}: {result.lock_path}"
    )


def _say(line: str) -> None:
    """One line of the report on stderr (silenced by -q)."""
    REPORT.info(line)


def _check(project: Project, names: tuple[str, ...], pythons: tuple[str, ...]) -> None:
    """Report every target's freshness; an all-fresh report is served from
    constraints_gen.locks.answers when no profile, lock or constraints file changed."""
    import time

    from constraints_gen.locks import answers

    key = answers.check_key(project, names, pythons)
    hit = answers.load_check(project, key)  # every lock pair read and its digests checked now
    if hit is not None:
        REPORT.replay(hit)
        return
    before = answers.inputs(answers.profile_files(project))
    started = time.time_ns()
    from constraints_gen.locks.freshness import FRESH, target_states
    from constraints_gen.profiles.load import load_profiles

    profiles = load_profiles(project.profiles_dir)
    chosen = [profiles.get(name) for name in names] if names else list(profiles.profiles)
    states = target_states(project, profiles, chosen, pythons, refuse_corrupt=True)
    bad = [state for state in states if state.needs_lock]
    with REPORT.capture() as said:  # what a cached all-fresh report says again
        for state in states:
            if state.state != FRESH:
                REPORT.always(state.describe())
    locks = sum(1 for state in states if state.python is not None)
    if bad:
        stale = " ".join(dict.fromkeys(state.profile.name for state in bad))
        raise StaleLocks(
            f"{len(bad)} of {locks} locks are stale or missing",
            tip=f"refresh them: gen-constraints lock {stale}",
        )
    with REPORT.capture() as verdict:
        REPORT.notice(f"all {locks} locks are fresh")
    if before is not None:
        targets = [
            (s.profile.name, s.python, s.profile.platform, s.profile.layout_platform)
            for s in states
            if s.python is not None
        ]
        answers.store_check(project, key, before, started, targets, [*said, *verdict])


def _pylock(
    profiles: ProfileSet,
    chosen: Sequence[Profile],
    pythons: tuple[str, ...],
    options: LockOptions,
    output_dir: Path,
) -> None:
    """One pylock.<profile>.toml per profile; with several Pythons, pylock.<profile>-pyXY.toml."""
    from constraints_gen.locks.compile import export_pylock

    targets = [(p, pythons or p.pythons) for p in chosen]
    if not any(versions for _, versions in targets):
        raise ConstraintsGenError("nothing to lock: no profile or no target Python")
    for profile, versions in targets:
        for python in versions:
            path = export_pylock(
                profiles, profile, python, options, output_dir, tag_python=len(versions) > 1
            )
            REPORT.info(f"wrote {path}")
