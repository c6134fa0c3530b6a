"""Benchmarks: gen-constraints side by side with the tools it delegates to.

    python bench/run.py                  # all benchmarks; prints tables, writes BENCHMARKS.md
    python bench/run.py --quick emit     # fewer repeats, only the named benchmarks

Every benchmark times a candidate and its baseline alternately in this process and compares
medians (see bench/harness.py). Nothing here needs the network: re-locks run ``--offline`` from
uv's warm cache, the pip-tools comparison from a folder of local wheels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and tests/support importable
    sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from bench.harness import (
    BIN,
    ENV,
    Case,
    Timing,
    alternate,
    run_once,
    table,
    verdict,
    versions,
)
from bench.scenarios import (
    HARDWARE,
    PYTHON,
    REPO,
    copy_builtin,
    fleet,
    synthetic,
    toggle_manifest,
)

GEN = BIN / "gen-constraints"
BASELINE_IMPORT = "import click, packaging.version"


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One benchmark's result: a Markdown section for BENCHMARKS.md."""

    title: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    quick: bool
    tmp: Path
    warm_uv_cache: bool = False  # relock: fill uv's cache online first (--warm-uv-cache)

    def repeats(self, full: int) -> int:
        return max(3, full // 3) if self.quick else full


def _emit_case(root: Path | None = None, label: str = "gen-constraints --hardware H200") -> Case:
    argv: list[str | Path] = [GEN, "--hardware", HARDWARE, "--python", PYTHON]
    if root is not None:
        argv += ["--root", root]
    return Case(label=label, argv=argv, cwd=Path(tempfile.gettempdir()))


def _check_case(root: Path | None = None) -> Case:
    argv: list[str | Path] = [GEN, "lock", "--check"]
    if root is not None:
        argv += ["--root", root]
    return Case(label="gen-constraints lock --check", argv=argv, cwd=Path(tempfile.gettempdir()))


def _ratio_row(candidate: float, baseline: float, limit: float) -> tuple[str, str, str]:
    ratio = candidate / baseline
    return f"{ratio:.2f}x", f"<= {limit}x", verdict(ratio <= limit)


def importtime(
    argv: Sequence[str], runs: int = 5, cwd: Path | None = None
) -> list[tuple[str, float, float]]:
    """(module, median self ms, median cumulative ms) from ``python -X importtime``, after one
    untimed run (it fills the answer cache as a user's first run does); modules every run
    imported."""
    subprocess.run([sys.executable, *argv], env=ENV, cwd=cwd, capture_output=True)
    samples: dict[str, list[tuple[int, int]]] = {}
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", *argv],
            env=ENV,
            cwd=cwd,
            capture_output=True,
            text=True,
        ).stderr
        for match in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", err):
            samples.setdefault(match[4], []).append((int(match[1]), int(match[2])))
    return [
        (name, statistics.median(s for s, _ in v) / 1000, statistics.median(c for _, c in v) / 1000)
        for name, v in samples.items()
        if len(v) == runs
    ]


def _touch(path: Path) -> Callable[[], None]:
    """A prepare step that gives ``path`` a new mtime, its content unchanged: the answer cache
    (constraints_gen/locks/answers.py) must miss, and the command does the whole work."""

    def prepare() -> None:
        now = time.time_ns()
        os.utime(path, ns=(now, now))

    return prepare


def bench_emit(settings: Settings) -> Section:
    base = Case(
        label=f'python -c "{BASELINE_IMPORT}"', argv=[sys.executable, "-c", BASELINE_IMPORT]
    )
    bare = Case(label="python -c pass", argv=[sys.executable, "-c", "pass"])
    click_only = Case(label='python -c "import click"', argv=[sys.executable, "-c", "import click"])
    cold_root = copy_builtin(settings.tmp / "emit-cold")
    cold = _emit_case(cold_root, "gen-constraints --hardware H200, a profile touched before each")
    cold = Case(label=cold.label, argv=cold.argv, cwd=cold.cwd,
                prepare=_touch(cold_root / "profiles" / "cpu.toml"))  # fmt: skip
    emit, baseline, start, click, miss = alternate(
        [_emit_case(), base, bare, click_only, cold], settings.repeats(21)
    )
    ratio, target, ok = _ratio_row(emit.median, baseline.median, 1.5)
    rows = [
        [emit.label, baseline.label, emit.ms, baseline.ms, ratio, target, ok],
        [miss.label, baseline.label, miss.ms, baseline.ms,
         f"{miss.median / baseline.median:.2f}x", "(no budget: the first run after an edit)", ""],
    ]  # fmt: skip
    head = ["candidate", "baseline", "candidate median", "baseline median", "ratio", "target", ""]
    probe = (
        "from constraints_gen.cli import main; "
        f"main(['--hardware', {str(HARDWARE)!r}, '--python', {PYTHON!r}])"
    )
    cwd = Path(tempfile.gettempdir())  # as the timed runs: the built-in profiles
    ours = importtime(["-c", probe], runs=3 if settings.quick else 7, cwd=cwd)
    theirs = {name for name, _, _ in importtime(["-c", BASELINE_IMPORT], runs=3)}
    extra = sorted((m for m in ours if m[0] not in theirs), key=lambda m: -m[1])
    total = sum(m[1] for m in extra)
    top = [[name, f"{own:.2f}", f"{cum:.2f}"] for name, own, cum in extra[:20]]
    budget = 1.5 * baseline.median
    lookup = _emit_lookups(REPO)
    why = (
        f"\n\nWhere the time goes: Python start-up {start.ms}, `import click`"
        f" {(click.median - start.median) * 1000:.1f} ms more (both are in the baseline too);"
        f" gen-constraints adds {(emit.median - baseline.median) * 1000:.1f} ms to the baseline"
        f" ({(budget - emit.median) * 1000:+.1f} ms left of the budget of 1.5x). Emit's answer is"
        " served from the answer cache (constraints_gen/locks/answers.py) when none of its inputs"
        " changed: every profiles/*.toml, the readout and constraints-gen.toml are compared by"
        " identity (device, inode, size, mtime and ctime in nanoseconds: an edit that puts size"
        " and mtime back still moves the ctime), and the lock and its constraints.txt are read"
        " whole and their bodies checked against the digests in their headers, headers that must"
        " be the ones the answer stands on: what emit prints is the file's own bytes, read now."
        " A hit imports neither the profile model nor tomllib, packaging.specifiers or platform."
        f" Checking those bytes costs {lookup.checked * 1000:.1f} ms of the"
        f" {lookup.served * 1000:.1f} ms a lookup takes in-process (the lookup without it,"
        f" identities only: {lookup.identity * 1000:.1f} ms). The first run after an edit"
        " (second row) does the whole work: parse and validate every profile, select,"
        " fingerprint, read and verify the lock pair (body digests), then store the answer."
    )
    body = (
        table(head, rows)
        + why
        + "\n\nImports beyond the baseline's on a cache hit (`python -X importtime`, medians, ms),"
        f" top 20 by self time; all of them together: {total:.1f} ms.\n\n"
        + table(["module", "self ms", "cumulative ms"], top)
    )
    return Section(title="1. Emit vs. importing click and packaging", body=body)


def bench_check(settings: Settings) -> Section:
    cold_root = copy_builtin(settings.tmp / "check-cold")
    touch = _touch(cold_root / "profiles" / "cpu.toml")
    cold_check = Case(
        label="lock --check, a profile touched before each",
        argv=[GEN, "lock", "--check", "--root", cold_root],
        prepare=touch,
    )
    cold_emit = _emit_case(cold_root, "emit, a profile touched before each")
    cold_emit = Case(label=cold_emit.label, argv=cold_emit.argv, cwd=cold_emit.cwd, prepare=touch)
    check, emit, miss_check, miss_emit = alternate(
        [_check_case(), _emit_case(), cold_check, cold_emit], settings.repeats(21)
    )  # fmt: skip
    lookup = _check_lookups()
    # The budget, re-justified as the issue that set it asks (issue 17): 1.1x emit, plus what
    # checking the bytes of every lock pair costs (measured here, in-process): emit checks one
    # pair, lock --check all of them, and a fresh from the cache holds only for checked bytes.
    limit = 1.1 * emit.median + lookup.checked
    ratio = f"{check.median / emit.median:.2f}x"
    target = f"<= 1.1x + bytes ({limit * 1000:.1f} ms)"
    ok = verdict(check.median <= limit)
    head = ["candidate", "baseline", "candidate median", "baseline median", "ratio", "target", ""]
    rows = [
        [check.label, emit.label, check.ms, emit.ms, ratio, target, ok],
        [miss_check.label, miss_emit.label, miss_check.ms, miss_emit.ms,
         f"{miss_check.median / miss_emit.median:.2f}x", "(no budget: after an edit)", ""],
    ]  # fmt: skip
    locks = sum(1 for p in (REPO / "generated").rglob("py*.lock.txt"))
    size = sum(p.stat().st_size for p in (REPO / "generated").rglob("py*.txt"))
    body = table(head, rows) + (
        f"\n\nThe check of all {locks} committed locks is served from the answer cache when no"
        " profile changed (each compared by identity: device, inode, size, mtime and ctime), and"
        f" every lock and constraints file ({size / 2**20:.1f} MiB) is read whole, its body"
        " checked against the digest in its header and its header against the one the answer"
        " stands on: a fresh from the cache holds only for bytes whose digests were checked. Only"
        " an all-fresh report is cached; a stale or missing lock is always worked out. The second"
        " row is the first check after an edit: it loads and fingerprints every profile, as emit"
        " does after an edit."
        f" Measured in-process, a lookup of the check takes {lookup.served * 1000:.1f} ms, of"
        f" which checking the bytes of every lock pair is {lookup.checked * 1000:.1f} ms (the"
        f" lookup by identity alone, still loading the entry: {lookup.identity * 1000:.1f} ms):"
        f" sha256 of every byte at {size / 2**20 / max(lookup.checked, 1e-9):.0f} MiB/s, the"
        " price of a fresh that holds, proportional to the size of the locks (emit's one pair:"
        " section 1)."
    )
    body += (
        "\n\nThe budget is 1.1x emit plus that check of the bytes (the issue that set 1.1x"
        " asked for it to be re-justified by a measurement once the byte checks came): emit"
        f" checks one pair, `lock --check` all {locks}."
    )
    if ok == "MISS":
        body += (
            f" MISS by {(check.median - limit) * 1000:.1f} ms: the rest of the gap to emit is the"
            " lock command itself (its module and a dozen options for click to parse) and"
            " machine noise."
        )
    return Section(title="2. Freshness check of all built-in profiles vs. emit", body=body)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """Median seconds, in-process, of an answer-cache lookup: whole (``served``), and without
    reading and checking the lock pairs (``identity``: the entry and its inputs' identities)."""

    served: float
    identity: float

    @property
    def checked(self) -> float:
        """What checking the bytes the answer stands on adds to a lookup."""
        return max(self.served - self.identity, 0.0)


def _lookups(load: Callable[[], object], entry: Callable[[], bool], runs: int = 21) -> Lookup:
    served, identity = [], []
    for _ in range(runs):  # alternately, in this process
        start = time.perf_counter()
        assert load() is not None
        served.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert entry()
        identity.append(time.perf_counter() - start)
    return Lookup(served=statistics.median(served), identity=statistics.median(identity))


def _check_lookups() -> Lookup:
    """The lookup of `lock --check` of the built-ins (key as cli/lock.py makes it), after a run
    that stored it."""
    from constraints_gen.locks import answers
    from constraints_gen.profiles.project import builtin_root, find_project

    project = find_project(builtin_root())
    run_once(Case(label="fill", argv=[GEN, "lock", "--check", "--root", project.root]))

    def entry() -> bool:
        key = answers.check_key(project, (), ())
        value = answers.ANSWERS.get(key, answers._CHECK)
        return value is not None and answers.unchanged(value["inputs"])

    return _lookups(lambda: answers.load_check(project, answers.check_key(project, (), ())), entry)


def _emit_lookups(root: Path) -> Lookup:
    """The lookup of emit (key and load, as cli/core.py makes them) in ``root``."""
    from constraints_gen.locks import answers
    from constraints_gen.profiles.project import find_project

    project = find_project(root)
    run_once(_emit_case(root))  # the entry exists

    def key() -> dict[str, object]:
        found = answers.emit_key(
            project, hardware=HARDWARE, profile=None, python=PYTHON, strict=False,
            hardware_env=None,
        )  # fmt: skip
        assert found is not None
        return found[0]

    def entry() -> bool:
        value = answers.ANSWERS.get(key(), answers._EMIT)
        return value is not None and answers.unchanged(value["inputs"])

    return _lookups(lambda: answers.load_emit(project, key()), entry)


def _single_uv_cases(root: Path) -> list[Case]:
    """The exact ``uv pip compile`` that ``lock --offline`` runs for each target, in a folder."""
    from constraints_gen.locks.compile import (
        LockOptions,
        platform_env,
        uv_compile_args,
        write_inputs,
    )
    from constraints_gen.profiles.config import mirrors_from_env, project_mirrors
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project

    project = find_project(root)
    profiles = load_profiles(project.profiles_dir)
    # the mirrors `lock` takes: $GEN_CONSTRAINTS_MIRRORS over constraints-gen.toml
    options = LockOptions(mirrors=project_mirrors(root, mirrors_from_env()), offline=True)
    cases = []
    for view in (view for profile in profiles.profiles for view in profile.views()):
        if not view.commit_lock:
            continue
        for python in view.pythons:
            work = root.parent / "single" / f"{view.name}-{view.platform}-{python}"
            work.mkdir(parents=True)
            write_inputs(work, view, profiles.manifest)
            lock = project.lock_path(view.name, python, view.layout_platform)
            body = "".join(
                line for line in lock.read_text().splitlines(True) if not line.startswith("# ")
            )
            out = work / "out.txt"
            env = [f"{k}={v}" for k, v in platform_env(view).items() if v is not None]
            argv = [*(["env", *env] if env else []), *uv_compile_args(view, python, options)]

            def restore(out: Path = out, body: str = body) -> None:
                out.write_text(body, encoding="utf-8")

            label = f"uv pip compile {view.name} {view.platform} (CPython {python})"
            cases.append(Case(label=label, argv=argv, cwd=work, prepare=restore))
    return cases


#: How bench_relock's uv cache is filled: once, online (PyPI; the cpu profile's torch from
#: download.pytorch.org, or from the folder $GEN_CONSTRAINTS_MIRRORS names).
WARM_HINT = (
    "fill uv's cache once, online: python bench/run.py relock --warm-uv-cache (it re-locks a"
    " copy of the built-in profiles without --offline; where download.pytorch.org cannot be"
    " reached, export GEN_CONSTRAINTS_MIRRORS=pytorch-cpu=DIR, DIR holding the cpu profile's"
    " torch wheel)"
)


def _warm(root: Path, online: bool) -> None:
    """Re-lock ``root`` once, untimed: online with ``online`` (which fills uv's cache), else
    offline, to fail early and say how to fill the cache when it lacks a package."""
    argv = [str(GEN), "lock", "--root", str(root), "--force", *([] if online else ["--offline"])]
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lacks = "network was disabled" in done.stderr
        raise SystemExit(
            f"bench relock: {shlex.join(argv)} exited {done.returncode}:\n...{done.stderr[-2000:]}"
            + (f"\nuv's cache lacks a package of these locks: {WARM_HINT}" if lacks else "")
        )


def bench_relock(settings: Settings) -> Section:
    root = copy_builtin(settings.tmp / "relock" / "root")
    if settings.warm_uv_cache:
        _warm(root, online=True)
    _warm(root, online=False)
    singles = _single_uv_cases(root)
    script = settings.tmp / "relock" / "compiles.txt"
    script.write_text(
        "".join(
            f"cd {shlex.quote(str(c.cwd))} && exec {shlex.join(map(str, c.argv))}\n"
            for c in singles
        ),
        encoding="utf-8",
    )

    def restore_all() -> None:
        for case in singles:
            assert case.prepare is not None
            case.prepare()

    parallel = Case(
        label=f"the same {len(singles)} uv pip compile, xargs -P $(nproc)",
        argv=["sh", "-c", f'xargs -d "\\n" -n1 -P "$(nproc)" sh -c < {shlex.quote(str(script))}'],
        prepare=restore_all,
    )
    relock = Case(
        label="gen-constraints lock --offline (all, after a manifest edit)",
        argv=[GEN, "lock", "--root", root, "--offline"],
        prepare=lambda: toggle_manifest(root),
    )
    idle_case = Case(
        label="lock with nothing stale", argv=[GEN, "lock", "--root", root, "--offline"]
    )
    one = singles[0]
    lock, shell, idle, single = alternate([relock, parallel, idle_case, one], settings.repeats(9))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ratio, target, ok = _ratio_row(lock.median, shell.median, 1.2)
    head = ["candidate", "baseline", "candidate median", "baseline median", "ratio", "target", ""]
    rows = [[lock.label, shell.label, lock.ms, shell.ms, ratio, target, ok]]
    gap = lock.median - shell.median
    on_demand = _on_demand(root)
    body = (
        table(head, rows)
        + f"\n\n{len(singles)} targets (each platform of each profile, each Python), {cpus} CPUs"
        f" (`nproc`); one compile alone ({one.label}) takes {single.ms}. The {len(on_demand)}"
        f" profiles locked on demand ({', '.join(on_demand)}: target.commit_lock = false) are"
        " no targets: `lock` never writes them into generated/ (they are locked into the user"
        " cache when used, from indexes this bench need not reach). uv runs offline from its"
        f" cache, which must hold every package of these locks: {WARM_HINT}."
        f"\n\n`lock` runs the same uv commands {cpus} at a time (`--jobs` defaults to the"
        " CPUs): a worker only runs uv, a stale target's run starts as soon as its lock pair is"
        " read and verified, and the main thread checks and renders each new lock, then writer"
        " threads write its two files (atomic_write: temporary file, fsync, rename, as every"
        f" write). What it adds to the parallel shell, {gap * 1000:+.1f} ms, is Python's start and"
        " imports, loading and checking the profiles, taking generated/.lock, reading and"
        " verifying every lock pair, and checking and rendering each new lock: `lock` with"
        f" nothing stale takes {idle.ms}."
        + ("" if ok == "PASS" else _relock_why(gap, idle.median, shell.median, len(singles), root))
        + "\n\n"
        + _piptools_gap(settings)
    )
    return Section(title="3. Re-lock after a manifest change (warm uv cache, offline)", body=body)


def _on_demand(root: Path) -> list[str]:
    from constraints_gen.profiles.load import load_profiles

    profiles = load_profiles(root / "profiles")
    return sorted({v.name for p in profiles.profiles for v in p.views() if not v.commit_lock})


def _parse_cost(root: Path, runs: int = 5) -> tuple[float, int]:
    """Median seconds, in-process, of reading and verifying every lock under ``root``
    (constraints_gen.locks.file.read_lock_file: digest and every line), and their count."""
    from constraints_gen.locks.file import read_lock_file

    paths = sorted((root / "generated").rglob("py*.lock.txt"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for path in paths:
            read_lock_file(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(paths)


def _relock_why(gap: float, idle: float, shell: float, targets: int, root: Path) -> str:
    parse, locks = _parse_cost(root)
    return (
        f" MISS by {(gap - 0.2 * shell) * 1000:.0f} ms: the budget leaves"
        f" {0.2 * shell * 1000:.0f} ms (0.2x the shell) for our side, and the idle `lock`"
        f" (Python's start and imports, loading the profiles, reading every lock pair) takes"
        f" {idle * 1000:.0f} ms; in a re-lock only the start, the imports and the profiles come"
        " before the first uv run."
        f" The rest is CPU that Python takes from the {targets} uv runs, which keep every CPU"
        f" busy: reading and verifying the {locks} locks (digest and every line, about 90% of"
        f" them --hash lines) costs {parse * 1000:.0f} ms in one thread (measured), once for"
        " the old locks (while the first uv runs go) and once for uv's new ones. One regex a"
        " line is near the floor in Python: one regex for an entry's whole run of hash lines"
        " measured slower (89 against 65 ms for these locks), str methods for uv's own layout"
        " 15% faster. What is left to try: fewer"
        " imports before the first uv run, or not parsing again an old pair whose bytes were"
        " verified before (as `lock --check` does with its answer cache)."
    )


def _piptools_gap(settings: Settings) -> str:
    from support.lock_project import make_project

    root = make_project(settings.tmp / "piptools" / "root")
    args: list[str | Path] = [GEN, "lock", "--force", "--root", root]
    uv_case = Case(label="lock --force (uv)", argv=args)
    pt_case = Case(
        label="lock --force --resolver pip-tools", argv=[*args, "--resolver", "pip-tools"]
    )
    pt, uv = alternate([pt_case, uv_case], settings.repeats(6))
    rows = [[pt.label, uv.label, pt.ms, uv.ms, f"{pt.median / uv.median:.1f}x"]]
    return (
        "pip-tools backend: pip-compile cannot run offline from a cache, and the built-in profiles"
        " target other Pythons and download multi-GB wheels to hash, so the gap is measured on"
        " the test suite's synthetic project instead (3 profiles, tiny local wheels as mirrors,"
        f" CPython {PYTHON}):\n\n"
        + table(["pip-tools", "uv", "pip-tools median", "uv median", "pip-tools / uv"], rows)
    )


def bench_scale(settings: Settings) -> Section:
    sizes = (7, 25, 50, 100) if settings.quick else (7, 25, 50, 100, 200)
    rows = []
    curves: dict[str, list[float]] = {"emit": [], "lock --check": [], "emit after an edit": []}
    lookups: list[float] = []
    cases: list[Case] = []
    for size in sizes:
        root = synthetic(settings.tmp / f"scale-{size}", size, 300)
        cold_root = synthetic(settings.tmp / f"scale-{size}-cold", size, 300)  # its own cache
        cold = _emit_case(cold_root, "cold")
        cold = Case(label=cold.label, argv=cold.argv, cwd=cold.cwd,
                    prepare=_touch(cold_root / "profiles" / "p000.toml"))  # fmt: skip
        cases += [_emit_case(root), _check_case(root), cold]
        lookups.append(_emit_lookup_cost(root))
    # every size in one alternation: the machine's drift hits all points of a curve alike
    timings = alternate(cases, settings.repeats(15))
    for i, size in enumerate(sizes):
        emit, check, miss = timings[3 * i : 3 * i + 3]
        for name, timing in zip(curves, (emit, check, miss), strict=True):
            curves[name].append(timing.median)
        rows.append([size, emit.ms, check.ms, miss.ms])
    verdicts = []
    for name, times in curves.items():
        # linear: a least-squares line over the points below the last one predicts the last
        # within 10% of the first point (upward curvature beyond the noise fails)
        xs, ys = sizes[:-1], times[:-1]
        mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        predicted = mean_y + max(slope, 0.0) * (sizes[-1] - mean_x)
        ok = times[-1] <= predicted + 0.1 * times[0]
        verdicts.append(
            [
                name,
                f"{slope * 1e6:.0f} us per profile ({sizes[0]} to {sizes[-2]})",
                f"{predicted * 1000:.1f} ms",
                f"{times[-1] * 1000:.1f} ms",
                f"<= predicted + {0.1 * times[0] * 1000:.1f} ms (10% of {sizes[0]} profiles)",
                verdict(ok),
            ]
        )
    emit_curve = curves["emit"]
    ratio = emit_curve[-1] / emit_curve[0]
    body = (
        "Synthetic profiles, each with a committed 300-package lock (CPython"
        f" {PYTHON}); emit and lock --check as a user runs them again (answers cached), and emit"
        " after an edit (a profile touched before each run: the whole work):\n\n"
        + table(["profiles", "emit median", "lock --check median", "emit after an edit"], rows)
        + f"\n\nEmit with {sizes[-1]} profiles against emit with {sizes[0]}:"
        f" {ratio:.2f}x (target <= 1.3x): {verdict(ratio <= 1.3)}. Measured in-process, the"
        f" answer cache's lookup (key and load) takes {lookups[0] * 1000:.1f} ms with"
        f" {sizes[0]} profiles and {lookups[-1] * 1000:.1f} ms with {sizes[-1]} (one open and"
        " read per profile file): what the cache adds per profile is that much. Linear: a"
        f" least-squares line through the points up to {sizes[-2]} profiles predicts the point"
        f" at {sizes[-1]}:\n\n"
        + table(
            ["command", "fitted slope", f"predicted at {sizes[-1]}", "measured", "target", ""],
            verdicts,
        )
        + "\n\nA cached answer costs nearly the same for any number of profiles (the fitted"
        " slope is within this machine's noise). After an edit, emit parses and"
        " validates every profile: its cost per profile is the TOML parse and the model of one"
        " profile, and the re-validation of the manifest against each."
    )
    return Section(title="6. Scale: many profiles, 300-package locks", body=body)


def _emit_lookup_cost(root: Path) -> float:
    """Median seconds, in-process, of emit's answer-cache lookup (key and load) in ``root``."""
    return _emit_lookups(root).served


def bench_sync(settings: Settings) -> Section:
    from support.sync_project import make_venv, scenario_project

    root, wheels = scenario_project(settings.tmp / "sync")
    venv = settings.tmp / "sync" / "venv"
    make_venv(venv, wheels, [])
    common = ["--root", str(root), "--profile", "demo", "--python", str(venv), "--wheelhouse"]
    sync_args = [str(GEN), "sync", *common, str(wheels)]
    run_once(Case(label="first sync", argv=sync_args))  # now the environment is in sync

    def bare(extra: list[str]) -> list[str]:
        printed = subprocess.run(
            [*sync_args, *extra, "--print-command"], env=ENV, capture_output=True, text=True,
            check=True,
        ).stdout  # fmt: skip
        return shlex.split(printed)

    stdlib = "json, hashlib, hmac, subprocess, dataclasses, pathlib, threading"
    floor_code = f"import click, {stdlib}"
    start, floor, bare_stdlib, check, uv_check, full, no_deep, uv_sync = alternate(
        [
            Case(label='python -c "import click"', argv=[sys.executable, "-c", "import click"]),
            Case(label="python -c (the floor)", argv=[sys.executable, "-c", floor_code]),
            Case(label="python -c (no click)", argv=[sys.executable, "-c", f"import {stdlib}"]),
            Case(label="gen-constraints sync --check", argv=[*sync_args, "--check"]),
            Case(label="uv pip sync --check", argv=bare(["--check"])),
            Case(label="gen-constraints sync (then verify, deep)", argv=sync_args),
            Case(label="gen-constraints sync --no-deep", argv=[*sync_args, "--no-deep"]),
            Case(label="uv pip sync", argv=bare([])),
        ],
        settings.repeats(21),
    )  # fmt: skip
    head = ["candidate", "baseline", "candidate median", "baseline median", "delta", "target", ""]

    def row(tool: Timing, uv: Timing, budget: float | None) -> list[str]:
        delta = tool.median - uv.median
        if budget is None:
            return [
                tool.label,
                uv.label,
                tool.ms,
                uv.ms,
                f"+{delta * 1000:.1f} ms",
                "(no budget)",
                "",
            ]
        target, ok = f"<= +{budget * 1000:.0f} ms", verdict(delta <= budget)
        return [tool.label, uv.label, tool.ms, uv.ms, f"+{delta * 1000:.1f} ms", target, ok]

    rows = [row(check, uv_check, 0.060), row(full, uv_sync, 0.200),
            row(no_deep, uv_sync, None)]  # fmt: skip
    ours = check.median - uv_check.median - floor.median
    miss = ""
    if check.median - uv_check.median > 0.060:
        miss = (
            f"\n\nMISS by {(check.median - uv_check.median - 0.060) * 1000:.1f} ms: of the"
            f" {(check.median - uv_check.median) * 1000:.1f} ms around uv, a Python that only"
            f" imports click and the standard library the no-op path needs ({floor_code!r})"
            f" takes {floor.ms} (measured alongside; `import click` alone {start.ms}), which"
            f" leaves {ours * 1000:.1f} ms for ours: our modules, the answer's lookup (a stat of"
            " each input, the sealed entry), reading and checking the lock, and starting uv."
            " That floor is most of the 60 ms on this machine: the budget holds only where Python"
            " starts and imports faster than here. A path without click would save only what"
            " click imports beyond that standard library: the same Python without click takes"
            f" {bare_stdlib.ms}, {(floor.median - bare_stdlib.median) * 1000:.0f} ms less."
        )
    verify = full.median - check.median
    shallow = no_deep.median - check.median
    body = (
        "An environment already in sync with a lock (the test suite's scenario: 3 tiny packages"
        " installed); the baselines are the uv commands `--print-command` shows, run bare.\n\n"
        + table(head, rows)
        + "\n\nA no-op `sync` runs the same single uv command as `sync --check` (`uv pip sync"
        " --check --output-format json`: in an environment in sync that is all `uv pip sync`"
        " does) and, while uv runs, compares the environment state of the last verify"
        " (constraints_gen/install/state.py: every file, RECORD and folder it names is stat'ed;"
        " nothing changed, so no probe runs): it adds"
        f" {verify * 1000:.0f} ms to `sync --check` here. Neither loads a profile: which"
        " profile, interpreter and lock the command works on is the environment answer"
        " (constraints_gen/install/noop.py), served when none of its inputs changed, the lock read"
        " and its seal checked on every run. With --no-deep (no state: both probes run,"
        f" {shallow * 1000:.0f} ms more than `sync --check`) it is two runs of the target"
        " interpreter, one reading every installed package's metadata, one importing the"
        " profile's modules. A real environment: section 8 (torch's stack) and section 9 (up to"
        " 100,000 files)." + miss
    )
    return Section(title="4. sync of an environment already in sync vs. bare uv", body=body)


def bench_wheelhouse(settings: Settings) -> Section:
    from bench.scenarios import big_wheelhouse
    from constraints_gen import caches
    from constraints_gen.install.checkanswers import CHECKS
    from constraints_gen.install.wheelhouse import HASHES, HashCache

    count, size = (30, 1 << 20) if settings.quick else (100, 2 << 20)
    root, folder = big_wheelhouse(settings.tmp / "wheelhouse", count, size)
    home = caches.trusted_dir(HASHES.name)
    assert home is not None
    cache = HASHES._file(home, caches.canonical(HashCache(folder).key))  # in the user cache
    args: list[str | Path] = [GEN, "wheelhouse", "check", "--root", root, "--profile", "big"]
    args += ["--wheelhouse", folder]
    files = sorted(folder.glob("*.whl"))
    total = sum(f.stat().st_size for f in files)

    def forget_answers() -> None:  # the answers of `wheelhouse check` (their own folder)
        answers = caches.trusted_dir(CHECKS.name, create=False)
        for entry in () if answers is None else answers.glob("*.json"):
            entry.unlink()

    def forget_all() -> None:
        cache.unlink(missing_ok=True)
        forget_answers()

    first, again, worked, sha, emit = alternate(
        [
            Case(label="wheelhouse check (no cache)", argv=args, prepare=forget_all),
            Case(label="wheelhouse check (unchanged folder)", argv=args),
            Case(label="wheelhouse check (unchanged folder, no answer cache)", argv=args,
                 prepare=forget_answers),
            Case(label="sha256sum of the same files", argv=["sha256sum", *files]),
            _emit_case(),
        ],
        settings.repeats(9),
    )  # fmt: skip
    # The process starts Python and imports click (about the emit time): time check() alone too.
    probe = (
        "import time; from pathlib import Path\n"
        "from constraints_gen.profiles.load import load_profiles\n"
        "from constraints_gen.profiles.project import find_project\n"
        "from constraints_gen.install.wheelhouse import HashCache, check, read_locks\n"
        f"root, folder = Path({str(root)!r}), Path({str(folder)!r})\n"
        "start = time.perf_counter(); project = find_project(root)\n"
        "profiles = load_profiles(project.profiles_dir)\n"
        "check(folder, read_locks(project, profiles, [profiles.get('big')]), HashCache(folder))\n"
        "print(time.perf_counter() - start)\n"
    )
    inner = statistics.median(
        float(subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True,
                             text=True, check=True).stdout)
        for _ in range(settings.repeats(9))
    )  # fmt: skip
    whole = sha.median / first.median
    hashing = sha.median / max(first.median - worked.median, 1e-9)  # less the fixed start-up
    rows = [
        [first.label, sha.label, first.ms, sha.ms,
         f"hashing {hashing:.0%} of sha256sum's speed (whole command: {whole:.0%})",
         ">= 80%", verdict(hashing >= 0.8)],
        [again.label, emit.label, again.ms, emit.ms,
         f"+{(again.median - emit.median) * 1000:.1f} ms", "<= emit + 15 ms",
         verdict(again.median <= emit.median + 0.015)],
        [worked.label, emit.label, worked.ms, emit.ms,
         f"+{(worked.median - emit.median) * 1000:.1f} ms", "-", ""],
        ["check() in-process, unchanged folder", "-", f"{inner * 1000:.1f} ms", "-",
         "load profiles, read the lock, stat and compare", "< 50 ms", verdict(inner < 0.050)],
    ]  # fmt: skip
    head = ["candidate", "baseline", "candidate median", "baseline median", "result", "target", ""]
    over = again.median - emit.median
    recheck_why = (
        "\n\nThe re-check of an unchanged folder is served from the answer cache of"
        " `wheelhouse check` (install/checkanswers.py, in the user's own cache): it loads no"
        " profile, parses no lock and classifies no wheel, but it checks everything the answer"
        " stands on, as the whole check would see it: the identity (device, inode, size, mtime"
        " and ctime) of every wheel, the folder's listing (a wheel added or removed), the"
        " profiles, constraints-gen.toml and the code, and it reads the lock and its"
        " constraints.txt and checks their seals. Only an exact folder's answer is kept. Over"
        f" emit's cached answer it adds {over * 1000:+.1f} ms ({count} wheels here); without"
        f" the answer cache (the whole check, every sha256 from the hash cache) it adds"
        f" {(worked.median - emit.median) * 1000:+.1f} ms, and check() alone takes"
        f" {inner * 1000:.1f} ms in-process (load the profiles, read the lock, stat and"
        " compare)."
    )
    if over > 0.015:
        recheck_why += f" MISS by {(over - 0.015) * 1000:.1f} ms."
    body = (
        f"{count} wheels ({total / 2**20:.0f} MiB), all in one lock. The hashing speed is the"
        " bytes over (first run - the whole re-check without the answer cache): what the first"
        " run adds to a run that hashes nothing, against the whole `sha256sum` command.\n\n"
        + table(head, rows)
        + recheck_why
    )
    return Section(title="5. wheelhouse check of a folder of wheels", body=body)


def _fitted(sizes: Sequence[int], times: Sequence[float]) -> tuple[float, float]:
    """(slope, the last point as the least-squares line through the others predicts it)."""
    xs, ys = sizes[:-1], times[:-1]
    mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return slope, mean_y + max(slope, 0.0) * (sizes[-1] - mean_x)


def bench_plan(settings: Settings) -> Section:
    """`plan --json` of synthetic fleets (bench/scenarios.py: fleet) with the built-in profiles."""
    sizes = (100, 1_000, 10_000)
    root = copy_builtin(settings.tmp / "plan")
    cases = [
        Case(
            label=f"plan of {size} readouts",
            ok_codes=(0, 1),
            cwd=root,
            argv=[GEN, "plan", "--json", "--root", root, fleet(root / "fleets", size)],
        )
        for size in sizes
    ]
    timings = alternate(cases, settings.repeats(9))
    times = [t.median for t in timings]
    shapes, fits = _fleet_facts(root / "fleets" / f"fleet-{sizes[-1]}.jsonl")
    slope, predicted = _fitted(sizes, times)
    linear = times[-1] <= predicted + 0.1 * times[0]
    rows = [[f"{size:,}", t.ms, f"{t.median / size * 1e6:.0f} us"]
            for size, t in zip(sizes, timings, strict=True)]  # fmt: skip
    body = (
        f"`gen-constraints plan --json` of a fleet's readouts in one JSON-lines file, with the"
        f" built-in profiles: half the nodes are the real H200 readout at one of 8 R580 driver"
        f" releases, the rest drawn from every machine in tests/data/hardware (NVIDIA"
        f" generations and drivers, Jetson, AMD, Intel, Apple, Windows, CPU); each node has its"
        f" own host name and GPU UUIDs. The {sizes[-1]:,}-node fleet has {shapes} distinct"
        f" readout shapes and {fits:,} nodes that fit a profile (the others fit none: exit 1)."
        " Selection runs once per shape (profiles/plan.py), so the cost per node is reading"
        " its JSON, validating it, and writing its line of the plan.\n\n"
        + table(["readouts", "plan --json median", "per readout"], rows)
        + f"\n\n{sizes[-1]:,} readouts in {times[-1]:.2f} s (target < 3 s):"
        f" {verdict(times[-1] < 3.0)}. Linear: a least-squares line through {sizes[0]} and"
        f" {sizes[1]:,} ({slope * 1e6:.0f} us per readout) predicts {predicted:.2f} s at"
        f" {sizes[-1]:,}; measured {times[-1]:.2f} s (target <= predicted + 10% of the"
        f" {sizes[0]}-readout time): {verdict(linear)}."
    )
    return Section(title="7. plan of a fleet: 100 to 10,000 readouts", body=body)


def _fleet_facts(path: Path) -> tuple[int, int]:
    """(distinct readout shapes, nodes that fit) of a fleet file, read in-process."""
    from constraints_gen.detect.readouts import read_paths
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.plan import make_plan

    readouts = read_paths([path])
    shapes = {
        json.dumps({**r.hardware.to_json(), "gpus": [
            {k: v for k, v in g.items() if k not in ("uuid", "memory_mib")}
            for g in r.hardware.to_json()["gpus"]]}, sort_keys=True)
        for r in readouts if r.hardware is not None
    }  # fmt: skip
    plan = make_plan(load_profiles(REPO / "profiles"), readouts)
    return len(shapes), len(plan.of("fits"))


BENCHMARKS: dict[str, Callable[[Settings], Section]] = {
    "emit": bench_emit,
    "check": bench_check,
    "relock": bench_relock,
    "sync": bench_sync,
    "wheelhouse": bench_wheelhouse,
    "scale": bench_scale,
    "plan": bench_plan,
}


def render(sections: Sequence[Section], quick: bool, seconds: float) -> str:
    from constraints_gen.runner import uv_bin

    info = versions(uv_bin())
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python bench/run.py"
        + (" --quick" if quick else "")
        + f"` in {seconds:.0f} s; do not edit by hand. Medians of runs taken alternately with"
        " their baseline in one process (wall time of the whole command, from a spawned"
        " process), with the interquartile range of the runs in brackets: this machine is"
        " shared and noisy, so a verdict within the spread of its budget can flip between runs."
        " Python"
        " bytecode caching is on, as in a real install.",
        "",
        table(["", "version"], list(info.items())),
        "",
    ]
    notes = REPO / "bench" / "NOTES.md"
    for section in sections:
        lines += [f"## {section.title}", "", section.body, ""]
    if notes.is_file():
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    # sections measured by hand, outside this run and CI (bench/environment.py, bench/scale.py
    # write them there with --output): kept as they were measured
    for kept in sorted((REPO / "bench" / "by-hand").glob("*.md")):
        lines += [kept.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller scale")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument(
        "--warm-uv-cache",
        action="store_true",
        help="relock: fill uv's cache online first (PyPI), then time offline",
    )
    args = parser.parse_args(argv)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "constraints_gen")])
    run_once(_emit_case())  # fail fast when the tool itself is broken
    start = time.perf_counter()
    sections = []
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        settings = Settings(quick=args.quick, tmp=Path(tmp), warm_uv_cache=args.warm_uv_cache)
        for name in args.names or list(BENCHMARKS):
            print(f"== {name}", file=sys.stderr, flush=True)
            section = BENCHMARKS[name](settings)
            print(f"## {section.title}\n\n{section.body}\n", flush=True)
            sections.append(section)
    args.output.write_text(render(sections, args.quick, time.perf_counter() - start))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
