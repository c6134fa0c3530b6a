"""What a build needs of the machine (a profile's ``[hardware]`` table): each key's type beside
its check, its parser and the vendors it applies to.

A new hardware key is added in two places, both here: a field of :class:`Needs` (its type
and its value when no file sets it) and an entry of :data:`KEYS` (what a valid value looks like,
how it is parsed, which vendors require or allow it). The schema checks
(:mod:`constraints_gen.profiles.schema`), the layer merge (:mod:`constraints_gen.profiles.layers`)
and the model (:class:`constraints_gen.profiles.model.Build`, :class:`~.model.Profile`) read
both from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion

from constraints_gen.detect.hardware import driver_tuple, parse_cc

#: The kinds of build a profile is for (``hardware.vendor``): a GPU vendor's, a Jetson's, or CPU.
ProfileVendor = Literal["nvidia", "jetson", "amd", "intel", "apple", "cpu"]
VENDORS: tuple[ProfileVendor, ...] = get_args(ProfileVendor)


@dataclass(frozen=True, slots=True, kw_only=True)
class Needs:
    """What a build needs of the machine: one profile's ``[hardware]`` on one platform, merged
    (each default is the value when no file in the chain sets the key)."""

    vendor: ProfileVendor
    cuda: tuple[int, int] | None = None  # CUDA version of the torch build
    compute_capabilities: tuple[tuple[int, int], ...] = ()  # SASS in the build
    ptx: bool = False  # PTX for its newest architecture
    min_driver: str | None = None  # oldest NVIDIA driver that runs the build
    rocm: str | None = None  # "7.1"
    gfx_targets: tuple[str, ...] = ()  # AMD targets the build lists
    min_macos: tuple[int, int] | None = None  # oldest macOS the build runs on
    l4t: str | None = None  # a PEP 440 range of L4T releases (jetson)


Bad = Callable[..., None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    """One hardware key: ``valid`` says whether a TOML value is one (an array's each item, when
    ``array``), ``parse`` turns a valid value into the :class:`Needs` field's type."""

    expected: str  # what a valid value (an array's item) looks like, for the error
    example: str = ""  # an array's: an item, for the error of a value that is not an array
    valid: Callable[[object], bool]
    parse: Callable[[Any], object] = lambda value: value
    array: bool = False
    typed: bool = False  # the error names the type it got, not the value
    needs: tuple[ProfileVendor, ...] = ()  # the vendors that require it
    allows: tuple[ProfileVendor, ...] = ()  # the vendors that may set it


def valid_as(parse: Any) -> Callable[[object], bool]:
    """Whether a value is a string that ``parse`` accepts."""

    def valid(value: object) -> bool:
        if not isinstance(value, str):
            return False
        try:
            parse(value)
        except (ValueError, InvalidVersion, InvalidSpecifier):
            return False
        return True

    return valid


def _matches(pattern: str) -> Callable[[object], bool]:
    compiled = re.compile(pattern)
    return lambda value: (
        isinstance(value, str) and value.isascii() and compiled.match(value) is not None
    )


def _macos(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _vendor(value: object) -> ProfileVendor | None:
    return next((vendor for vendor in VENDORS if vendor == value), None)


#: Every hardware key, in the order of :class:`Needs`'s fields.
KEYS: dict[str, Key] = {
    "vendor": Key(
        expected="one of " + ", ".join(f'"{v}"' for v in VENDORS),
        valid=lambda value: value in VENDORS,
        parse=_vendor,
    ),
    "cuda": Key(
        expected='a CUDA version like "12.8"',
        valid=valid_as(parse_cc),
        parse=parse_cc,
        needs=("nvidia", "jetson"),
    ),
    "compute_capabilities": Key(
        expected='a string like "9.0"',
        example='"9.0"',
        valid=valid_as(parse_cc),
        parse=lambda values: tuple(sorted(parse_cc(cc) for cc in values)),
        array=True,
        needs=("nvidia", "jetson"),
    ),
    "ptx": Key(
        expected="true or false",
        valid=lambda value: isinstance(value, bool),
        typed=True,
        allows=("nvidia", "jetson"),
    ),
    "min_driver": Key(
        expected='a driver version like "525.60.13"',
        valid=valid_as(driver_tuple),
        needs=("nvidia",),
    ),
    "rocm": Key(
        expected='a ROCm version like "7.1"',
        valid=_matches(r"^\d+\.\d+(\.\d+)?$"),
        needs=("amd",),
    ),
    "gfx_targets": Key(
        expected='a string like "gfx942"',
        example='"gfx942"',
        valid=_matches(r"^gfx[0-9a-f]+$"),
        parse=tuple,
        array=True,
        needs=("amd",),
    ),
    "min_macos": Key(
        expected='a macOS version like "14.0"',
        valid=_matches(r"^\d+(\.\d+)?$"),
        parse=_macos,
        needs=("apple",),
        allows=VENDORS,  # every vendor; it applies to macOS platforms only
    ),
    "l4t": Key(
        expected='a range of L4T releases like ">=36.4,<37"',
        valid=valid_as(SpecifierSet),
        needs=("jetson",),
    ),
}

#: vendor -> (hardware keys it requires, further keys it allows), derived from :data:`KEYS`
VENDOR_KEYS: dict[ProfileVendor, tuple[tuple[str, ...], tuple[str, ...]]] = {
    vendor: (
        tuple(name for name, key in KEYS.items() if vendor in key.needs),
        tuple(name for name, key in KEYS.items() if vendor in key.allows),
    )
    for vendor in VENDORS
}

#: vendor -> the (system, machine) pairs its builds exist for; None: any machine
VENDOR_PLATFORMS: dict[ProfileVendor, tuple[set[str], set[str] | None]] = {
    "nvidia": ({"linux", "windows"}, None),
    "jetson": ({"linux"}, {"aarch64"}),
    "amd": ({"linux"}, None),
    "intel": ({"linux", "windows"}, None),
    "apple": ({"darwin"}, {"aarch64"}),
    "cpu": ({"linux", "windows", "darwin"}, None),
}


def check_table(prefix: str, table: Any, bad: Bad) -> None:
    """Check each value of one ``[hardware]`` table (its key names are checked by the caller)."""
    if not isinstance(table, dict):
        return
    for name, key in KEYS.items():
        if name not in table:
            continue
        value, where = table[name], f"{prefix}hardware.{name}"
        if key.array:
            if not isinstance(value, list):
                bad(where, f"an array like [{key.example}]", value)
                continue
            for i, item in enumerate(value):
                if not key.valid(item):
                    bad(f"{where}[{i}]", f"{key.expected} (got {item!r})")
        elif key.typed:
            if not key.valid(value):
                bad(where, key.expected, value)
        elif not key.valid(value):
            bad(where, f"{key.expected} (got {value!r})")


def parse_table(table: dict[str, Any]) -> dict[str, Any]:
    """A checked ``[hardware]`` table's keys, parsed: the keys this layer sets (a key set to
    false or empty is set)."""
    return {name: KEYS[name].parse(value) for name, value in table.items()}


def needs_values(needs: Needs) -> dict[str, Any]:
    """A :class:`Needs`'s fields as keyword arguments (to build a :class:`~.model.Build` or
    :class:`~.model.Profile` from it)."""
    return {name: getattr(needs, name) for name in KEYS}
