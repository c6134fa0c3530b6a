"""``gen-constraints wheelhouse fill|check|prune|index``: a folder of wheels to install offline."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from constraints_gen.cli.core import (
    WHEELHOUSE_ENV,
    complete_with,
    hardware_option,
    json_option,
    mirror_option,
    read_machine,
    root_option,
    write_out,
)
from constraints_gen.errors import ConstraintsGenError, NotInstallable
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.install.fill import FillResult
    from constraints_gen.install.wheelhouse import FolderReport, LockRef
    from constraints_gen.profiles.model import Profile
    from constraints_gen.profiles.project import Project

F = TypeVar("F", bound=Callable[..., Any])


def wheelhouse_option(func: F) -> F:
    return click.option(
        "--wheelhouse",
        "folder",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("wheelhouse"),
        show_default=True,
        envvar=WHEELHOUSE_ENV,
        help=f"The folder of wheels. Also ${WHEELHOUSE_ENV}.",
    )(func)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockChoice:
    """Which locks a wheelhouse command works on (the options of :func:`lock_options`)."""

    root: Path | None
    hardware_file: Path | None
    names: tuple[str, ...]
    every: bool
    pythons: tuple[str, ...]


def lock_options(func: F) -> F:
    """The lock-choosing options, handed to the command as one ``choice: LockChoice``."""

    @functools.wraps(func)
    def bundled(**kwargs: Any) -> Any:
        fields = ("root", "hardware_file", "names", "every", "pythons")
        choice = LockChoice(**{name: kwargs.pop(name) for name in fields})
        return func(choice=choice, **kwargs)

    wrapped: Any = bundled
    for option in (
        root_option,
        hardware_option,
        click.option(
            "--profile",
            "names",
            multiple=True,
            metavar="NAME",
            shell_complete=complete_with("profile_names"),
            help="This profile (repeatable; default: the one selected for this machine).",
        ),
        click.option("--all", "every", is_flag=True, help="Every profile of the project."),
        click.option(
            "--python",
            "pythons",
            multiple=True,
            metavar="X.Y",
            shell_complete=complete_with("python_versions"),
            help="Only the locks for these CPythons (default: each profile's target.python).",
        ),
        wheelhouse_option,
    ):
        wrapped = option(wrapped)
    return cast(F, wrapped)


def _locks(
    choice: LockChoice,
    *,
    make: bool,
    mirror: Mapping[str, str] | None = None,
    plan: Path | None = None,
    project: Project | None = None,
) -> tuple[dict[str, str] | None, list[Profile], list[LockRef]]:
    """The mirrors (the project's, under ``mirror``; None without it), the chosen profiles and
    their locks, found as emit finds them (committed, cached, else made on demand when
    ``make``); every lock is read before the command acts. ``plan``: exactly the targets of
    that plan file (``plan --json``). ``project``: the one found already."""
    from constraints_gen.install.wheelhouse import chosen_profiles, plan_locks, read_locks
    from constraints_gen.profiles.config import project_mirrors
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project
    from constraints_gen.profiles.select import require_fit, select

    if choice.every and choice.names:
        raise click.UsageError("--all and --profile exclude each other")
    if plan is not None and (
        choice.every or choice.names or choice.pythons or choice.hardware_file
    ):
        raise click.UsageError(
            "--plan names the targets: it excludes --all, --profile, --python and --hardware"
        )
    project = project or find_project(choice.root)
    profiles = load_profiles(project.profiles_dir)
    mirrors = None if mirror is None else project_mirrors(project.root, mirror)
    if plan is not None:
        from constraints_gen.profiles.plan import read_plan

        wanted = read_plan(plan, profiles)
        pairs = [(w.profile, w.python) for w in wanted]
        locks = plan_locks(project, profiles, pairs, make=make, mirrors=mirrors)
        unique = {(w.profile.name, w.profile.platform): w.profile for w in wanted}
        return mirrors, list(unique.values()), locks

    def fit() -> Profile:
        return require_fit(select(profiles, read_machine(choice.hardware_file)))

    selected = chosen_profiles(profiles, choice.names, every=choice.every, fit=fit)
    locks = read_locks(project, profiles, selected, choice.pythons, make=make, mirrors=mirrors)
    return mirrors, selected, locks


@click.group("wheelhouse")
def wheelhouse_cmd() -> None:
    """A local folder of the locks' wheels, for offline installs (see `sync`).

    \b
    Examples:
      gen-constraints wheelhouse fill                # this machine's profile, every target Python
      gen-constraints wheelhouse fill --all --wheelhouse /srv/wheels
      gen-constraints wheelhouse check --json
      gen-constraints wheelhouse prune --dry-run
      gen-constraints wheelhouse index /srv/wheels   # then serve /srv/wheels over HTTP
    """


@wheelhouse_cmd.command("fill")
@lock_options
@click.option("--index-url", metavar="URL", help="The default index (default: $UV_DEFAULT_INDEX,"
              " $UV_INDEX_URL, $PIP_INDEX_URL, else PyPI).")  # fmt: skip
@click.option("--no-index", is_flag=True, help="Use only --find-links and the profiles' indexes.")
@click.option("--find-links", "-f", multiple=True, metavar="DIR|URL", help="Look here first.")
@mirror_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=8, show_default=True,
              help="Parallel downloads.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, envvar="GEN_CONSTRAINTS_HTTP_TIMEOUT", metavar="SECONDS",
              help="Wait this long to connect and for each answer."
              " Also $GEN_CONSTRAINTS_HTTP_TIMEOUT.")  # fmt: skip
@click.option("--stall-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, envvar="GEN_CONSTRAINTS_STALL_TIMEOUT", metavar="SECONDS",
              help="Retry a download that received under 1 kB in this time."
              " Also $GEN_CONSTRAINTS_STALL_TIMEOUT.")  # fmt: skip
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              envvar="GEN_CONSTRAINTS_HTTP_RETRIES", help="Retries of a request after a"
              " connection error, timeout, stall, 429 or 5xx answer (with backoff; Retry-After"
              " honoured). Also $GEN_CONSTRAINTS_HTTP_RETRIES.")  # fmt: skip
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), default=None,
              envvar="GEN_CONSTRAINTS_DEADLINE", metavar="SECONDS",
              help="Give up on all downloads after this long (default: no limit)."
              " Also $GEN_CONSTRAINTS_DEADLINE.")  # fmt: skip
@click.option(
    "--prune",
    "prune_wrong",
    is_flag=True,
    help="First remove wheels of locked packages at versions no lock holds.",
)
@click.option("--plan", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN.json",
              help="Fill exactly the targets of this plan (`gen-constraints plan --json`);"
              " excludes --all, --profile, --python and --hardware.")  # fmt: skip
@json_option
def fill_cmd(
    choice: LockChoice,
    folder: Path,
    index_url: str | None,
    no_index: bool,
    find_links: tuple[str, ...],
    mirror: dict[str, str],
    jobs: int,
    timeout: float,
    stall_timeout: float,
    retries: int,
    deadline: float | None,
    prune_wrong: bool,
    plan: Path | None,
    as_json: bool,
) -> None:
    """Download every wheel the locks need for their target platform and Python.

    Each file is checked against the lock's sha256 before it is kept; files already present and
    correct are skipped, and a partial download (.NAME.part) resumes with an HTTP Range request,
    so an interrupted fill resumes. A profile without a committed lock (target.commit_lock =
    false) is locked on demand first, exactly as emit does. Wheels of a locked package at another
    version are reported; --prune removes them, so that one fill makes the folder exactly what the
    locks need. Two fills into one folder take turns. Credentials for a private index come from
    the index URL (https://USER:PASSWORD@HOST/simple) or ~/.netrc ($NETRC); they are never
    printed or written. Progress goes to stderr: a live line on a terminal, one line per file
    otherwise. Exit 0 every wheel present and checked, 1 a download failed or did not match its
    hash (what did download is kept: run the same command again to resume), 2 bad input.

    \b
    Examples:
      gen-constraints wheelhouse fill --prune
      gen-constraints wheelhouse fill --profile cuda121_ampere --python 3.11
      gen-constraints wheelhouse fill --all --wheelhouse /srv/wheels --mirror pypi=https://m/simple
      gen-constraints wheelhouse fill --plan plan.json --wheelhouse /srv/wheels   # a fleet's
    """
    import sys

    from constraints_gen.install.fill import fill_wheelhouse
    from constraints_gen.install.progress import SILENT, StreamProgress
    from constraints_gen.install.transport import Settings

    # Mirrors as `lock` takes them (--mirror, $GEN_CONSTRAINTS_MIRRORS, constraints-gen.toml):
    # a profile index may come from a URL elsewhere or a folder of wheels.
    mirrors, profiles, locks = _locks(choice, make=True, mirror=mirror, plan=plan)
    settings = Settings(timeout=timeout, stall=stall_timeout, retries=retries, deadline=deadline)
    quiet = REPORT.level == "quiet"  # -q: no line per file
    progress = None if quiet else StreamProgress(sys.stderr, live=sys.stderr.isatty())
    try:
        result = fill_wheelhouse(
            folder,
            profiles,
            locks,
            mirrors=mirrors or {},
            settings=settings,
            find_links=find_links,
            index_url=index_url,
            no_index=no_index,
            jobs=jobs,
            prune_wrong=prune_wrong,
            progress=progress or SILENT,
        )
    finally:
        if progress is not None:
            progress.close()
    _render_fill(folder, result, as_json)


def _render_fill(folder: Path, result: FillResult, as_json: bool) -> None:
    """A fill's outcome: JSON on stdout with --json, the summary and warnings on stderr, and a
    FetchError (exit 1) when a download failed."""
    from constraints_gen.install.index import FetchError
    from constraints_gen.install.progress import human_size, plural

    size = sum(item.size for item in result.fetched)
    if as_json:
        payload = {
            "version": 1,
            "wheelhouse": str(folder),
            "fetched": [
                {"file": f.filename, "sha256": f.sha256, "size": f.size} for f in result.fetched
            ],
            "already_present": result.already,
            "wrong_version": list(result.wrong_version),
            "pruned": list(result.pruned),
            "errors": list(result.errors),
        }
        write_out(json.dumps(payload, indent=2) + "\n")
    REPORT.info(
        f"wheelhouse {folder}: fetched {plural(len(result.fetched), 'file')} ({human_size(size)}),"
        f" {plural(result.already, 'locked package')} already present"
    )
    kept = [name for name in result.wrong_version if name not in result.pruned]
    if kept:
        REPORT.always(
            f"gen-constraints: wheelhouse {folder} holds {len(kept)} wrong-version wheels of"
            f" locked packages: {', '.join(kept)} (remove them: add --prune)"
        )
    if result.errors:
        raise FetchError(
            f"{len(result.errors)} problems:\n  " + "\n  ".join(result.errors)
            if len(result.errors) > 1
            else result.errors[0],
            tip="the files that did download are kept; run the same command again to resume",
        )


def _render(report: FolderReport) -> str:
    lines = []
    for item in report.locks:
        lock = item.lock
        state = (
            "exact"
            if item.exact
            else "installable, not exact"
            if item.installable
            else "NOT installable"
        )
        lines.append(
            f"profile {lock.profile}, CPython {lock.python} ({lock.platform}): {state},"
            f" {len(lock.packages)} locked packages"
        )
        lines += [f"  missing: {p.name} {p.version}" for p in item.missing]
        lines += [
            f"  corrupt: {m.filename} (sha256:{m.sha256} is not a locked hash of"
            f" {m.name} {m.locked})"
            for m in item.corrupt
        ]
        lines += [
            f"  wrong version: {m.filename} ({m.name} {m.version}; locked {m.locked})"
            for m in item.wrong_version
        ]
    lines += [f"unreferenced: {name}" for name in report.unreferenced]
    lines += [f"ignored: {entry}" for entry in report.ignored]
    return "\n".join(lines) + "\n"


@wheelhouse_cmd.command("check")
@lock_options
@json_option
def check_cmd(
    choice: LockChoice,
    folder: Path,
    as_json: bool,
) -> None:
    """Report, per lock, what is missing, corrupt or a wrong version, and what no lock references.

    Exit 0 when the folder is exactly what the locks need, 1 when a lock cannot be installed
    from it or it holds a wheel of a locked package at a version no lock holds, 2 on bad input.
    Files that are not wheels are listed as ignored.

    \b
    Examples:
      gen-constraints wheelhouse check
      gen-constraints wheelhouse check --all --json --wheelhouse /srv/wheels
    """
    from constraints_gen.install import checkanswers
    from constraints_gen.profiles.project import find_project

    project = find_project(choice.root)
    asked = checkanswers.question(
        project,
        root=choice.root,
        hardware=choice.hardware_file,
        names=choice.names,
        every=choice.every,
        pythons=choice.pythons,
        folder=folder,
        as_json=as_json,
    )
    output = None if asked is None else checkanswers.served(asked)  # replays what it said
    if output is not None:
        write_out(output)  # only an exact folder's answer is kept: exit 0
        return
    before = None if asked is None else checkanswers.observe(asked)
    with REPORT.capture() as said:
        report, locks = _check(choice, folder, project)

    def render(report: FolderReport) -> str:
        return json.dumps(report.to_json(), indent=2) + "\n" if as_json else _render(report)

    if asked is not None and before is not None and report.ok:
        # a served answer reads no wheel: "hashed" is 0 there, as in a run that found every
        # sha256 in the hash cache
        quiet = replace(report, hashed=0)
        checkanswers.remember(asked, before, locks, render(quiet), said)
    write_out(render(report))
    if not report.ok:
        broken = sorted({r.lock.profile for r in report.locks if not r.installable})
        inexact = sorted({r.lock.profile for r in report.locks if not r.exact})
        pythons = sorted({r.lock.python for r in report.locks if not r.exact})
        python = pythons[0] if len(pythons) == 1 and choice.pythons else None
        wrong = report.wrong_version
        from constraints_gen.install.repair import fill_command

        fix = fill_command(folder, choice.root, inexact, python, prune=bool(wrong))
        problems = [f"cannot install the lock of {', '.join(broken)}"] if broken else []
        if wrong:
            problems.append(f"holds {len(wrong)} wrong-version wheels ({', '.join(wrong)})")
        raise NotInstallable(
            f"wheelhouse {folder} {' and '.join(problems)}",
            tip=f"{'fill it' if broken else 'remove them'}: {fix}",
        )


def _check(
    choice: LockChoice, folder: Path, project: Project
) -> tuple[FolderReport, list[LockRef]]:
    """The whole check: the profiles loaded, the locks read, every wheel classified."""
    from constraints_gen.install.wheelhouse import HashCache, check

    _, _, locks = _locks(choice, make=False, project=project)
    cache = HashCache(folder)
    report = check(folder, locks, cache)
    cache.save()
    return report, locks


@wheelhouse_cmd.command("prune")
@lock_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed; write nothing.")
@json_option
def prune_cmd(
    choice: LockChoice,
    folder: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove wrong-version and unreferenced wheels (for a shared folder, prune with --all).

    Only regular files whose names are wheel file names are ever removed; every lock is read
    first, and if one cannot be, nothing is removed. Each removal is listed on stdout.
    Exit 0, or 2 when a lock cannot be read (nothing removed) or a wheel could not be removed
    (the others are).

    \b
    Examples:
      gen-constraints wheelhouse prune --dry-run
      gen-constraints wheelhouse prune --all --wheelhouse /srv/wheels
    """
    from constraints_gen.install.wheelhouse import HashCache, check, folder_lock, prune

    _, _, locks = _locks(choice, make=False)
    if not folder.is_dir():
        raise ConstraintsGenError(f"{folder}: no such wheelhouse folder")

    def run() -> tuple[tuple[str, ...], tuple[str, ...]]:
        report = check(folder, locks, HashCache(folder))
        done = prune(folder, report.prunable, dry_run=dry_run)
        return done.removed, done.failed

    if dry_run:
        removed, failed = run()
    else:
        with folder_lock(folder):
            removed, failed = run()
    if as_json:
        payload = {"version": 1, "wheelhouse": str(folder), "dry_run": dry_run,
                   "removed": list(removed), "failed": list(failed)}  # fmt: skip
        write_out(json.dumps(payload, indent=2) + "\n")
    else:
        write_out("".join(name + "\n" for name in removed))
    verb = "would remove" if dry_run else "removed"
    REPORT.info(f"wheelhouse {folder}: {verb} {len(removed)} wheels")
    if failed:
        raise ConstraintsGenError(
            f"{len(failed)} wheels could not be removed:\n  " + "\n  ".join(failed),
            tip="the others were removed; fix the permissions and run prune again",
        )


@wheelhouse_cmd.command("index")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@wheelhouse_option
def index_cmd(out: Path, folder: Path) -> None:
    """Write a static PEP 503 index of the folder into OUT/simple (wheels beside it in OUT).

    Serve OUT with any web server or object store; then, on each machine:
    gen-constraints sync --wheelhouse https://HOST/PATH/simple

    \b
    Examples:
      gen-constraints wheelhouse index wheelhouse          # pages beside the wheels
      gen-constraints wheelhouse index /srv/www --wheelhouse /srv/wheels
    """
    from constraints_gen.install.wheelhouse import HashCache, write_index

    if not folder.is_dir():
        raise ConstraintsGenError(f"{folder}: no such wheelhouse folder")
    projects = write_index(folder, out, HashCache(folder))
    REPORT.info(f"wrote a PEP 503 index of {len(projects)} projects to {out / 'simple'}")
