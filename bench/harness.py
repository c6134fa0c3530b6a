"""Timing: run a candidate and its baseline alternately in one process, report medians.

Machines are noisy: A and B take turns (A, B, A, B, ...), so drift hits both alike, and the
median of each is compared. Only wall time around ``subprocess.run`` is measured.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

#: The environment of every measured command: this machine's, but with bytecode caching on (a
#: real install has compiled .pyc files; PYTHONDONTWRITEBYTECODE would make every run compile).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One command to time; ``prepare`` runs before each timed run, untimed."""

    label: str
    argv: Sequence[str | Path]
    cwd: Path | None = None
    prepare: Callable[[], None] | None = None
    ok_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Wall times (seconds) of one case, in run order."""

    label: str
    runs: tuple[float, ...] = field(default_factory=tuple)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def ms(self) -> str:
        """The median, and the spread of the runs: their interquartile range."""
        if len(self.runs) < 4:
            return f"{self.median * 1000:.1f} ms"
        low, _, high = statistics.quantiles(self.runs, n=4)
        return f"{self.median * 1000:.1f} ms ({low * 1000:.0f}-{high * 1000:.0f})"


def run_once(case: Case) -> float:
    if case.prepare is not None:
        case.prepare()
    argv = [str(arg) for arg in case.argv]
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=case.cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in case.ok_codes:
        raise SystemExit(
            f"bench: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode()}"
        )
    return elapsed


def alternate(cases: Sequence[Case], repeats: int, warmup: int = 1) -> list[Timing]:
    """Run every case ``repeats`` times, taking turns; ``warmup`` untimed rounds first."""
    for _ in range(warmup):
        for case in cases:
            run_once(case)
    runs: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for i, case in enumerate(cases):
            runs[i].append(run_once(case))
    return [Timing(label=c.label, runs=tuple(r)) for c, r in zip(cases, runs, strict=True)]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(uv: str) -> Mapping[str, str]:
    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"
    found = {
        "machine": machine,
        "python": f"CPython {platform.python_version()}",
        "uv": subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip(),
    }
    for dist in ("constraints-gen", "click", "packaging", "pip-tools", "pip"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
