"""Profile files as layers, and their merge: a file's tables, and each of its
``[platform.X]`` tables, become a typed layer; a profile's chain (``extends``) is merged
parents first, child over parent, once per platform, into a
:class:`~constraints_gen.profiles.model.Build` each.

Files arrive here checked (:mod:`constraints_gen.profiles.schema`): parsing checks nothing
again. Merging finds what only the whole chain shows: a missing parent, an ``extends`` cycle,
a required key no file sets, a key another vendor's, a platform the vendor has no builds for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from constraints_gen.names import canonical_name
from constraints_gen.profiles.model import Build, Index, Pin, Profile
from constraints_gen.profiles.needs import (
    KEYS,
    VENDOR_KEYS,
    VENDOR_PLATFORMS,
    needs_values,
    parse_table,
)
from constraints_gen.uvplatforms import parse_uv_platform


@dataclass(frozen=True, slots=True, init=False)
class NeedsLayer:
    """One layer's ``[hardware]`` (a file's, or one ``[platform.X]``'s), parsed: only the keys
    the layer sets (TOML has no null: a key it does not set reads as None)."""

    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        if name not in KEYS:
            raise AttributeError(name)
        return self._values.get(name)

    def keys(self) -> set[str]:
        return set(self._values)

    def over(self, below: NeedsLayer) -> NeedsLayer:
        """This layer over ``below``: each key set here replaces the one there."""
        if not self._values:
            return below
        return NeedsLayer(**{**below._values, **self._values})

    def values(self) -> dict[str, Any]:
        """The keys set, as keyword arguments of :class:`~constraints_gen.profiles.needs.Needs`."""
        return dict(self._values)


_NO_NEEDS = NeedsLayer()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layer:
    """A file's own tables, or one of its ``[platform.X]`` tables, parsed once."""

    needs: NeedsLayer
    pythons: tuple[str, ...] | None  # target.python
    commit_lock: bool | None  # target.commit_lock
    pins: tuple[tuple[str, Pin | None], ...]  # (canonical name, pin; None: set to false)
    indexes: tuple[Index, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileFile:
    """One profile file, checked (:func:`~constraints_gen.profiles.schema.check_file`) and parsed
    once."""

    path: Path
    data: dict[str, Any]  # as read: the fingerprint digests it (see _as_read)
    description: str
    extends: str | None
    abstract: bool
    platforms: tuple[str, ...] | None  # target.platforms (or the old target.platform)
    verify_imports: tuple[str, ...] | None
    own: _Layer
    by_platform: tuple[tuple[str, _Layer], ...]  # [platform.<name>] tables, in file order

    def layer_for(self, platform: str | None) -> _Layer | None:
        return next((layer for name, layer in self.by_platform if name == platform), None)


def parse_file(path: Path, data: dict[str, Any]) -> ProfileFile:
    """A checked file's data as the model reads it (every value was checked: parse, no check)."""
    target = data.get("target", {})
    platforms = target.get("platforms", [target["platform"]] if "platform" in target else None)
    verify = data.get("verify", {})
    return ProfileFile(
        path=path,
        data=data,
        description=str(data.get("description", "")),
        extends=data.get("extends"),
        abstract=bool(data.get("abstract", False)),
        platforms=None if platforms is None else tuple(platforms),
        verify_imports=tuple(verify["imports"]) if "imports" in verify else None,
        own=_parse_layer(path, "", data),
        by_platform=tuple(
            (name, _parse_layer(path, f"platform.{name}.", table))
            for name, table in data.get("platform", {}).items()
        ),
    )


def _parse_layer(path: Path, where: str, table: dict[str, Any]) -> _Layer:
    hw = table.get("hardware", {})
    target = table.get("target", {})
    pins: list[tuple[str, Pin | None]] = []
    for raw_name, value in table.get("pins", {}).items():
        name = canonical_name(raw_name)
        if value is False:
            pins.append((name, None))
            continue
        pin = value if isinstance(value, dict) else {"version": value}
        pins.append(
            (
                name,
                Pin(
                    name=name,
                    version=str(Version(pin["version"])),
                    override=pin.get("override", False),
                    reason=pin.get("reason"),
                    origin=path,
                    key=f"{where}pins.{raw_name}",
                ),
            )
        )
    return _Layer(
        needs=NeedsLayer(**parse_table(hw)),
        pythons=tuple(target["python"]) if "python" in target else None,
        commit_lock=target.get("commit_lock"),
        pins=tuple(pins),
        indexes=tuple(Index(name=i["name"], url=i["url"]) for i in table.get("indexes", [])),
    )


def resolve(
    name: str,
    raw: dict[str, ProfileFile],
    broken: set[str],
    problems: list[str],
) -> Profile | None:
    """Merge a profile with its parents; report a missing parent or an ``extends`` cycle."""
    chain: list[ProfileFile] = []
    current: str | None = name
    while current is not None:
        if current not in raw:
            child = chain[-1].path
            if current in broken:
                return None  # the parent exists but is broken: its own problems are reported
            problems.append(f"{child}: extends: no profile named {current!r} in {child.parent}")
            return None
        if any(file.path.stem == current for file in chain):
            cycle = " -> ".join([file.path.stem for file in chain] + [current])
            problems.append(f"{raw[name].path}: extends: cycle {cycle}")
            return None
        chain.append(raw[current])
        current = raw[current].extends
    if chain[0].abstract:
        return None
    return _merge(chain, problems)


def _platforms_of(chain: list[ProfileFile]) -> tuple[str, ...] | None:
    """The nearest file's ``target.platforms`` (or old ``target.platform``)."""
    return next((file.platforms for file in chain if file.platforms is not None), None)


def _merge(chain: list[ProfileFile], problems: list[str]) -> Profile | None:
    own = chain[0]
    path = own.path
    required = "(in this file or a parent it extends)"
    platforms = _platforms_of(chain)
    if platforms is None:
        problems.append(f"{path}: target.platforms: required {required}")
    platforms_for_report: list[str | None] = [None] if platforms is None else list(platforms)
    for name, _ in own.by_platform:
        if platforms is not None and name not in platforms:
            problems.append(
                f"{path}: platform.{name}: not one of this profile's platforms"
                f" (target.platforms = {list(platforms)}); add it there or remove the table"
            )
    builds: list[Build] = []
    missing_by_platform: dict[str | None, list[str]] = {}
    for platform in platforms_for_report:
        build, missing = _build(chain, platform, problems)
        missing_by_platform[platform] = missing
        if build is not None:
            builds.append(build)
    everywhere = set.intersection(*(set(m) for m in missing_by_platform.values()))
    for key in sorted(everywhere):
        problems.append(f"{path}: {key}: required {required}")
    if len(missing_by_platform) > 1:
        for platform, missing in missing_by_platform.items():
            for key in sorted(set(missing) - everywhere):
                problems.append(
                    f"{path}: {key}: required for platform {platform} (in this file, a parent"
                    f" it extends, or [platform.{platform}])"
                )
    if platforms is None or len(builds) != len(platforms):
        return None
    imports: tuple[str, ...] | None = None
    for file in reversed(chain):  # parents first, children override
        imports = file.verify_imports if file.verify_imports is not None else imports
    return Profile(
        name=path.stem,
        description=own.description,
        path=path,
        chain=tuple(file.path for file in chain),
        abstract=False,
        builds=tuple(builds),
        platform=platforms[0],
        verify_imports=imports,
        **needs_values(builds[0]),
    )


def _build(
    chain: list[ProfileFile], platform: str | None, problems: list[str]
) -> tuple[Build | None, list[str]]:
    """Merge the chain for one platform: (the build, or None; the required keys it lacks).
    ``platform`` None: the profile names no platform; only the plain tables are merged."""
    path = chain[0].path
    needs = _NO_NEEDS
    pythons: tuple[str, ...] | None = None
    commit_lock: bool | None = None
    pins: dict[str, Pin] = {}
    excluded: set[str] = set()
    indexes: dict[str, Index] = {}
    for file in reversed(chain):  # parents first, children override
        for layer in (file.own, file.layer_for(platform) if platform else None):
            if layer is None:
                continue
            needs = layer.needs.over(needs)
            pythons = layer.pythons if layer.pythons is not None else pythons
            commit_lock = layer.commit_lock if layer.commit_lock is not None else commit_lock
            for name, pin in layer.pins:
                if pin is None:
                    pins.pop(name, None)
                    excluded.add(name)
                    continue
                excluded.discard(name)
                pins[name] = pin
            for index in layer.indexes:
                indexes[index.name] = index
    vendor = needs.vendor
    missing = [] if vendor is not None else ["hardware.vendor"]
    required, allowed = VENDOR_KEYS[vendor] if vendor is not None else ((), ())
    missing += [f"hardware.{key}" for key in required if getattr(needs, key) is None]
    missing += [] if pythons is not None else ["target.python"]
    missing += [] if "torch" in pins else ["pins.torch"]
    before = len(problems)
    if vendor is not None:
        for key in sorted(needs.keys() - {"vendor", *required, *allowed}):
            owners = [v for v, (n, a) in VENDOR_KEYS.items() if key in n or key in a]
            problems.append(
                f"{path}: hardware.{key}: applies to vendor {' or '.join(owners)} only"
                f" (this profile's vendor is {vendor})"
            )
        systems, machines = VENDOR_PLATFORMS[vendor]
        spec = parse_uv_platform(platform or "linux")
        wrong = spec.system not in systems or (
            machines is not None and spec.machine not in machines
        )
        if platform is not None and wrong:
            where = ", ".join(sorted(systems)) + (
                f" {'/'.join(sorted(machines))}" if machines else ""
            )
            problems.append(
                f"{path}: target.platforms: {platform}: {vendor} builds exist for {where} only"
            )
    if missing or len(problems) > before or platform is None or vendor is None or pythons is None:
        return None, missing
    return (
        Build(
            **needs.values(),
            platform=platform,
            pythons=pythons,
            commit_lock=True if commit_lock is None else commit_lock,
            pins=tuple(sorted(pins.values(), key=lambda pin: pin.name)),
            indexes=tuple(indexes.values()),
            inputs=tuple((file.path.name, _as_read(file.data, platform)) for file in chain),
            excluded=tuple(sorted(excluded)),
        ),
        missing,
    )


def _as_read(data: dict[str, Any], platform: str) -> dict[str, Any]:
    """A file's data as one platform's build reads it: without the platform list and the other
    platforms' tables, and without [verify] (what to check after installing does not make a lock
    stale). A file that uses none of these reads as before (old fingerprints hold)."""
    target = data.get("target", {})
    out = {key: value for key, value in data.items() if key != "verify"}
    if "platform" not in data and "platforms" not in target:
        return out
    if "platforms" in target:
        out["target"] = {k: v for k, v in target.items() if k != "platforms"}
    tables = data.get("platform", {})
    if platform in tables:
        out["platform"] = {platform: tables[platform]}
    else:
        out.pop("platform", None)
    return out
