"""The platform: system, machine (normalised), OS version, glibc; from the standard library.

``platform.system()`` gives ``Linux``/``Windows``/``Darwin``; ``platform.machine()`` gives
``x86_64``/``aarch64`` on Linux, ``AMD64``/``ARM64`` on Windows and ``x86_64``/``arm64`` on macOS
(Python docs, "platform"). glibc's version comes from ``confstr("CS_GNU_LIBC_VERSION")``
(``"glibc 2.39"``; POSIX confstr, glibc manual "String Parameters"), else ``platform.libc_ver()``.
Without glibc, musl (Alpine) is told by ``packaging.tags.platform_tags()``: on musl its tags are
``musllinux_1_2_x86_64`` and older (PEP 656; packaging reads the version from the musl loader).
Neither found: the C library is unknown (``libc`` None), which is not the same as "no glibc".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from constraints_gen.detect.hardware import MACHINES, SYSTEMS, Libc, Machine, Platform, System
from constraints_gen.errors import ConstraintsGenError

SYSTEM_NAMES: dict[str, System] = {"linux": "linux", "windows": "windows", "darwin": "darwin"}
MACHINE_NAMES: dict[str, Machine] = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}
_GLIBC = re.compile(r"^(?:glibc )?(\d+)\.(\d+)")
_MUSLLINUX = re.compile(r"^musllinux_(\d+)_(\d+)_")
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")


def normalise_system(name: str) -> System | None:
    return SYSTEM_NAMES.get(name.strip().lower())


def normalise_machine(name: str) -> Machine | None:
    return MACHINE_NAMES.get(name.strip().lower())


def _confstr() -> Callable[[str], str | None]:
    import os

    def read(name: str) -> str | None:
        try:
            return os.confstr(name)
        except (AttributeError, ValueError, OSError):  # not POSIX, or not glibc (musl)
            return None

    return read


def glibc_version(confstr: Callable[[str], str | None], module: Any) -> str | None:
    """``"2.39"``, or None on musl and where it cannot be told."""
    text = confstr("CS_GNU_LIBC_VERSION")
    if text is None:
        lib, version = module.libc_ver()
        text = f"glibc {version}" if lib == "glibc" and version else None
    match = _GLIBC.match(text) if text else None
    return f"{match[1]}.{match[2]}" if match else None


def _platform_tags() -> Iterable[str]:
    from packaging.tags import platform_tags  # imported only where glibc was not found

    return platform_tags()


def musl_version(platform_tags: Callable[[], Iterable[str]]) -> str | None:
    """``"1.2"`` from the newest ``musllinux_1_2_<arch>`` tag, or None where none is listed."""
    for tag in platform_tags():
        match = _MUSLLINUX.match(tag)
        if match:
            return f"{match[1]}.{match[2]}"
    return None


def read_libc(
    confstr: Callable[[str], str | None],
    module: Any,
    platform_tags: Callable[[], Iterable[str]] | None = None,
) -> Libc | None:
    """glibc with its version, else musl with its version, else None (unknown)."""
    glibc = glibc_version(confstr, module)
    if glibc is not None:
        return Libc(name="glibc", version=glibc)
    try:
        musl = musl_version(platform_tags or _platform_tags)
    except Exception:  # packaging could not read the loader: unknown, not an error
        return None
    return None if musl is None else Libc(name="musl", version=musl)


def read(
    module: Any = None,
    confstr: Callable[[str], str | None] | None = None,
    platform_tags: Callable[[], Iterable[str]] | None = None,
) -> Platform:
    """This machine's :class:`Platform`. ``module`` stands in for :mod:`platform`, ``confstr``
    for :func:`os.confstr` and ``platform_tags`` for :func:`packaging.tags.platform_tags` in tests.

    A system or machine gen-constraints has no builds for is an error (exit 2) that says so."""
    if module is None:
        import platform as module
    raw_system, raw_machine = str(module.system()), str(module.machine())
    system, machine = normalise_system(raw_system), normalise_machine(raw_machine)
    if system is None or machine is None:
        raise ConstraintsGenError(
            f"this machine is {raw_system or '?'} {raw_machine or '?'}; gen-constraints knows"
            f" {', '.join(SYSTEMS)} on {', '.join(MACHINES)}",
            tip="to emit for another machine, pass its readout with --hardware FILE or name the"
            " profile with --profile NAME",
        )
    os_version: str | None = None
    if system == "darwin":
        os_version = str(module.mac_ver()[0]) or None
    elif system == "windows":
        os_version = str(module.win32_ver()[1]) or None
    if os_version is not None and not _VERSION.match(os_version):
        os_version = None
    libc = read_libc(confstr or _confstr(), module, platform_tags) if system == "linux" else None
    return Platform(system=system, machine=machine, os_version=os_version, libc=libc)
