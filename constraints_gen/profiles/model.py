"""Hardware profiles: TOML files in ``profiles/`` with exact pins for one kind of machine.

A profile file (``profiles/<name>.toml``; keys other than these are errors)::

    name = "cuda130"                 # must equal the file name: letters, digits, . _ -
    description = "..."
    extends = "llm-stack"            # optional parent profile; its keys are inherited, ours win
    abstract = false                 # abstract profiles only carry shared pins

    [hardware]
    vendor = "nvidia"                # nvidia, jetson, amd, intel, apple or cpu (see below)
    cuda = "13.0"                    # CUDA version of the torch build
    compute_capabilities = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]  # SASS in the build
    ptx = true                       # the build carries PTX for its newest architecture
    min_driver = "580.65.06"         # oldest driver that runs the build

    [target]
    platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]  # uv --python-platform names
    python = ["3.11", "3.12"]
    commit_lock = true               # false: no lock in generated/; locked on demand when used

    [pins]                           # exact versions, local labels allowed ("2.5.1+cu121")
    torch = "2.14.1"
    transformers = { version = "4.51.3", override = true, reason = "..." }
    bitsandbytes = false             # not in this build (no wheels for its platform): drops
                                     # the parent's pin and the manifest's range

    [[indexes]]                      # extra indexes some pins come from
    name = "pytorch-cu121"
    url = "https://download.pytorch.org/whl/cu121"

    [verify]                         # optional: what `gen-constraints verify` imports
    imports = ["torch", "transformers", "peft"]  # default: the pinned stack's top-level modules

    # Where one platform's build differs: [platform.<uv platform>.hardware|target|pins|indexes]
    [platform.aarch64-manylinux_2_28.hardware]
    compute_capabilities = ["8.0", "9.0", "10.0", "11.0", "12.0"]

Hardware keys per vendor (required / optional; any other hardware key is an error):

- ``nvidia``: ``cuda``, ``compute_capabilities``, ``min_driver`` / ``ptx``. Not for macOS.
- ``jetson`` (NVIDIA Jetson, its own kind: PyPI's aarch64 builds do not run on JetPack 6):
  ``cuda``, ``compute_capabilities``, ``l4t`` (a PEP 440 range of L4T releases, e.g.
  ``">=36.4,<37"``) / ``ptx``. Linux aarch64 only. No ``min_driver``: the driver comes with L4T.
- ``amd`` (ROCm): ``rocm`` (``"7.1"``), ``gfx_targets`` (``["gfx90a", "gfx942"]``: a ROCm build
  runs only on a target it lists, no fallback). Linux only.
- ``intel`` (XPU build): none. Linux and Windows.
- ``apple`` (MPS): ``min_macos``. macOS (``*-apple-darwin``) only.
- ``cpu``: none.
- ``min_macos`` (``"14.0"``, the oldest macOS the build runs on: the wheels' tag, or for a GPU build
  its backend's floor when newer: MPS needs macOS 13 from torch 2.5, 14 from 2.9, though the
  wheels install on 11) is allowed for every vendor and applies to macOS platforms only; uv
  resolves a macOS profile for that version.

Platforms: ``target.platforms`` lists the uv ``--python-platform`` names the profile is for (one
per system and machine; see :mod:`constraints_gen.uvplatforms`). The older single key
``target.platform = "x86_64-manylinux_2_28"`` is still read and means ``platforms = [that]``; one
file may not set both. The nearest file in the ``extends`` chain that sets either one decides.

Per-platform tables: ``[platform.<name>.hardware]`` (every hardware key but ``vendor``: a
profile is one kind of hardware), ``[platform.<name>.target]`` (``python``, ``commit_lock``),
``[platform.<name>.pins]`` and ``[[platform.<name>.indexes]]``. For platform P the values are
merged file by file, parents first; within a file its ``[platform.P...]`` tables win over its
plain ones. A profile's own file may only name platforms the profile is for; a parent may carry
tables for more platforms (a menu its children choose from).

Each platform of a profile is one *build*: :meth:`Profile.for_platform` gives the profile as seen
on that platform. Its lock's fingerprint covers only what that build reads (the other platforms'
tables and the platform list are left out), so adding a platform leaves the others' locks fresh.

``generated/`` layout: a profile for one platform keeps ``generated/<name>/py3.X.lock.txt``
(and ``py3.X.constraints.txt``), as before; a profile for several platforms writes
``generated/<name>/<platform>/py3.X.lock.txt`` for each (:meth:`Profile.layout_platform`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from constraints_gen.detect.hardware import driver_tuple, parse_cc
from constraints_gen.errors import InputError
from constraints_gen.names import canonical_name, is_valid_name
from constraints_gen.profiles.manifest import (
    MANIFEST_NAME,
    Manifest,
    duplicate_names,
    parse_manifest,
)
from constraints_gen.tomlio import read_toml, type_name
from constraints_gen.uvplatforms import parse_uv_platform

_TOP = {
    "name", "description", "extends", "abstract", "hardware", "target", "pins", "indexes",
    "platform", "verify",
}  # fmt: skip
_VERIFY = {"imports"}
_HARDWARE = {
    "vendor", "cuda", "compute_capabilities", "ptx", "min_driver", "rocm", "gfx_targets",
    "min_macos", "l4t",
}  # fmt: skip
_TARGET = {"platform", "platforms", "python", "commit_lock"}
_PLATFORM_TABLE = {"hardware", "target", "pins", "indexes"}
_PLATFORM_TARGET = {"python", "commit_lock"}
_PIN = {"version", "override", "reason"}
_INDEX = {"name", "url"}
#: The kinds of build a profile is for (``hardware.vendor``): a GPU vendor's, a Jetson's, or CPU.
ProfileVendor = Literal["nvidia", "jetson", "amd", "intel", "apple", "cpu"]
VENDORS: tuple[ProfileVendor, ...] = get_args(ProfileVendor)
#: vendor -> (hardware keys it requires, further keys it allows); min_macos: every vendor
_VENDOR_KEYS: dict[ProfileVendor, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "nvidia": (("cuda", "compute_capabilities", "min_driver"), ("ptx",)),
    "jetson": (("cuda", "compute_capabilities", "l4t"), ("ptx",)),
    "amd": (("rocm", "gfx_targets"), ()),
    "intel": ((), ()),
    "apple": (("min_macos",), ()),
    "cpu": ((), ()),
}
#: vendor -> the (system, machine) pairs its builds exist for; None: any machine
_VENDOR_PLATFORMS: dict[ProfileVendor, tuple[set[str], set[str] | None]] = {
    "nvidia": ({"linux", "windows"}, None),
    "jetson": ({"linux"}, {"aarch64"}),
    "amd": ({"linux"}, None),
    "intel": ({"linux", "windows"}, None),
    "apple": ({"darwin"}, {"aarch64"}),
    "cpu": ({"linux", "windows", "darwin"}, None),
}
#: A profile name is a file name on every system: no spaces, separators or leading dot.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ROCM = re.compile(r"^\d+\.\d+(\.\d+)?$")
_GFX = re.compile(r"^gfx[0-9a-f]+$")
_MACOS = re.compile(r"^\d+(\.\d+)?$")

Bad = Callable[..., None]


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
class Build:
    """What a profile is on one platform: its hardware, Pythons, pins and indexes."""

    platform: str  # uv --python-platform, as the profile spells it
    vendor: ProfileVendor
    cuda: tuple[int, int] | None
    compute_capabilities: tuple[tuple[int, int], ...]
    ptx: bool
    min_driver: str | None
    rocm: str | None  # "7.1"
    gfx_targets: tuple[str, ...]
    min_macos: tuple[int, int] | None
    l4t: str | None  # a PEP 440 range of L4T releases (jetson)
    pythons: tuple[str, ...]
    commit_lock: bool
    pins: tuple[Pin, ...]
    indexes: tuple[Index, ...]
    inputs: tuple[tuple[str, Any], ...]  # what this build reads: (file name, parsed data)
    excluded: tuple[str, ...] = ()  # packages set to false in [pins]: not in this build


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A profile as seen on one of its platforms (``platform``; the first one unless chosen
    with :meth:`for_platform`). Its hardware, pins and Pythons are that platform's build."""

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
        return replace(self, platform=platform)

    def views(self) -> tuple[Profile, ...]:
        """The profile on each of its platforms."""
        return tuple(self.for_platform(platform) for platform in self.platforms)

    @property
    def vendor(self) -> ProfileVendor:
        return self.build.vendor

    @property
    def cuda(self) -> tuple[int, int] | None:
        return self.build.cuda

    @property
    def compute_capabilities(self) -> tuple[tuple[int, int], ...]:
        return self.build.compute_capabilities

    @property
    def ptx(self) -> bool:
        return self.build.ptx

    @property
    def min_driver(self) -> str | None:
        return self.build.min_driver

    @property
    def rocm(self) -> str | None:
        return self.build.rocm

    @property
    def gfx_targets(self) -> tuple[str, ...]:
        return self.build.gfx_targets

    @property
    def min_macos(self) -> tuple[int, int] | None:
        return self.build.min_macos

    @property
    def l4t(self) -> str | None:
        return self.build.l4t

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


def load_profiles(directory: Path) -> ProfileSet:
    """Load the manifest and every profile; raise one InputError listing every problem."""
    problems: list[str] = []
    manifest = parse_manifest(directory / MANIFEST_NAME, problems)
    raw: dict[str, _File] = {}
    broken: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        if path.name == MANIFEST_NAME:
            continue
        if _SAFE_NAME.match(path.stem) is None or not path.stem.isascii():
            problems.append(
                f"{path}: {path.stem!r} is not a safe profile name (ASCII letters, digits, '.',"
                " '_', '-', starting with a letter or digit): rename the file and its name key"
            )
            broken.add(path.stem)
            continue
        data = read_toml(path, problems)
        if data is not None and _check_file(path, data, problems):
            raw[path.stem] = _parse_file(path, data)
        else:
            broken.add(path.stem)
    profiles = [
        profile
        for name in sorted(raw)
        if (profile := _resolve(name, raw, broken, problems)) is not None
    ]
    if manifest is not None:
        for profile in profiles:
            for view in profile.views():
                _check_against_manifest(view, manifest, problems)
    if problems or manifest is None:
        raise InputError(sorted(dict.fromkeys(problems)))
    return ProfileSet(directory=directory, manifest=manifest, profiles=tuple(profiles))


def _check_file(path: Path, data: dict[str, Any], problems: list[str]) -> bool:
    """Check one file's own keys and value types (not yet merged with its parents)."""
    before = len(problems)

    def bad(key: str, expected: str, value: object = None) -> None:
        got = "" if value is None else f", got {type_name(value)}"
        problems.append(f"{path}: {key}: expected {expected}{got}")

    _unknown(path, "", data, _TOP, problems)
    if data.get("name") != path.stem:
        bad("name", f'"{path.stem}" (the file name without .toml)')
    if "description" in data and not isinstance(data["description"], str):
        bad("description", "a string", data["description"])
    if "extends" in data:
        _check_extends(path, data["extends"], bad)
    if "abstract" in data and not isinstance(data["abstract"], bool):
        bad("abstract", "true or false", data["abstract"])
    _check_tables(path, "", data, _HARDWARE, _TARGET, bad, problems)
    _check_verify(path, data.get("verify", {}), bad, problems)
    target = data.get("target", {})
    if isinstance(target, dict):
        _check_platform_keys(target, bad)
    tables = data.get("platform", {})
    if not isinstance(tables, dict):
        bad("platform", "tables [platform.<uv platform>.hardware] (and .target, .pins, .indexes)")
    else:
        for name, table in tables.items():
            key = f"platform.{name}"
            try:
                parse_uv_platform(name)
            except ValueError as exc:
                problems.append(f"{path}: {key}: {exc}")
                continue
            if not isinstance(table, dict):
                bad(key, "a table of hardware, target, pins, indexes", table)
                continue
            _unknown(path, f"{key}.", table, _PLATFORM_TABLE, problems)
            hardware = table.get("hardware", {})
            if isinstance(hardware, dict) and "vendor" in hardware:
                problems.append(
                    f"{path}: {key}.hardware.vendor: a profile is one vendor on every platform;"
                    " set hardware.vendor (or write another profile)"
                )
                table = {**table, "hardware": {k: v for k, v in hardware.items() if k != "vendor"}}
            _check_tables(
                path, f"{key}.", table, _HARDWARE - {"vendor"}, _PLATFORM_TARGET, bad, problems
            )
    return len(problems) == before


def _unknown(
    path: Path, prefix: str, table: dict[str, Any], allowed: set[str], problems: list[str]
) -> None:
    for key in sorted(set(table) - allowed):
        problems.append(
            f"{path}: {prefix}{key}: unknown key (expected one of {', '.join(sorted(allowed))})"
        )


def _check_verify(path: Path, verify: Any, bad: Bad, problems: list[str]) -> None:
    if not isinstance(verify, dict):
        bad("verify", "a table", verify)
        return
    for key in sorted(set(verify) - _VERIFY):
        problems.append(f"{path}: verify.{key}: unknown key (expected imports)")
    imports = verify.get("imports", [])
    if not isinstance(imports, list):
        bad("verify.imports", 'an array of module names like ["torch", "peft"]', imports)
        return
    for i, module in enumerate(imports):
        if not (isinstance(module, str) and all(p.isidentifier() for p in module.split("."))):
            bad(f"verify.imports[{i}]", f'a module name like "torch.cuda" (got {module!r})')


def _check_extends(path: Path, parent: object, bad: Bad) -> None:
    if not isinstance(parent, str):
        bad("extends", "a profile name", parent)
    elif parent == Path(MANIFEST_NAME).stem:
        bad(
            "extends",
            f"a profile name; {parent!r} is the manifest ({MANIFEST_NAME}), not a profile",
        )
    elif _SAFE_NAME.match(parent) is None or not parent.isascii():
        bad(
            "extends",
            "the name of a profile in this folder (its file name without .toml, no path),"
            f" got {parent!r}",
        )


def _check_tables(
    path: Path,
    prefix: str,
    data: dict[str, Any],
    hardware_keys: set[str],
    target_keys: set[str],
    bad: Bad,
    problems: list[str],
) -> None:
    """[hardware], [target], [pins] and [[indexes]] of a file, or of one [platform.X]."""
    for table, allowed in (("hardware", hardware_keys), ("target", target_keys)):
        section = data.get(table, {})
        if not isinstance(section, dict):
            bad(f"{prefix}{table}", "a table", section)
            continue
        _unknown(path, f"{prefix}{table}.", section, allowed, problems)
    _check_hardware(prefix, data.get("hardware", {}), bad)
    _check_target(prefix, data.get("target", {}), bad)
    _check_pins(path, prefix, data.get("pins", {}), bad, problems)
    indexes = data.get("indexes", [])
    if not isinstance(indexes, list):
        bad(f"{prefix}indexes", f"an array of tables [[{prefix}indexes]]", indexes)
    else:
        for i, index in enumerate(indexes):
            key = f"{prefix}indexes[{i}]"
            if not isinstance(index, dict) or set(index) != _INDEX:
                bad(key, 'a table with exactly name = "..." and url = "..."')
            elif not all(isinstance(index[k], str) and index[k] for k in _INDEX):
                bad(key, "non-empty strings for name and url")


def _check_hardware(prefix: str, hw: Any, bad: Bad) -> None:
    if not isinstance(hw, dict):
        return
    key = f"{prefix}hardware."
    if "vendor" in hw and hw["vendor"] not in VENDORS:
        expected = ", ".join(f'"{v}"' for v in VENDORS)
        bad(f"{key}vendor", f"one of {expected} (got {hw['vendor']!r})")
    if "cuda" in hw and not _valid(parse_cc, hw["cuda"]):
        bad(f"{key}cuda", f'a CUDA version like "12.8" (got {hw["cuda"]!r})')
    if "min_driver" in hw and not _valid(driver_tuple, hw["min_driver"]):
        bad(f"{key}min_driver", f'a driver version like "525.60.13" (got {hw["min_driver"]!r})')
    if "ptx" in hw and not isinstance(hw["ptx"], bool):
        bad(f"{key}ptx", "true or false", hw["ptx"])
    if "rocm" in hw and not _matches(_ROCM, hw["rocm"]):
        bad(f"{key}rocm", f'a ROCm version like "7.1" (got {hw["rocm"]!r})')
    if "min_macos" in hw and not _matches(_MACOS, hw["min_macos"]):
        bad(f"{key}min_macos", f'a macOS version like "14.0" (got {hw["min_macos"]!r})')
    if "l4t" in hw and not _valid(SpecifierSet, hw["l4t"]):
        bad(f"{key}l4t", f'a range of L4T releases like ">=36.4,<37" (got {hw["l4t"]!r})')
    checks: tuple[tuple[str, Callable[[object], bool], str], ...] = (
        ("compute_capabilities", lambda v: _valid(parse_cc, v), '"9.0"'),
        ("gfx_targets", lambda v: _matches(_GFX, v), '"gfx942"'),
    )
    for name, parse, example in checks:
        values = hw.get(name, [])
        if not isinstance(values, list):
            bad(f"{key}{name}", f"an array like [{example}]", values)
            continue
        for i, value in enumerate(values):
            if not parse(value):
                bad(f"{key}{name}[{i}]", f"a string like {example} (got {value!r})")


def _check_target(prefix: str, target: Any, bad: Bad) -> None:
    if not isinstance(target, dict):
        return
    if "commit_lock" in target and not isinstance(target["commit_lock"], bool):
        bad(f"{prefix}target.commit_lock", "true or false", target["commit_lock"])
    pythons = target.get("python", [])
    if not isinstance(pythons, list):
        bad(f"{prefix}target.python", 'an array like ["3.11", "3.12"]', pythons)
    else:
        for i, version in enumerate(pythons):
            if not _valid(parse_cc, version):
                bad(
                    f"{prefix}target.python[{i}]", f'a Python version like "3.11" (got {version!r})'
                )


def _check_platform_keys(target: dict[str, Any], bad: Bad) -> None:
    """``target.platform`` (the old single key) and ``target.platforms``."""
    if "platform" in target and "platforms" in target:
        bad(
            "target.platform",
            "only one of target.platform and target.platforms (platforms replaces platform)",
        )
        return
    if "platform" in target:
        values, key = [target["platform"]], "target.platform"
        if not isinstance(target["platform"], str):
            bad(key, 'a uv platform like "x86_64-manylinux_2_28"', target["platform"])
            return
    elif "platforms" in target:
        values, key = target["platforms"], "target.platforms"
        if not isinstance(values, list) or not values:
            bad(
                key,
                'a non-empty array like ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]',
                None if isinstance(values, list) else values,
            )
            return
    else:
        return
    seen: dict[tuple[str, str], int] = {}
    for i, value in enumerate(values):
        item = key if key == "target.platform" else f"{key}[{i}]"
        if not isinstance(value, str):
            bad(item, 'a uv platform like "x86_64-manylinux_2_28"', value)
            continue
        try:
            spec = parse_uv_platform(value)
        except ValueError as exc:
            bad(item, f"a uv --python-platform; {value!r} is {exc}")
            continue
        first = seen.setdefault((spec.system, spec.machine), i)
        if first != i:
            other = values[first]
            both = (
                f"{value!r} is listed twice"
                if other == value
                else (f"{value!r} and {other!r} are both {spec.system} {spec.machine}")
            )
            bad(item, f"one platform per system and machine; {both}")


def _check_pins(path: Path, prefix: str, pins: Any, bad: Bad, problems: list[str]) -> None:
    if not isinstance(pins, dict):
        bad(f"{prefix}pins", 'a table of name = "version"', pins)
        return
    problems += duplicate_names(path, f"{prefix}pins", pins)
    for name, value in pins.items():
        key = f"{prefix}pins.{name}"
        if not is_valid_name(name):
            problems.append(f"{path}: {key}: invalid package name")
            continue
        if isinstance(value, dict):
            for extra in sorted(set(value) - _PIN):
                problems.append(
                    f"{path}: {key}.{extra}: unknown key (expected version, override, reason)"
                )
            if not isinstance(value.get("override", False), bool):
                bad(f"{key}.override", "true or false", value["override"])
            if not isinstance(value.get("reason", ""), str):
                bad(f"{key}.reason", "a string", value["reason"])
            key, value = f"{key}.version", value.get("version")
        elif value is False:
            continue  # not in this build
        if not _valid(Version, value):
            bad(key, f'an exact version like "2.5.1" or "2.5.1+cu121" (got {value!r})')


def _valid(parse: Any, value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except (ValueError, InvalidVersion, InvalidSpecifier):
        return False
    return True


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and value.isascii() and pattern.match(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hardware:
    """One layer's ``[hardware]`` (a file's, or one ``[platform.X]``'s), parsed; None: not set
    in this layer (TOML has no null, so None cannot be a value)."""

    vendor: ProfileVendor | None = None
    cuda: tuple[int, int] | None = None
    compute_capabilities: tuple[tuple[int, int], ...] | None = None
    ptx: bool | None = None
    min_driver: str | None = None
    rocm: str | None = None
    gfx_targets: tuple[str, ...] | None = None
    min_macos: tuple[int, int] | None = None
    l4t: str | None = None

    def keys(self) -> set[str]:
        return {key for key in _HARDWARE if getattr(self, key) is not None}

    def over(self, below: _Hardware) -> _Hardware:
        """This layer over ``below``: each key set here replaces the one there (spelled out:
        dataclasses.replace costs emit's budget)."""
        if self == _NO_HARDWARE:
            return below
        return _Hardware(
            vendor=below.vendor if self.vendor is None else self.vendor,
            cuda=below.cuda if self.cuda is None else self.cuda,
            compute_capabilities=(
                below.compute_capabilities
                if self.compute_capabilities is None
                else self.compute_capabilities
            ),
            ptx=below.ptx if self.ptx is None else self.ptx,
            min_driver=below.min_driver if self.min_driver is None else self.min_driver,
            rocm=below.rocm if self.rocm is None else self.rocm,
            gfx_targets=below.gfx_targets if self.gfx_targets is None else self.gfx_targets,
            min_macos=below.min_macos if self.min_macos is None else self.min_macos,
            l4t=below.l4t if self.l4t is None else self.l4t,
        )


_NO_HARDWARE = _Hardware()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layer:
    """A file's own tables, or one of its ``[platform.X]`` tables, parsed once."""

    hardware: _Hardware
    pythons: tuple[str, ...] | None  # target.python
    commit_lock: bool | None  # target.commit_lock
    pins: tuple[tuple[str, Pin | None], ...]  # (canonical name, pin; None: set to false)
    indexes: tuple[Index, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _File:
    """One profile file, checked (:func:`_check_file`) and parsed once."""

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


def _parse_file(path: Path, data: dict[str, Any]) -> _File:
    """A checked file's data as the model reads it (every value was checked: parse, no check)."""
    target = data.get("target", {})
    platforms = target.get("platforms", [target["platform"]] if "platform" in target else None)
    verify = data.get("verify", {})
    return _File(
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
        hardware=_Hardware(
            vendor=_as_vendor(hw.get("vendor")),
            cuda=parse_cc(hw["cuda"]) if "cuda" in hw else None,
            compute_capabilities=(
                tuple(sorted(parse_cc(cc) for cc in hw["compute_capabilities"]))
                if "compute_capabilities" in hw
                else None
            ),
            ptx=hw.get("ptx"),
            min_driver=hw.get("min_driver"),
            rocm=hw.get("rocm"),
            gfx_targets=tuple(hw["gfx_targets"]) if "gfx_targets" in hw else None,
            min_macos=_macos(hw["min_macos"]) if "min_macos" in hw else None,
            l4t=hw.get("l4t"),
        ),
        pythons=tuple(target["python"]) if "python" in target else None,
        commit_lock=target.get("commit_lock"),
        pins=tuple(pins),
        indexes=tuple(Index(name=i["name"], url=i["url"]) for i in table.get("indexes", [])),
    )


def _resolve(
    name: str,
    raw: dict[str, _File],
    broken: set[str],
    problems: list[str],
) -> Profile | None:
    """Merge a profile with its parents; report a missing parent or an ``extends`` cycle."""
    chain: list[_File] = []
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


def _platforms_of(chain: list[_File]) -> tuple[str, ...] | None:
    """The nearest file's ``target.platforms`` (or old ``target.platform``)."""
    return next((file.platforms for file in chain if file.platforms is not None), None)


def _merge(chain: list[_File], problems: list[str]) -> Profile | None:
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
    )


def _build(
    chain: list[_File], platform: str | None, problems: list[str]
) -> tuple[Build | None, list[str]]:
    """Merge the chain for one platform: (the build, or None; the required keys it lacks).
    ``platform`` None: the profile names no platform; only the plain tables are merged."""
    path = chain[0].path
    hardware = _NO_HARDWARE
    pythons: tuple[str, ...] | None = None
    commit_lock: bool | None = None
    pins: dict[str, Pin] = {}
    excluded: set[str] = set()
    indexes: dict[str, Index] = {}
    for file in reversed(chain):  # parents first, children override
        for layer in (file.own, file.layer_for(platform) if platform else None):
            if layer is None:
                continue
            hardware = layer.hardware.over(hardware)
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
    vendor = hardware.vendor
    missing = [] if vendor is not None else ["hardware.vendor"]
    needs, allows = _VENDOR_KEYS[vendor] if vendor is not None else ((), ())
    missing += [f"hardware.{key}" for key in needs if getattr(hardware, key) is None]
    missing += [] if pythons is not None else ["target.python"]
    missing += [] if "torch" in pins else ["pins.torch"]
    before = len(problems)
    if vendor is not None:
        for key in sorted(hardware.keys() - {"vendor", "min_macos", *needs, *allows}):
            owners = [v for v, (n, a) in _VENDOR_KEYS.items() if key in n or key in a]
            problems.append(
                f"{path}: hardware.{key}: applies to vendor {' or '.join(owners)} only"
                f" (this profile's vendor is {vendor})"
            )
        systems, machines = _VENDOR_PLATFORMS[vendor]
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
            platform=platform,
            vendor=vendor,
            cuda=hardware.cuda,
            compute_capabilities=hardware.compute_capabilities or (),
            ptx=bool(hardware.ptx),
            min_driver=hardware.min_driver,
            rocm=hardware.rocm,
            gfx_targets=hardware.gfx_targets or (),
            min_macos=hardware.min_macos,
            l4t=hardware.l4t,
            pythons=pythons,
            commit_lock=True if commit_lock is None else commit_lock,
            pins=tuple(sorted(pins.values(), key=lambda pin: pin.name)),
            indexes=tuple(indexes.values()),
            inputs=tuple((file.path.name, _as_read(file.data, platform)) for file in chain),
            excluded=tuple(sorted(excluded)),
        ),
        missing,
    )


def _as_vendor(value: object) -> ProfileVendor | None:
    return next((vendor for vendor in VENDORS if vendor == value), None)


def _macos(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


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


def _check_against_manifest(profile: Profile, manifest: Manifest, problems: list[str]) -> None:
    for pin in profile.pins:
        req = manifest.get(pin.name)
        if req is None or pin.override or req.specifier.contains(pin.version, prereleases=True):
            continue
        problems.append(
            f"{pin.origin}: {pin.key or 'pins.' + pin.name}: {pin.version} is outside the"
            " manifest range "
            f"{req.specifier} ({manifest.path}: requirements.{pin.name}); if deliberate, write "
            f'{pin.name} = {{ version = "{pin.version}", override = true }}'
        )
