"""The profile model: a profile, its build on each platform, its pins and indexes.

Types only; :func:`constraints_gen.profiles.load.load_profiles` makes them from a folder of
profile files (the file format is described there). A profile's hardware keys are
:class:`~constraints_gen.profiles.needs.Needs` fields: :class:`Build` and :class:`Profile` are
``Needs`` (the profile's are those of the platform it is seen on), so a new key is added only
there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from constraints_gen.errors import InputError
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.needs import Needs, needs_values


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    name: str  # canonical
    version: str  # normalized full version, local label kept
    override: bool
    reason: str | None
    origin: Path  # the file that set it
    key: str = ""  # its key path there: "pins.torch", "platform.<name>.pins.torch"


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    name: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Build(Needs):
    """What a profile is on one platform: what it needs of the machine (the :class:`Needs`
    fields), its Pythons, pins and indexes."""

    platform: str  # uv --python-platform, as the profile spells it
    pythons: tuple[str, ...]
    commit_lock: bool
    pins: tuple[Pin, ...]
    indexes: tuple[Index, ...]
    inputs: tuple[tuple[str, Any], ...]  # what this build reads: (file name, parsed data)
    excluded: tuple[str, ...] = ()  # packages set to false in [pins]: not in this build


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile(Needs):
    """A profile as seen on one of its platforms (``platform``; the first one unless chosen
    with :meth:`for_platform`). Its hardware needs (the :class:`Needs` fields, copied from
    that platform's build), pins and Pythons are that platform's build."""

    name: str
    description: str
    path: Path
    chain: tuple[Path, ...]  # this file first, then its parents
    abstract: bool
    builds: tuple[Build, ...]  # one per platform, in the order of target.platforms
    platform: str
    verify_imports: tuple[str, ...] | None = None  # [verify] imports; None: the default modules

    @property
    def build(self) -> Build:
        return next(build for build in self.builds if build.platform == self.platform)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(build.platform for build in self.builds)

    @property
    def layout_platform(self) -> str | None:
        """The folder under ``generated/<name>/`` of this build's locks (None: no folder)."""
        return self.platform if len(self.builds) > 1 else None

    def for_platform(self, platform: str) -> Profile:
        if platform not in self.platforms:
            raise InputError(
                [
                    f"{self.path}: target.platforms: profile {self.name} is not for {platform}"
                    f" (it is for {', '.join(self.platforms)})"
                ]
            )
        build = next(build for build in self.builds if build.platform == platform)
        return replace(self, platform=platform, **needs_values(build))

    def views(self) -> tuple[Profile, ...]:
        """The profile on each of its platforms."""
        return tuple(self.for_platform(platform) for platform in self.platforms)

    @property
    def pythons(self) -> tuple[str, ...]:
        return self.build.pythons

    @property
    def commit_lock(self) -> bool:
        """False: never locked into generated/ (locked on demand, into the cache)."""
        return self.build.commit_lock

    @property
    def pins(self) -> tuple[Pin, ...]:
        return self.build.pins

    @property
    def indexes(self) -> tuple[Index, ...]:
        return self.build.indexes

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.build.excluded

    @property
    def inputs(self) -> tuple[tuple[str, Any], ...]:
        """(file name, parsed data) of the chain as this build reads it, for fingerprints."""
        return self.build.inputs

    @property
    def cuda_text(self) -> str | None:
        return None if self.cuda is None else f"{self.cuda[0]}.{self.cuda[1]}"

    def pin(self, name: str) -> Pin | None:
        return next((pin for pin in self.pins if pin.name == name), None)

    @property
    def torch_version(self) -> Version | None:
        pin = self.pin("torch")
        return None if pin is None else Version(pin.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSet:
    directory: Path
    manifest: Manifest
    profiles: tuple[Profile, ...]  # concrete (non-abstract) profiles, sorted by name

    def get(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.profiles) or "none"
        raise InputError([f"{self.directory}: no profile named {name!r} (known: {known})"])
