"""Compile a profile plus the manifest into exact, hashed locks with ``uv pip compile`` (or
another backend of :mod:`constraints_gen.locks.resolver`, chosen by :func:`resolver_for`).

Inputs handed to uv (written into a temporary folder, so its annotations name them stably):
``manifest.in`` (the manifest's ranges, and every pinned name), ``pins.txt`` (the profile's exact
pins, as constraints) and ``overrides.txt`` (pins the profile marks as deliberate overrides).
Outputs, written atomically: the hashed lock and the annotated ``constraints.txt``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from constraints_gen import runner
from constraints_gen.errors import ConstraintsGenError, ToolError
from constraints_gen.errors import LockFailed as LockFailed
from constraints_gen.fsutil import atomic_write
from constraints_gen.locks import file as lockfile
from constraints_gen.locks.piptools import PipToolsResolver
from constraints_gen.locks.resolver import LockOptions as LockOptions
from constraints_gen.locks.resolver import Resolver, ResolverName, move_args
from constraints_gen.profiles.config import is_local, locations
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project

#: uv settings that would change what a compile sees; the lock's inputs are only our files.
_LEAKY_ENV = ("UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "UV_REQUIRE_HASHES")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockResult:
    profile: str
    python: str
    lock_path: Path
    constraints_path: Path
    packages: int
    changed: bool


def platform_env(profile: Profile) -> dict[str, str | None]:
    """uv reads the oldest macOS of an ``*-apple-darwin`` target from MACOSX_DEPLOYMENT_TARGET
    (default 13.0): a profile's ``min_macos`` sets it, so macosx_14_0 wheels resolve."""
    if profile.min_macos is None or not profile.platform.endswith("apple-darwin"):
        return {}
    return {"MACOSX_DEPLOYMENT_TARGET": "{}.{}".format(*profile.min_macos)}


def command_for(profile: Profile) -> str:
    return f"gen-constraints lock {profile.name}"


def write_inputs(work: Path, profile: Profile, manifest: Manifest) -> None:
    """Write manifest.in, pins.txt and overrides.txt for one profile into ``work``."""
    names = sorted(
        ({req.name for req in manifest.requirements} | {p.name for p in profile.pins})
        - set(profile.excluded)  # pinned to false: not in this build
    )
    requirements = []
    for name in names:
        pin, req = profile.pin(name), manifest.get(name)
        overridden = pin is not None and pin.override
        requirements.append(name if overridden or req is None else req.line())
    files = {
        "manifest.in": requirements,
        "pins.txt": [f"{p.name}=={p.version}" for p in profile.pins if not p.override],
        "overrides.txt": [f"{p.name}=={p.version}" for p in profile.pins if p.override],
    }
    for filename, lines in files.items():
        (work / filename).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def uv_compile_args(profile: Profile, python: str, options: LockOptions) -> list[str]:
    args = [
        runner.uv_bin(), "pip", "compile", "manifest.in", "--constraints", "pins.txt",
        "--overrides", "overrides.txt", "--output-file", "out.txt",
        "--no-config", "--no-header", "--generate-hashes", "--annotation-style", "line",
        # --python names this interpreter so uv does not hunt for a CPython X.Y (seconds);
        # the resolution targets --python-version / --python-platform all the same.
        "--python", sys.executable,
        "--python-version", python, "--python-platform", profile.platform,
        "--only-binary", ":all:", "--quiet",
    ]  # fmt: skip
    args += uv_sources(profile, options).args
    if options.offline:
        args.append("--offline")
    return args


def uv_sources(profile: Profile, options: LockOptions) -> runner.Sources:
    """Where uv looks, mirrors applied, and what may move; index credentials travel in uv's
    environment (:func:`constraints_gen.runner.uv_sources`), never in its command line. The
    ambient uv settings that would add sources are cleared: a lock's sources are the profile's
    indexes, the mirrors and --find-links; the ambient default index ($UV_DEFAULT_INDEX) is
    kept unless a mirror replaces it (``--mirror pypi=URL``)."""
    where = locations(profile.indexes, options.mirrors)
    local = where.default is not None and is_local(where.default)
    urls = runner.uv_sources(
        None if where.default is None or local else where.default,
        [extra for extra in where.extra if not is_local(extra)],
        clear_default=where.default is not None,
    )
    args = ["--no-index", "--find-links", where.default] if local and where.default else []
    args += urls.args
    for link in (*(extra for extra in where.extra if is_local(extra)), *options.find_links):
        args += ["--find-links", link]
    return runner.Sources(args=(*args, *move_args(options)), env=urls.env)


class UvResolver(Resolver):
    """``uv pip compile`` (the default): any CPython version and platform, from this machine."""

    name = "uv"

    def compile_args(self, profile: Profile, python: str, options: LockOptions) -> list[str]:
        return uv_compile_args(profile, python, options)

    def env(self, profile: Profile, options: LockOptions) -> dict[str, str | None]:
        """uv's own settings that would change what it sees are blanked; the lock's inputs are
        only our files, its sources only the profile's (:func:`uv_sources`, which also carries
        the index credentials). A macOS profile's ``min_macos`` is handed on
        (:func:`platform_env`)."""
        env: dict[str, str | None] = {key: "" for key in _LEAKY_ENV if key in os.environ}
        env.update(uv_sources(profile, options).env)
        env.update(platform_env(profile))
        return env


#: The resolver backends by name: ``lock --resolver NAME`` picks one.
RESOLVERS: Mapping[ResolverName, Resolver] = {
    backend.name: backend for backend in (UvResolver(), PipToolsResolver())
}


def resolver_for(name: ResolverName) -> Resolver:
    return RESOLVERS[name]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    """One target resolved and its two files rendered, not yet written."""

    result: LockResult
    lock_text: str
    constraints_text: str

    def write(self) -> LockResult:
        """Write the lock, then its constraints.txt, each atomically (:func:`atomic_write`)."""
        atomic_write(self.result.lock_path, self.lock_text)
        atomic_write(self.result.constraints_path, self.constraints_text)
        return self.result


def compile_one(
    project: Project,
    profiles: ProfileSet,
    profile: Profile,
    python: str,
    options: LockOptions,
    *,
    out_dir: Path | None = None,
    keep_versions: bool | None = None,
) -> LockResult:
    """Resolve one (profile, Python) pair and write its two files (into ``out_dir`` if given).

    uv keeps the versions of the existing lock when it is intact and this target's
    (``keep_versions``: what :func:`constraints_gen.locks.freshness.target_state` found when it
    read it; None reads it again here)."""
    paths = _paths(project, profile, python, out_dir)
    work, body = _run_resolver(profiles, profile, python, options, paths[0], keep_versions)
    shutil.rmtree(work, ignore_errors=True)
    return _render(profiles, profile, python, paths, body).write()


def _paths(
    project: Project, profile: Profile, python: str, out_dir: Path | None
) -> tuple[Path, Path]:
    """The lock and the constraints.txt of a target (in ``out_dir`` if given)."""
    lock_path = project.lock_path(profile.name, python, profile.layout_platform)
    constraints_path = project.constraints_path(profile.name, python, profile.layout_platform)
    if out_dir is not None:
        return out_dir / lock_path.name, out_dir / constraints_path.name
    return lock_path, constraints_path


def _run_resolver(
    profiles: ProfileSet,
    profile: Profile,
    python: str,
    options: LockOptions,
    lock_path: Path,
    keep_versions: bool | None,
) -> tuple[Path, str]:
    """Run the resolver in a new temporary folder: (the folder, for the caller to remove, and
    the lock it wrote). On failure the folder is removed here."""
    resolver = resolver_for(options.resolver)
    env, args = resolver.env(profile, options), resolver.compile_args(profile, python, options)
    work = Path(tempfile.mkdtemp(prefix="constraints-gen-"))
    try:
        write_inputs(work, profile, profiles.manifest)
        if keep_versions is None:
            keep_versions = _verifies(lock_path, profile, python)
        if keep_versions:  # uv keeps an existing output's versions
            shutil.copyfile(lock_path, work / "out.txt")
        try:
            runner.run(
                args,
                cwd=work,
                env=env,
                hint=f"profile {profile.name} (CPython {python}) did not resolve; the"
                " resolver's explanation is above",
            )
        except ToolError as exc:
            raise ToolError(
                f"profile {profile.name}, CPython {python}: {exc.message}", tip=exc.tip
            ) from None
        return work, (work / "out.txt").read_text(encoding="utf-8")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _render(
    profiles: ProfileSet, profile: Profile, python: str, paths: tuple[Path, Path], body: str
) -> _Resolved:
    """Check the resolver's lock (every line understood, every pin exact) and render both files."""
    manifest = profiles.manifest
    lock_path, constraints_path = paths
    packages = lockfile.parse_lock(body, f"uv's lock for profile {profile.name}")
    check_exact(profile, packages, python)
    head = lockfile.header(profile, manifest, python, command_for(profile))
    lock_text = lockfile.seal(head, body)
    old = lock_path.read_text(encoding="utf-8") if lock_path.is_file() else None
    result = LockResult(
        profile=profile.name,
        python=python,
        lock_path=lock_path,
        constraints_path=constraints_path,
        packages=len(packages),
        changed=old != lock_text,
    )
    return _Resolved(
        result=result,
        lock_text=lock_text,
        constraints_text=lockfile.render_constraints(packages, profile, manifest, head),
    )


def _verifies(lock_path: Path, profile: Profile, python: str) -> bool:
    """Is the existing lock intact and this target's (worth keeping its versions)? An edited one,
    or one whose header names another profile, Python or platform, is not used; one in an older
    lock format is (it cannot be verified, but its versions are the ones kept)."""
    try:
        lockfile.check_target(lock_path, lockfile.read_lock_file(lock_path).header, profile, python)
    except lockfile.LockFormatError:
        return True
    except ConstraintsGenError:
        return False
    return True


def check_exact(profile: Profile, packages: Sequence[lockfile.LockedPackage], python: str) -> None:
    """Every pin must come out at its full version, local label included (PEP 440's ``==2.5.1``
    also accepts ``2.5.1+cu121``: we compare the strings)."""
    locked = {p.name: p.version for p in packages}
    wrong = [
        f"{pin.name}: pinned {pin.version}, resolved {locked.get(pin.name, 'nothing')}"
        for pin in profile.pins
        if locked.get(pin.name) != pin.version
    ]
    if wrong:
        raise ConstraintsGenError(
            f"profile {profile.name}, CPython {python}: the resolution does not match the exact"
            " pins: " + "; ".join(wrong),
            tip="a different build variant (local label) was found; check the profile's indexes",
        )


#: Threads that write the locked targets' files. A write waits on fsync (0.5 ms on this 2-core
#: machine's disk when idle, 6 ms when it is busy), and concurrent fsyncs share the journal's
#: commits, so a few writers keep up with the uv runs where one thread did not (43 targets, a
#: busy disk: 86 fsyncs in a row were 0.54 s after the last uv run had ended).
_WRITERS = 4


class Batch:
    """Targets locked in parallel: :meth:`submit` starts a target's resolver run at once (on
    one of ``jobs`` workers, default the CPUs), :meth:`finish` checks, renders and writes them.

    Nothing is written before :meth:`finish`: a caller may submit targets while it still reads
    and checks the others, and leaving the ``with`` block without finishing (an error) cancels
    the runs not started, waits for those running and writes nothing.

    The workers only run the resolver, one target after another; the thread that finishes
    checks and renders each lock as it comes, and writer threads write its two files
    (atomic_write: temporary file, fsync, rename; the lock first, as compile_one does). A worker
    never waits for our Python work or the disk between two uv runs, as ``xargs -P`` would not
    (bench/run.py, relock)."""

    def __init__(
        self, project: Project, profiles: ProfileSet, options: LockOptions, *, jobs: int | None
    ) -> None:
        self._project, self._profiles, self._options = project, profiles, options
        self._jobs = max(1, jobs or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None  # started by the first submit
        self._targets: list[tuple[Profile, str, tuple[Path, Path]]] = []
        self._runs: dict[Future[tuple[Path, str]], int] = {}

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for run in self._runs:  # not finished: remove what the runs left, write nothing
            if not run.cancelled() and run.exception() is None:
                shutil.rmtree(run.result()[0], ignore_errors=True)

    def submit(self, profile: Profile, python: str, keep_versions: bool | None = None) -> None:
        """Start resolving (profile, Python); ``keep_versions`` as :func:`compile_one` takes it."""
        if self._pool is None:
            runner.uv_bin()  # resolve the binary in this thread, before the pool (see uv_bin)
            self._pool = ThreadPoolExecutor(max_workers=self._jobs)
        paths = _paths(self._project, profile, python, None)
        run = self._pool.submit(
            _run_resolver, self._profiles, profile, python, self._options, paths[0], keep_versions
        )
        self._runs[run] = len(self._targets)
        self._targets.append((profile, python, paths))

    def finish(self) -> list[LockResult]:
        """Wait for every target, check, render and write each one; results in the order
        submitted. Every target runs to its end: when any fails, :class:`LockFailed` carries
        every failure (in that order) and the results of the others."""
        runs = dict(self._runs)
        outcomes: list[LockResult | ConstraintsGenError | None] = [None] * len(self._targets)
        with ThreadPoolExecutor(max_workers=_WRITERS) as writers:
            writing: dict[Future[LockResult], int] = {}
            for run in as_completed(runs):
                i = self._runs.pop(run)  # taken: its folder is this loop's to remove
                profile, python, paths = self._targets[i]
                try:
                    work, body = run.result()
                    writers.submit(shutil.rmtree, work, ignore_errors=True)
                    resolved = _render(self._profiles, profile, python, paths, body)
                    writing[writers.submit(resolved.write)] = i
                except (ConstraintsGenError, OSError) as exc:
                    outcomes[i] = _failure(profile, python, exc)
            for written in as_completed(writing):
                i = writing[written]
                try:
                    outcomes[i] = written.result()
                except OSError as exc:
                    outcomes[i] = _failure(*self._targets[i][:2], exc)
        results = [outcome for outcome in outcomes if isinstance(outcome, LockResult)]
        failures = [outcome for outcome in outcomes if isinstance(outcome, ConstraintsGenError)]
        if failures:
            raise LockFailed[LockResult](
                results=results, failures=failures, total=len(self._targets)
            )
        return results


def compile_many(
    project: Project,
    profiles: ProfileSet,
    targets: Sequence[tuple[Profile, str]],
    options: LockOptions,
    *,
    jobs: int | None = None,
    keep_versions: Sequence[bool] | None = None,
) -> list[LockResult]:
    """Lock several (profile, Python) pairs in parallel (a :class:`Batch`); results in the
    order given. ``keep_versions``: for each target, whether its existing lock was found intact
    (see :func:`compile_one`; None: each is read again)."""
    keeps: Sequence[bool | None] = [None] * len(targets) if keep_versions is None else keep_versions
    with Batch(
        project, profiles, options, jobs=min(len(targets), jobs or os.cpu_count() or 1)
    ) as batch:
        for (profile, python), keep in zip(targets, keeps, strict=True):
            batch.submit(profile, python, keep)
        return batch.finish()


def _failure(
    profile: Profile, python: str, exc: ConstraintsGenError | OSError
) -> ConstraintsGenError:
    if isinstance(exc, ConstraintsGenError):
        return exc
    # a full disk, an unwritable generated/: name the file
    where = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return ConstraintsGenError(
        f"profile {profile.name}, CPython {python}: cannot write"
        f" {' -> '.join(where) or 'its files'}: {exc.strerror or exc}"
    )


def export_pylock(
    profiles: ProfileSet,
    profile: Profile,
    python: str,
    options: LockOptions,
    dest: Path,
    *,
    tag_python: bool = False,
) -> Path:
    """Write a PEP 751 ``pylock.<profile>.toml`` into ``dest`` (not into generated/);
    ``pylock.<profile>-py311.toml`` with ``tag_python``, for one file per Python (PEP 751 names
    allow no dot in the middle part)."""
    suffix = "-py" + python.replace(".", "") if tag_python else ""
    target = dest / f"pylock.{profile.name}{suffix}.toml"
    with tempfile.TemporaryDirectory(prefix="constraints-gen-") as tmp:
        work = Path(tmp)
        write_inputs(work, profile, profiles.manifest)
        args = uv_compile_args(profile, python, options)
        args[args.index("out.txt")] = target.name
        args[args.index("--annotation-style") : args.index("--annotation-style") + 2] = []
        runner.run(
            [*args, "--format", "pylock.toml"],
            cwd=work,
            env=UvResolver().env(profile, options),
            hint=f"profile {profile.name} (CPython {python}) did not resolve",
        )
        atomic_write(target, (work / target.name).read_bytes())
    return target
