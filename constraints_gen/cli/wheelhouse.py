"""``gen-constraints wheelhouse fill|check|prune|index``: a folder of wheels to install offline."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from constraints_gen.cli.core import (
    choose_profile,
    hardware_option,
    json_option,
    mirror_option,
    root_option,
    write_out,
)
from constraints_gen.errors import EXIT_FAILURE, ConstraintsGenError

if TYPE_CHECKING:
    from constraints_gen.profiles import Profile
    from constraints_gen.project import Project
    from constraints_gen.wheelhouse import LockRef, Report

F = TypeVar("F", bound=Callable[..., Any])
WHEELHOUSE_ENV = "GEN_CONSTRAINTS_WHEELHOUSE"


class NotInstallable(ConstraintsGenError):
    exit_code = EXIT_FAILURE


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
    hardware: Path | None
    names: tuple[str, ...]
    every: bool
    pythons: tuple[str, ...]


def lock_options(func: F) -> F:
    """The lock-choosing options, handed to the command as one ``choice: LockChoice``."""

    @functools.wraps(func)
    def bundled(**kwargs: Any) -> Any:
        fields = ("root", "hardware", "names", "every", "pythons")
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
            help="This profile (repeatable; default: the one selected for this machine).",
        ),
        click.option("--all", "every", is_flag=True, help="Every profile of the project."),
        click.option(
            "--python",
            "pythons",
            multiple=True,
            metavar="X.Y",
            help="Only the locks for these CPythons (default: each profile's target.python).",
        ),
        wheelhouse_option,
    ):
        wrapped = option(wrapped)
    return cast(F, wrapped)


def _locks(choice: LockChoice) -> tuple[Project, list[Profile], list[LockRef]]:
    from constraints_gen.profiles import load_profiles
    from constraints_gen.project import find_project
    from constraints_gen.wheelhouse import read_lock, read_locks

    root, names, pythons = choice.root, choice.names, choice.pythons
    if choice.every and names:
        raise click.UsageError("--all and --profile exclude each other")
    if choice.every:  # every committed lock; a profile without one is skipped, with a notice
        project = find_project(root)
        selected = list(load_profiles(project.profiles_dir).profiles)
        pairs = [(p, py) for p in selected for py in (pythons or p.pythons)]
        for profile, python in pairs:
            if not project.lock_path(profile.name, python).is_file():
                click.echo(
                    f"gen-constraints: profile {profile.name} has no lock for CPython {python};"
                    f" skipped (create it: gen-constraints lock {profile.name})",
                    err=True,
                )
        locks = [
            read_lock(project, p, py) for p, py in pairs if project.lock_path(p.name, py).is_file()
        ]
        return project, selected, locks
    if names:  # named: no hardware detection
        project = find_project(root)
        profiles = load_profiles(project.profiles_dir)
        selected = [profiles.get(n) for n in names]
    else:
        project, _, chosen = choose_profile(root, choice.hardware, None)
        selected = [chosen]
    return project, selected, read_locks(project, selected, pythons)


def fill_command(folder: Path, root: Path | None, profiles: list[str]) -> str:
    parts = ["gen-constraints", "wheelhouse", "fill"]
    parts += [f"--profile {name}" for name in profiles]
    parts += [f"--wheelhouse {folder}"] + ([f"--root {root}"] if root is not None else [])
    return " ".join(parts)


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
    as_json: bool,
) -> None:
    """Download every wheel the locks need for their target platform and Python.

    Each file is checked against the lock's sha256 before it is kept; files already present and
    correct are skipped, and a partial download (.NAME.part) resumes with an HTTP Range request,
    so an interrupted fill resumes. Credentials for a private index come from the index URL
    (https://USER:PASSWORD@HOST/simple) or ~/.netrc ($NETRC); they are never printed or written.
    Progress goes to stderr: a live line on a terminal, one line per file otherwise.
    """
    import sys

    from constraints_gen.config import DEFAULT_INDEX, is_local, load_config
    from constraints_gen.download import Client, Settings
    from constraints_gen.fill import fill
    from constraints_gen.index_client import FetchError, Source, default_index
    from constraints_gen.progress import StreamProgress, human_size, plural

    project, profiles, locks = _locks(choice)
    # Mirrors as `lock` takes them (--mirror, $GEN_CONSTRAINTS_MIRRORS, constraints-gen.toml):
    # a profile index may come from a URL elsewhere or a folder of wheels.
    mirrors = {**load_config(project.root).mirrors, **mirror}

    def source(where: str) -> Source:
        return Source(location=where, kind="links" if is_local(where) else "index")

    sources = [Source(location=link, kind="links") for link in find_links]
    indexes = dict.fromkeys(mirrors.get(i.name, i.url) for p in profiles for i in p.indexes)
    sources += [source(where) for where in indexes]
    if not no_index:
        sources.append(source(index_url or mirrors.get(DEFAULT_INDEX) or default_index()))
    settings = Settings(timeout=timeout, stall=stall_timeout, retries=retries, deadline=deadline)
    client = Client(settings, sources=[s.location for s in sources])
    progress = StreamProgress(sys.stderr, live=sys.stderr.isatty())
    try:
        result = fill(folder, locks, sources, jobs=jobs, client=client, progress=progress)
    finally:
        progress.close()
    size = sum(item.size for item in result.fetched)
    if as_json:
        payload = {
            "version": 1,
            "wheelhouse": str(folder),
            "fetched": [
                {"file": f.filename, "sha256": f.sha256, "size": f.size} for f in result.fetched
            ],
            "already_present": result.already,
            "errors": list(result.errors),
        }
        write_out(json.dumps(payload, indent=2) + "\n")
    click.echo(
        f"wheelhouse {folder}: fetched {plural(len(result.fetched), 'file')} ({human_size(size)}),"
        f" {plural(result.already, 'locked package')} already present",
        err=True,
    )
    if result.errors:
        raise FetchError(
            f"{len(result.errors)} problems:\n  " + "\n  ".join(result.errors)
            if len(result.errors) > 1
            else result.errors[0],
            tip="the files that did download are kept; run the same command again to resume",
        )


def _render(report: Report) -> str:
    lines = []
    for item in report.locks:
        lock = item.lock
        state = "installable" if item.installable else "NOT installable"
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

    Exit 1 when a lock cannot be installed from the folder.
    """
    from constraints_gen.wheelhouse import HashCache, check

    _, _, locks = _locks(choice)
    report = check(folder, locks, HashCache(folder))
    write_out(json.dumps(report.to_json(), indent=2) + "\n" if as_json else _render(report))
    if not report.ok:
        broken = sorted({r.lock.profile for r in report.locks if not r.installable})
        raise NotInstallable(
            f"wheelhouse {folder} cannot install the lock of {', '.join(broken)}",
            tip=f"fill it: {fill_command(folder, choice.root, broken)}",
        )


@wheelhouse_cmd.command("prune")
@lock_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@json_option
def prune_cmd(
    choice: LockChoice,
    folder: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove wrong-version and unreferenced wheels (for a shared folder, prune with --all)."""
    from constraints_gen.wheelhouse import HashCache, check, prune

    _, _, locks = _locks(choice)
    removed = prune(folder, check(folder, locks, HashCache(folder)), dry_run=dry_run)
    if as_json:
        payload = {"version": 1, "wheelhouse": str(folder), "dry_run": dry_run,
                   "removed": list(removed)}  # fmt: skip
        write_out(json.dumps(payload, indent=2) + "\n")
    else:
        write_out("".join(name + "\n" for name in removed))
    verb = "would remove" if dry_run else "removed"
    click.echo(f"wheelhouse {folder}: {verb} {len(removed)} wheels", err=True)


@wheelhouse_cmd.command("index")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@wheelhouse_option
def index_cmd(out: Path, folder: Path) -> None:
    """Write a static PEP 503 index of the folder into OUT/simple (wheels beside it in OUT).

    Serve OUT with any web server or object store; then, on each machine:
    gen-constraints sync --wheelhouse https://HOST/PATH/simple
    """
    from constraints_gen.wheelhouse import HashCache, write_index

    if not folder.is_dir():
        raise ConstraintsGenError(f"{folder}: no such wheelhouse folder")
    projects = write_index(folder, out, HashCache(folder))
    click.echo(f"wrote a PEP 503 index of {len(projects)} projects to {out / 'simple'}", err=True)
