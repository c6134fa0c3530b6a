"""Reading a uv project's ``uv.lock``: which version of each package an extra gets.

uv.lock is TOML (uv's docs, "Lockfile"): one ``[[package]]`` per distribution version, the
project's own entry with ``[package.optional-dependencies]`` (extra -> its requirements, each
with ``version`` when several versions of the name are locked, as with conflicting extras, and
``source`` when one version comes from two indexes), and each package's ``dependencies``. Read
offline; nothing is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constraints_gen.errors import InputError
from constraints_gen.names import canonical_name
from constraints_gen.tomlio import read_toml


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    name: str  # canonical
    version: str | None  # given when the lock holds several versions of the name
    marker: str | None
    registry: str | None = None  # given when one version of the name comes from two indexes


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedDist:
    name: str  # canonical
    version: str | None  # None: a dynamic version (the project itself)
    registry: str | None  # the index it comes from (URL or folder); None: not from an index
    dependencies: tuple[Dependency, ...]
    extras: tuple[tuple[str, tuple[Dependency, ...]], ...]  # optional-dependencies


@dataclass(frozen=True, slots=True, kw_only=True)
class UvLock:
    path: Path
    packages: tuple[LockedDist, ...]

    def project(self, name: str) -> LockedDist:
        wanted = canonical_name(name)
        found = next((p for p in self.packages if p.name == wanted), None)
        if found is None:
            raise InputError([f"{self.path}: package: no entry for the project {name!r}"])
        return found

    def find(self, dependency: Dependency) -> LockedDist | None:
        """The locked distribution a dependency entry points at."""
        named = [p for p in self.packages if p.name == dependency.name]
        if dependency.version is not None:
            named = [p for p in named if p.version == dependency.version]
        if dependency.registry is not None:  # triton 3.5.0 from PyPI and from the cu126 index
            named = [p for p in named if p.registry == dependency.registry]
        return named[0] if len(named) == 1 else None

    def extra_versions(self, project: str, extra: str) -> dict[str, str]:
        """name -> version of each requirement of the project's ``extra``, as locked."""
        root = self.project(project)
        entries = dict(root.extras).get(extra)
        if entries is None:
            raise InputError(
                [f"{self.path}: package.optional-dependencies: no extra {extra!r} (run uv lock)"]
            )
        out: dict[str, str] = {}
        for entry in entries:
            dist = self.find(entry)
            if dist is not None and dist.version is not None:
                out[entry.name] = dist.version
        return out


def read_uv_lock(path: Path) -> UvLock:
    problems: list[str] = []
    data = read_toml(path, problems)
    if data is None:
        raise InputError(problems)
    packages = data.get("package", [])
    if not isinstance(packages, list):
        raise InputError([f"{path}: package: expected an array of tables"])
    return UvLock(path=path, packages=tuple(_dist(path, i, p) for i, p in enumerate(packages)))


def _dist(path: Path, i: int, data: Any) -> LockedDist:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InputError([f"{path}: package[{i}].name: expected a string"])
    registry = _registry(data.get("source"))
    extras = data.get("optional-dependencies", {})
    return LockedDist(
        name=canonical_name(data["name"]),
        version=str(data["version"]) if "version" in data else None,
        registry=registry,
        dependencies=_deps(data.get("dependencies", [])),
        extras=tuple((str(k), _deps(v)) for k, v in extras.items())
        if isinstance(extras, dict)
        else (),
    )


def _deps(entries: Any) -> tuple[Dependency, ...]:
    if not isinstance(entries, list):
        return ()
    return tuple(
        Dependency(
            name=canonical_name(entry["name"]),
            version=entry.get("version"),
            marker=entry.get("marker"),
            registry=_registry(entry.get("source")),
        )
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    )


def _registry(source: Any) -> str | None:
    registry = source.get("registry") if isinstance(source, dict) else None
    return registry if isinstance(registry, str) else None
