"""The table of published torch builds (``profiles/builds/torch.toml``), typed.

One row is one build: a torch release in one variant for one system and machine, with the facts
that decide where it runs (its CUDA version, the compute capabilities it has SASS for, PTX, the
oldest driver, the oldest glibc, the Pythons it has wheels for) and where each fact comes from.
The NVIDIA profiles' ``[hardware]`` tables are generated from it
(:mod:`constraints_gen.profiles.generate`); other tools read it through :func:`load_builds` and
:func:`candidates` ("which builds run on this machine, newest torch first").

Rules used here are the selection's (:mod:`constraints_gen.profiles.select`): a build runs on a
GPU when it has SASS for the same major architecture at or below the GPU's, or PTX for an older
architecture than the GPU's (NVIDIA CUDA C Programming Guide, binary and PTX compatibility); on a
driver at least its ``min_driver`` (NVIDIA CUDA Compatibility guide, minor-version compatibility);
on Linux, on a glibc at least its manylinux floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from constraints_gen.detect.hardware import Hardware, driver_tuple, parse_cc
from constraints_gen.errors import InputError
from constraints_gen.tomlio import read_toml, type_name

#: The table's place inside a profiles folder.
TABLE = Path("builds") / "torch.toml"
_KEYS = {
    "profile", "torch", "variant", "index", "system", "machine", "cuda", "archs", "ptx",
    "min_driver", "glibc", "pythons", "archs_from", "source",
}  # fmt: skip
_OPTIONAL = {"glibc"}
ArchsFrom = Literal["wheel", "published"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """One published torch build (a row of the table)."""

    profile: str  # the profile file whose [hardware] it generates
    torch: str  # exact, local label included: "2.14.1+cu126"
    variant: str  # "cu126"
    index: str | None  # None: PyPI
    system: str  # "linux" or "windows"
    machine: str  # "x86_64"
    cuda: tuple[int, int]
    archs: tuple[tuple[int, int], ...]  # SASS, oldest first
    ptx: bool
    min_driver: str
    glibc: tuple[int, int] | None  # Linux only
    pythons: tuple[str, ...]
    archs_from: ArchsFrom
    source: str

    @property
    def release(self) -> Version:
        """The torch release, local label aside: ``2.14.1+cu126`` -> ``2.14.1``."""
        return Version(Version(self.torch).public)

    @property
    def cuda_text(self) -> str:
        return f"{self.cuda[0]}.{self.cuda[1]}"

    def runs_gpu(self, cc: tuple[int, int]) -> bool:
        """Does the build have kernels for a GPU of compute capability ``cc``?"""
        if any(arch[0] == cc[0] and arch <= cc for arch in self.archs):
            return True
        return self.ptx and bool(self.archs) and cc > max(self.archs)

    def why_not(self, hardware: Hardware) -> tuple[str, ...]:
        """Every reason the build does not run on ``hardware`` (empty: it runs)."""
        here, reasons = hardware.platform, list[str]()
        if (here.system, here.machine) != (self.system, self.machine):
            reasons.append(f"built for {self.system} {self.machine}")
        elif self.glibc is not None and here.glibc is not None:
            have = tuple(int(p) for p in here.glibc.split(".")[:2])
            if have < self.glibc:
                reasons.append(f"glibc {here.glibc} < {self.glibc[0]}.{self.glibc[1]}")
        if hardware.platform.l4t is not None:
            reasons.append("a Jetson: needs a JetPack build")
        gpus = hardware.gpus_of("nvidia")
        if not gpus:
            reasons.append("no NVIDIA GPU")
        reasons += [
            f"no kernels for GPU {gpu.index} ({gpu.cc})"
            for gpu in gpus
            if gpu.compute_capability is not None and not self.runs_gpu(gpu.compute_capability)
        ]
        driver = hardware.driver_version
        if driver is None:
            reasons.append("driver unknown")
        elif driver_tuple(driver) < driver_tuple(self.min_driver):
            reasons.append(f"driver {driver} < {self.min_driver}")
        return tuple(reasons)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildTable:
    path: Path
    builds: tuple[Build, ...]  # newest torch first, then newest CUDA, then the table's order

    def for_profile(self, name: str) -> Build | None:
        return next((b for b in self.builds if b.profile == name), None)


def newest_first(builds: tuple[Build, ...] | list[Build]) -> tuple[Build, ...]:
    """Newest torch release first, then newest CUDA; stable otherwise."""
    return tuple(sorted(builds, key=lambda b: (b.release, b.cuda), reverse=True))


def candidates(
    hardware: Hardware, *, torch: SpecifierSet | str | None = None, table: BuildTable | None = None
) -> tuple[Build, ...]:
    """The builds that run on ``hardware`` (and whose release is in ``torch``), newest first."""
    table = table or load_builds()
    spec = SpecifierSet(torch) if isinstance(torch, str) else torch
    return tuple(
        build
        for build in table.builds
        if not build.why_not(hardware) and (spec is None or spec.contains(build.release))
    )


def load_builds(path: Path | None = None) -> BuildTable:
    """Read and check the table (the built-in one by default); every problem in one InputError."""
    if path is None:
        from constraints_gen.profiles.project import builtin_root

        path = builtin_root() / "profiles" / TABLE
    problems = list[str]()
    data = read_toml(path, problems)
    if data is None:
        raise InputError(problems)
    rows = data.get("build")
    problems += [f"{path}: {key}: unknown key" for key in sorted(set(data) - {"build"})]
    if not isinstance(rows, list) or not rows:
        raise InputError([f"{path}: build: expected an array of [[build]] tables"])
    builds = [b for i, row in enumerate(rows) if (b := _parse(path, i, row, problems)) is not None]
    seen: set[tuple[str, str, str]] = set()
    for i, build in enumerate(builds):
        key = (build.torch, build.system, build.machine)
        if key in seen:
            problems.append(f"{path}: build[{i}]: {build.torch} for {build.system} twice")
        seen.add(key)
    if problems:
        raise InputError(problems)
    return BuildTable(path=path, builds=newest_first(builds))


def _parse(path: Path, i: int, row: Any, problems: list[str]) -> Build | None:
    where = f"{path}: build[{i}]"
    if not isinstance(row, dict):
        problems.append(f"{where}: expected a table, got {type_name(row)}")
        return None
    before = len(problems)

    def bad(key: str, expected: str) -> None:
        problems.append(f"{where}.{key}: expected {expected}, got {row.get(key)!r}")

    problems += [f"{where}.{key}: unknown key" for key in sorted(set(row) - _KEYS)]
    for key in sorted(_KEYS - _OPTIONAL - set(row)):
        problems.append(f"{where}.{key}: missing")
    if len(problems) > before:
        return None
    text = {k: row[k] for k in row if isinstance(row[k], str)}
    for key in _KEYS - {"archs", "ptx", "pythons"}:
        if key in row and key not in text:
            bad(key, "a string")
    try:
        Version(str(row["torch"]))
    except InvalidVersion:
        bad("torch", "an exact version (2.14.1+cu126)")
    cuda = _pair(row["cuda"])
    if cuda is None:
        bad("cuda", 'a version "X.Y"')
    archs = row["archs"]
    parsed = [_pair(a) for a in archs] if isinstance(archs, list) and archs else [None]
    if any(a is None for a in parsed):
        bad("archs", 'a non-empty list of compute capabilities "X.Y"')
    if not isinstance(row["ptx"], bool):
        bad("ptx", "true or false")
    try:
        driver_tuple(str(row["min_driver"]))
    except ValueError:
        bad("min_driver", 'a driver version "525.60.13"')
    glibc = _pair(row["glibc"]) if "glibc" in row else None
    if row.get("system") == "linux" and glibc is None:
        bad("glibc", 'the manylinux glibc floor "2.28" (required on Linux)')
    pythons = row["pythons"]
    if not isinstance(pythons, list) or not all(_pair(p) for p in pythons) or not pythons:
        bad("pythons", 'a non-empty list of "3.X"')
    if row["system"] not in ("linux", "windows"):
        bad("system", '"linux" or "windows"')
    if row["archs_from"] not in ("wheel", "published"):
        bad("archs_from", '"wheel" or "published"')
    if len(problems) > before or cuda is None:
        return None
    return Build(
        profile=row["profile"],
        torch=row["torch"],
        variant=row["variant"],
        index=row["index"] or None,
        system=row["system"],
        machine=row["machine"],
        cuda=cuda,
        archs=tuple(sorted(a for a in parsed if a is not None)),
        ptx=row["ptx"],
        min_driver=row["min_driver"],
        glibc=glibc,
        pythons=tuple(pythons),
        archs_from=row["archs_from"],
        source=row["source"],
    )


def _pair(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_cc(value)
    except ValueError:
        return None
