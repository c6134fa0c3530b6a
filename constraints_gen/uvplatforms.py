"""uv ``--python-platform`` names, as profiles spell their platforms, and what they mean.

Accepted (uv's own spellings, ``uv pip compile --help``)::

    x86_64-manylinux_2_28   aarch64-manylinux_2_28   (any manylinux_2_NN, and manylinux2014 = 2.17)
    x86_64-unknown-linux-gnu  aarch64-unknown-linux-gnu  (uv: the same as manylinux_2_28)
    x86_64-pc-windows-msvc  aarch64-pc-windows-msvc
    aarch64-apple-darwin    x86_64-apple-darwin
    linux (= x86_64-manylinux_2_28)  windows (= x86_64-pc-windows-msvc)
    macos (= aarch64-apple-darwin)

A Linux platform's ``glibc`` is the oldest glibc its wheels need (manylinux_2_28: glibc 2.28,
PEP 600). No packaging import here: this module is on the emit path.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

_SHORTHANDS = {
    "linux": "x86_64-manylinux_2_28",
    "windows": "x86_64-pc-windows-msvc",
    "macos": "aarch64-apple-darwin",
}
_MACHINES = ("x86_64", "aarch64")
_MANYLINUX = re.compile(r"^(?P<arch>[a-z0-9_]+)-manylinux_(?P<major>2)_(?P<minor>\d{1,3})$")
_OTHER = re.compile(
    r"^(?P<arch>[a-z0-9_]+)-(?P<os>manylinux2014|unknown-linux-gnu|pc-windows-msvc|apple-darwin)$"
)
EXAMPLES = (
    "x86_64-manylinux_2_28, aarch64-manylinux_2_28, x86_64-pc-windows-msvc, aarch64-apple-darwin"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class UvPlatform:
    name: str  # as written in the profile
    system: str  # "linux", "windows" or "darwin" (hardware.System)
    machine: str  # "x86_64" or "aarch64" (hardware.Machine)
    glibc: tuple[int, int] | None  # Linux: the oldest glibc the wheels need

    def describe(self) -> str:
        glibc = f", glibc >= {self.glibc[0]}.{self.glibc[1]}" if self.glibc else ""
        return f"{self.system} {self.machine}{glibc}"


def parse_uv_platform(name: str) -> UvPlatform:
    """``"aarch64-manylinux_2_28"`` -> its system, machine and glibc floor; ValueError (with
    the reason as its message) for anything uv or this tool does not know."""
    target = _SHORTHANDS.get(name, name)
    if match := _MANYLINUX.match(target):
        arch, os_part = match["arch"], "manylinux"
        glibc: tuple[int, int] | None = (int(match["major"]), int(match["minor"]))
    elif match := _OTHER.match(target):
        arch, os_part = match["arch"], match["os"]
        glibc = {"manylinux2014": (2, 17), "unknown-linux-gnu": (2, 28)}.get(os_part)
    else:
        raise ValueError(f"not a uv --python-platform (expected e.g. {EXAMPLES})")
    if arch not in _MACHINES:
        raise ValueError(f"machine {arch!r} is not supported (expected x86_64 or aarch64)")
    system = (
        "windows" if os_part == "pc-windows-msvc" else "darwin" if "darwin" in os_part else "linux"
    )
    return UvPlatform(name=name, system=system, machine=arch, glibc=glibc)


def is_uv_platform(name: str) -> bool:
    try:
        parse_uv_platform(name)
    except ValueError:
        return False
    return True


_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def running_python() -> str:
    """The running interpreter's CPython X.Y."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def platform_matches(
    uv_platform: str, system: str | None = None, machine: str | None = None
) -> bool:
    """Does this machine match a uv ``--python-platform`` such as ``x86_64-manylinux_2_28``?"""
    import platform  # 4 ms: only when no Python is named (emit's budget)

    system = (system or sys.platform).lower()
    machine = (machine or platform.machine()).lower()
    machine = _ARCH_ALIASES.get(machine, machine)
    try:
        spec = parse_uv_platform(uv_platform)
    except ValueError:
        return False
    prefix = {"linux": "linux", "windows": "win32", "darwin": "darwin"}[spec.system]
    return spec.machine == machine and system.startswith(prefix)
