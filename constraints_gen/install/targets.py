"""Which wheels install on a lock's target: CPython X.Y on a uv ``--python-platform``.

A lock holds the hashes of every wheel of each version (all platforms); a wheelhouse needs only
the files its target can install. The target is the profile's ``target.platform`` (as uv spells
it: ``x86_64-manylinux_2_28``, ``aarch64-apple-darwin``, ``linux``...) and the CPython version
from the lock's file name. Tags come from :mod:`packaging.tags`, best first; ``linux_<arch>``
wheels rank last on a manylinux target (uv installs them, but they are rarely portable). The
platform names are read by :func:`constraints_gen.uvplatforms.parse_uv_platform`, as everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from packaging import tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from constraints_gen.errors import InputError
from constraints_gen.uvplatforms import parse_uv_platform

_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_MAC_ARCH = {"aarch64": "arm64", "x86_64": "x86_64"}
_WIN_ARCH = {"x86_64": "win_amd64", "aarch64": "win_arm64"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    python: str  # "3.11"
    platform: str  # as the profile spells it
    priority: Mapping[tags.Tag, int]  # tag -> position, best (0) first

    def describe(self) -> str:
        return f"CPython {self.python}, {self.platform}"

    def rank(self, filename: str) -> int | None:
        """The wheel's best tag position (lower is better), or None when it cannot install."""
        try:
            _, _, _, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        return min((self.priority[t] for t in wheel_tags if t in self.priority), default=None)


def platform_tags(uv_platform: str, macos: str | None = None) -> list[str]:
    """Platform tags for a uv ``--python-platform``, best first; ``macos``: the oldest macOS
    (a profile's ``min_macos``), else $MACOSX_DEPLOYMENT_TARGET, else uv's default 13.0."""
    try:
        spec = parse_uv_platform(uv_platform)
    except ValueError:
        raise InputError(
            [
                f"target platform {uv_platform!r}: not understood (expected a uv"
                " --python-platform such as x86_64-manylinux_2_28, aarch64-apple-darwin,"
                " x86_64-pc-windows-msvc)"
            ]
        ) from None
    arch = spec.machine
    if spec.glibc is not None:  # Linux: manylinux tags from its glibc floor down (PEP 600)
        major, newest = spec.glibc
        out = []
        for minor in range(newest, 4, -1):
            out.append(f"manylinux_{major}_{minor}_{arch}")
            if (major, minor) in _LEGACY:
                out.append(f"{_LEGACY[major, minor]}_{arch}")
        return [*out, f"linux_{arch}"]
    if spec.system == "darwin":
        version = macos or os.environ.get("MACOSX_DEPLOYMENT_TARGET", "13.0")
        mac_major, _, mac_minor = version.partition(".")
        return list(tags.mac_platforms((int(mac_major), int(mac_minor or 0)), _MAC_ARCH[arch]))
    return [_WIN_ARCH[arch]]


def target_for(python: str, uv_platform: str, macos: str | None = None) -> Target:
    major, _, minor = python.partition(".")
    version = (int(major), int(minor))
    platforms = platform_tags(uv_platform, macos)
    portable = [p for p in platforms if not p.startswith("linux_")]
    ordered: list[tags.Tag] = []
    for group in (portable, [p for p in platforms if p.startswith("linux_")]):
        if group:
            ordered += tags.cpython_tags(version, platforms=group)
            ordered += tags.compatible_tags(version, f"cp{major}{minor}", group)
    priority: dict[tags.Tag, int] = {}
    for position, tag in enumerate(ordered):
        priority.setdefault(tag, position)
    return Target(python=python, platform=uv_platform, priority=priority)
