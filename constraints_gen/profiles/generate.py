"""Write the NVIDIA profiles' ``[hardware]`` tables from the build table, or check they are in step.

Each row of ``profiles/builds/torch.toml`` names the profile it is the build of. The profile's
``[hardware]`` table (with a marker comment above it) is rendered from the row; everything else
in the file (name, description, target, pins, indexes, comments) stays hand-written, and is
checked against the row: the torch pin is the row's exact version, the row's index is one of
the profile's indexes, the profile's platforms are the row's system and machine with a glibc floor
no older than the row's, and every Python it locks has wheels in the build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.errors import InputError, ProfilesOutOfStep
from constraints_gen.fsutil import atomic_write
from constraints_gen.profiles.builds import TABLE, Build, BuildTable, load_builds
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet
from constraints_gen.uvplatforms import parse_uv_platform

MARKER = "# [hardware] generated from builds/torch.toml by `gen-constraints profiles generate`"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    written: tuple[Path, ...]  # changed (or, with check, out of step)
    unchanged: tuple[Path, ...]


def render_hardware(build: Build) -> str:
    """The ``[hardware]`` table of ``build``'s profile, with its marker line."""
    archs = json.dumps([f"{a[0]}.{a[1]}" for a in build.archs]).replace('","', '", "')
    return (
        f"{MARKER}\n[hardware]\n"
        f'vendor = "nvidia"\ncuda = "{build.cuda_text}"\ncompute_capabilities = {archs}\n'
        f'ptx = {str(build.ptx).lower()}\nmin_driver = "{build.min_driver}"\n'
    )


def replace_hardware(text: str, path: Path, block: str) -> str:
    """``text`` with its ``[hardware]`` table (and marker line) replaced by ``block``."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == "[hardware]"]
    if len(starts) != 1:
        raise InputError([f"{path}: expected one [hardware] table, found {len(starts)}"])
    start = starts[0]
    if start > 0 and lines[start - 1].startswith(MARKER):
        start -= 1
    end = next(
        (i for i in range(starts[0] + 1, len(lines)) if lines[i].lstrip().startswith("[")),
        len(lines),
    )
    while end > starts[0] + 1 and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1  # blank lines and the next table's comments stay where they are
    return "".join(lines[:start]) + block + "".join(lines[end:])


def consistency(build: Build, profiles: ProfileSet, path: Path) -> list[str]:
    """What in the profile's hand-written part disagrees with its row."""
    problems = list[str]()
    profile = profiles.get(build.profile)
    pin = profile.pin("torch")
    if pin is None or pin.version != build.torch:
        got = None if pin is None else pin.version
        problems.append(f"{path}: pins.torch is {got!r}; the build table says {build.torch!r}")
    urls = [index.url.rstrip("/") for index in profile.indexes]
    if build.index is not None and build.index.rstrip("/") not in urls:
        problems.append(f"{path}: indexes: none is {build.index}, where the table's build lives")
    for view in profile.views():
        spec = parse_uv_platform(view.platform)
        where = f"{path}: target.platforms ({view.platform})"
        if (spec.system, spec.machine) != (build.system, build.machine):
            problems.append(f"{where}: the build is for {build.system} {build.machine}")
        elif build.glibc is not None and (spec.glibc is None or spec.glibc < build.glibc):
            floor = f"{build.glibc[0]}.{build.glibc[1]}"
            problems.append(f"{where}: older than glibc {floor}, the build's wheels' floor")
        missing = [p for p in view.pythons if p not in build.pythons]
        if missing:
            problems.append(
                f"{path}: target.python: {', '.join(missing)} not among the build's Pythons"
                f" ({', '.join(build.pythons)})"
            )
    return problems


def generate(profiles_dir: Path, *, check: bool, table: BuildTable | None = None) -> Outcome:
    """Rewrite (or, with ``check``, compare) every row's profile; raise on any disagreement."""
    table = table or load_builds(profiles_dir / TABLE)
    problems, written, unchanged = list[str](), list[Path](), list[Path]()
    for build in table.builds:
        path = profiles_dir / f"{build.profile}.toml"
        if not path.is_file():
            problems.append(f"{table.path}: profile {build.profile!r}: no file {path}")
            continue
        text = path.read_text(encoding="utf-8")
        new = replace_hardware(text, path, render_hardware(build))
        if new == text:
            unchanged.append(path)
        elif check:
            written.append(path)
            problems.append(
                f"{path}: hardware: not the build table's {build.torch} row"
                " (run: gen-constraints profiles generate)"
            )
        else:
            written.append(path)
            atomic_write(path, new, edited=text)
    if not problems:  # the files load now; their hand-written parts must agree with the rows
        profiles = load_profiles(profiles_dir)
        for build in table.builds:
            problems += consistency(build, profiles, profiles_dir / f"{build.profile}.toml")
    if problems:
        raise ProfilesOutOfStep("\n".join(problems))
    return Outcome(written=tuple(written), unchanged=tuple(unchanged))
