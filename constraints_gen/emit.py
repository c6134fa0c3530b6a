"""Emit: the selected profile's exact ``constraints.txt``, from its committed lock.

No resolution and no network on this path when the lock is committed. A profile without a
committed lock for this Python is locked on demand into the user cache (a notice on stderr).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from constraints_gen import lockfile
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.profiles import Profile, ProfileSet
from constraints_gen.project import Project, cache_dir

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


class StaleLockError(ConstraintsGenError):
    exit_code = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Emitted:
    profile: Profile
    python: str
    path: Path  # the lock file the constraints come from (committed or cached)
    text: str  # the whole constraints.txt
    stale: bool
    on_demand: bool
    #: the option lines that make uv and pip find the pins' indexes (mirrors applied), as in text
    index_options: tuple[str, ...] = ()


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def platform_matches(
    uv_platform: str, system: str | None = None, machine: str | None = None
) -> bool:
    """Does this machine match a uv ``--python-platform`` such as ``x86_64-manylinux_2_28``?"""
    system = (system or sys.platform).lower()
    machine = (machine or platform.machine()).lower()
    machine = _ARCH_ALIASES.get(machine, machine)
    target = uv_platform.lower()
    if target in ("linux", "windows", "macos"):  # uv's shorthands target x86_64 (aarch64 on macOS)
        target = {
            "linux": "x86_64-linux",
            "windows": "x86_64-windows",
            "macos": "aarch64-apple-darwin",
        }[target]
    arch, _, rest = target.partition("-")
    os_name = (
        "darwin"
        if ("darwin" in rest or "macos" in rest)
        else "win32"
        if "windows" in rest
        else "linux"
    )
    return arch == machine and system.startswith(os_name)


def emit(
    project: Project,
    profiles: ProfileSet,
    profile: Profile,
    *,
    python: str | None = None,
    strict: bool = False,
    lock_on_demand: Callable[[Profile, str, Path], Path] | None = None,
    notice: Callable[[str], None] = lambda message: None,
) -> Emitted:
    """Build the whole constraints text for ``profile`` (nothing is printed here)."""
    explicit = python is not None
    python = python or running_python()
    if not explicit and not platform_matches(profile.platform):
        raise ConstraintsGenError(
            f"profile {profile.name} is locked for {profile.platform}; this machine is"
            f" {sys.platform} {platform.machine()}",
            tip="to write constraints for another machine, name its Python: --python X.Y",
        )
    expected = lockfile.fingerprint(profile, profiles.manifest, python)
    path = project.constraints_path(profile.name, python)
    on_demand = False
    if not path.is_file():
        cached = cache_dir() / "locks" / profile.name / expected.removeprefix("sha256:")[:16]
        path = cached / path.name
        if not path.is_file():
            if lock_on_demand is None:
                raise ConstraintsGenError(
                    f"profile {profile.name} has no lock for CPython {python}"
                )
            notice(
                f"profile {profile.name} has no committed lock for CPython {python};"
                f" locking it into {cached}"
            )
            path = lock_on_demand(profile, python, cached)
        on_demand = True
    regenerate = f"gen-constraints lock {profile.name} --python {python}"
    if on_demand:  # a cached on-demand lock is made again by deleting it and emitting
        regenerate = f"rm -r {path.parent} && gen-constraints --profile {profile.name}"
    _, constraints = lockfile.read_pair(lockfile.lock_beside(path), path, regenerate=regenerate)
    text = constraints.text
    options: tuple[str, ...] = ()
    if constraints.indexes:
        from constraints_gen.config import load_config, mirrors_from_env

        mirrors = {**load_config(project.root).mirrors, **mirrors_from_env()}
        text = lockfile.emitted_text(constraints, mirrors)
        options = tuple(lockfile.index_options(constraints.indexes, mirrors))
    stale = constraints.header.fingerprint != expected
    if stale:
        message = (
            f"{path} is stale: profile {profile.name} or the manifest changed since it was locked"
        )
        if strict:
            raise StaleLockError(message, tip=f"refresh it: gen-constraints lock {profile.name}")
        notice(f"warning: {message} (refresh: gen-constraints lock {profile.name})")
    return Emitted(
        profile=profile,
        python=python,
        path=path,
        text=text,
        stale=stale,
        on_demand=on_demand,
        index_options=options,
    )
