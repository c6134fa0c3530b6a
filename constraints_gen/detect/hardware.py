"""What a machine has: its platform, its GPUs of every vendor, its NVIDIA driver; a frozen value.

The JSON form (``detect --json``, ``--hardware FILE``, ``GEN_CONSTRAINTS_HARDWARE``) is::

    {"platform": {"system": "linux", "machine": "aarch64", "os_version": null,
                  "glibc": "2.39", "libc": {"name": "glibc", "version": "2.39"}, "l4t": null},
     "driver_version": "580.95.05", "cuda_driver_version": "13.0",
     "gpus": [{"index": 0, "vendor": "nvidia", "name": "NVIDIA GH200 480GB",
               "compute_capability": "9.0", "memory_mib": 97871, "uuid": "GPU-...",
               "mig_enabled": false},
              {"index": 1, "vendor": "amd", "name": "AMD Instinct MI300X", "gfx": "gfx942",
               "memory_mib": 196592},
              {"index": 2, "vendor": "intel", "name": "Intel Arc A770", "pci_id": "8086:56a0",
               "memory_mib": 16384},
              {"index": 3, "vendor": "apple", "name": "Apple M3 Max", "memory_mib": 65536}]}

The old form stays readable: a file without ``platform`` is Linux x86_64, a GPU without ``vendor``
is NVIDIA, a platform without ``libc`` has glibc when ``glibc`` is set and an unknown C library
otherwise. ``libc`` tells musl (Alpine: ``{"name": "musl", "version": "1.2"}``, ``glibc`` null)
from a C library that could not be read (``libc`` null). ``gpus: []`` is a CPU machine. Unknown
keys are ignored. The driver fields are strings when NVIDIA GPUs are present (null allowed on a
Jetson, ``l4t`` set, where NVML may be missing).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from constraints_gen.errors import InputError

System = Literal["linux", "windows", "darwin"]
Machine = Literal["x86_64", "aarch64"]
Vendor = Literal["nvidia", "amd", "intel", "apple"]
LibcName = Literal["glibc", "musl"]
SYSTEMS: Final[tuple[str, ...]] = get_args(System)
MACHINES: Final[tuple[str, ...]] = get_args(Machine)
VENDORS: Final[tuple[str, ...]] = get_args(Vendor)
LIBCS: Final[tuple[str, ...]] = get_args(LibcName)

_HEX = frozenset("0123456789abcdef")


def _dotted(text: str, fewest: int, most: int) -> bool:
    """``"580.159.04"`` with ``fewest`` to ``most`` ASCII numbers (no regular expression: this
    module is on emit's path, where compiling patterns at import costs start-up time)."""
    parts = text.split(".")
    return text.isascii() and fewest <= len(parts) <= most and all(p.isdigit() for p in parts)


def _is_cc(text: str) -> bool:  # "9.0"
    return _dotted(text, 2, 2)


def _is_gfx(text: str) -> bool:  # "gfx942", "gfx90a", "gfx1100"
    return text.startswith("gfx") and len(text) > 3 and _HEX.issuperset(text[3:])


def _is_intel_pci_id(text: str) -> bool:  # "8086:56a0"
    return len(text) == 9 and text.startswith("8086:") and _HEX.issuperset(text[5:])


#: Reading more problems than this helps nobody: the rest is counted, not listed.
MAX_PROBLEMS = 50


def parse_cc(text: str) -> tuple[int, int]:
    """``"9.0"`` -> ``(9, 0)``; raises ValueError on anything else."""
    if not _is_cc(text):
        raise ValueError(text)
    major, minor = text.split(".")
    return int(major), int(minor)


def is_driver_version(text: str) -> bool:
    """``"580.159.04"``, ``"581.57"``, ``"580"``: yes; ``"580.159.04-beta"``, ``"abc"``: no."""
    # NVIDIA drivers are "580.159.04" on Linux, "581.57" on Windows.
    return _dotted(text, 1, 3)


def driver_tuple(text: str) -> tuple[int, ...]:
    """``"580.159.04"`` -> ``(580, 159, 4)``, for ordering driver versions."""
    if not is_driver_version(text):
        raise ValueError(text)
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True, slots=True, kw_only=True)
class Libc:
    """A Linux machine's C library, as ``packaging.tags`` tells manylinux (glibc) from musllinux
    (musl): ``glibc 2.39``, ``musl 1.2``. The version may be unknown."""

    name: LibcName
    version: str | None = None

    def describe(self) -> str:
        return self.name if self.version is None else f"{self.name} {self.version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """``libc`` None on Linux: the C library could not be read (unknown, not "no glibc").
    ``glibc`` is the glibc version when ``libc`` is glibc (either one given sets the other)."""

    system: System
    machine: Machine
    os_version: str | None = None
    glibc: str | None = None
    l4t: str | None = None
    libc: Libc | None = None

    def __post_init__(self) -> None:
        libc = self.libc
        if libc is None and self.glibc is not None:
            object.__setattr__(self, "libc", Libc(name="glibc", version=self.glibc))
        elif libc is not None and libc.name == "glibc" and self.glibc is None:
            object.__setattr__(self, "glibc", libc.version)
        elif (
            libc is not None
            and self.glibc is not None
            and libc != Libc(name="glibc", version=self.glibc)
        ):
            raise ValueError(f"glibc {self.glibc} and libc {libc.describe()} disagree")

    @property
    def musl(self) -> bool:
        return self.libc is not None and self.libc.name == "musl"

    def to_json(self) -> dict[str, Any]:
        libc = self.libc
        return {
            "system": self.system,
            "machine": self.machine,
            "os_version": self.os_version,
            "glibc": self.glibc,
            "libc": None if libc is None else {"name": libc.name, "version": libc.version},
            "l4t": self.l4t,
        }

    def describe(self) -> str:
        """``linux aarch64, glibc 2.39, L4T 36.4.3``; ``darwin aarch64, macOS 14.5``."""
        parts = [f"{self.system} {self.machine}"]
        if self.os_version is not None:
            label = {"darwin": "macOS", "windows": "Windows"}.get(self.system, "OS")
            parts.append(f"{label} {self.os_version}")
        if self.libc is not None:
            parts.append(self.libc.describe())
        if self.l4t is not None:
            parts.append(f"L4T {self.l4t}")
        return ", ".join(parts)


LINUX_X86_64 = Platform(system="linux", machine="x86_64")


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    index: int
    name: str
    vendor: Vendor = "nvidia"
    compute_capability: tuple[int, int] | None = None  # nvidia
    gfx: str | None = None  # amd, "gfx942"
    pci_id: str | None = None  # intel, "8086:56a0"
    memory_mib: int | None = None
    uuid: str | None = None
    mig_enabled: bool = False

    @property
    def cc(self) -> str:
        """``"9.0"``: the compute capability of an NVIDIA GPU (ValueError for other vendors)."""
        if self.compute_capability is None:
            raise ValueError(f"GPU {self.index} ({self.vendor}) has no compute capability")
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    @property
    def arch(self) -> str:
        """What a build must carry for it: ``"9.0"``, ``"gfx942"``, ``"8086:56a0"``, or ``""``."""
        if self.vendor == "nvidia":
            return self.cc
        if self.vendor == "amd":
            return self.gfx or ""
        if self.vendor == "intel":
            return self.pci_id or ""
        return ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "vendor": self.vendor, "name": self.name}
        if self.vendor == "nvidia":
            data["compute_capability"] = self.cc
        elif self.vendor == "amd":
            data["gfx"] = self.gfx
        elif self.vendor == "intel":
            data["pci_id"] = self.pci_id
        data["memory_mib"] = self.memory_mib
        if self.vendor == "nvidia" or self.uuid is not None:
            data["uuid"] = self.uuid
        if self.vendor == "nvidia":
            data["mig_enabled"] = self.mig_enabled
        return data

    def describe(self) -> str:
        if self.vendor == "nvidia":
            what = f"compute capability {self.cc}"
        elif self.vendor == "amd":
            what = f"AMD {self.gfx}"
        elif self.vendor == "intel":
            what = f"Intel PCI {self.pci_id}"
        else:
            what = "Apple GPU (unified memory)"
        memory = f", {self.memory_mib} MiB" if self.memory_mib is not None else ""
        mig = ", MIG on" if self.mig_enabled else ""
        return f"GPU {self.index}: {self.name}, {what}{memory}{mig}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardware:
    platform: Platform = LINUX_X86_64
    driver_version: str | None
    cuda_driver_version: str | None
    gpus: tuple[Gpu, ...] = ()
    source: str = "NVML"

    @property
    def is_cpu(self) -> bool:
        """No GPU of any vendor."""
        return not self.gpus

    def gpus_of(self, vendor: Vendor) -> tuple[Gpu, ...]:
        return tuple(gpu for gpu in self.gpus if gpu.vendor == vendor)

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform.to_json(),
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "gpus": [gpu.to_json() for gpu in self.gpus],
        }

    def describe(self) -> str:
        """A few lines for people."""
        lines = [f"{self.platform.describe()} ({self.source})"]
        if self.is_cpu:
            lines.append("CPU machine: no GPU")
            return "\n".join(lines)
        if self.driver_version is not None or self.cuda_driver_version is not None:
            lines.append(
                f"NVIDIA driver {self.driver_version}, CUDA driver {self.cuda_driver_version}"
            )
        lines += [f"  {gpu.describe()}" for gpu in self.gpus]
        return "\n".join(lines)


CPU = Hardware(driver_version=None, cuda_driver_version=None, gpus=(), source="no GPU")


def load_hardware(path: Path) -> Hardware:
    """Read a hardware JSON file; every problem is reported at once with its key path."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([f"{path}: cannot read hardware file: {exc.strerror}"]) from None
    return parse_hardware(decode_json_bytes(data, str(path)), str(path))


def decode_json_bytes(data: bytes, origin: str) -> str:
    """UTF-8 text (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8), or an error
    naming the file: a byte order mark or UTF-16/32 text is refused with what to do instead."""
    for bom, name in (
        (codecs.BOM_UTF8, "UTF-8"),
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            raise InputError(
                [f"{origin}: starts with a {name} byte order mark; expected UTF-8 without one"],
                tip="save the file as UTF-8 without BOM (PowerShell: Out-File -Encoding utf8NoBOM)",
            )
    nul = data.find(b"\x00")  # valid UTF-8, but never in JSON text: UTF-16 or UTF-32, no BOM
    if nul >= 0:
        raise InputError(
            [f"{origin}: byte {nul}: a NUL byte (UTF-16 or UTF-32 text?); expected UTF-8 JSON"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf16 = b"\x00" in data[:4]
        hint = " (it looks like UTF-16)" if utf16 else ""
        raise InputError(
            [f"{origin}: byte {exc.start}: not UTF-8{hint}; expected a UTF-8 JSON file"]
        ) from None


def parse_hardware(text: str, origin: str) -> Hardware:
    if text.startswith("\ufeff"):
        raise InputError([f"{origin}: starts with a byte order mark; expected UTF-8 without one"])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [f"{origin}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]
        ) from None
    except RecursionError:
        raise InputError([f"{origin}: invalid JSON: nested too deeply"]) from None
    except ValueError as exc:  # a number over Python's 4300-digit limit for int()
        raise InputError([f"{origin}: invalid JSON: {exc}"]) from None
    return hardware_from_json(data, origin)


_MISSING: Any = object()


class _Problems:
    """Problems of one file, the first MAX_PROBLEMS listed, the rest counted (a plain class: a
    dataclass costs emit start-up time to create)."""

    __slots__ = ("found", "more", "origin")

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.found: list[str] = []
        self.more = 0

    def bad(self, key: str, expected: str) -> None:
        self.add(f"{self.origin}: {key}: expected {expected}")

    def add(self, problem: str) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(problem)
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.found:
            more = [f"{self.origin}: ... and {self.more} more problems"] if self.more else []
            raise InputError([*self.found, *more])


def _got(value: Any) -> str:
    return "missing" if value is _MISSING else f"got {_short(value)}"


def is_plain_text(text: str) -> bool:
    """Printable (no control characters, no terminal escapes) and encodable (no lone surrogates),
    at most 200 characters: safe to print in messages and to write back as JSON."""
    if len(text) > 200 or not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def hardware_from_json(data: Any, origin: str) -> Hardware:
    """The :class:`Hardware` of already-parsed JSON ``data``; problems name ``origin`` and key."""
    problems = _Problems(origin)
    bad = problems.bad
    if not isinstance(data, dict):
        raise InputError([f"{origin}: expected a JSON object at the top level"])
    platform = _parse_platform(data.get("platform", _MISSING), bad)
    driver = data.get("driver_version", _MISSING)
    cuda = data.get("cuda_driver_version", _MISSING)
    gpus_raw = data.get("gpus", _MISSING)
    if driver is _MISSING:
        bad("driver_version", 'a driver version string like "580.159.04", or null (missing)')
    elif driver is not None and (not isinstance(driver, str) or not is_driver_version(driver)):
        bad("driver_version", f'a driver version string like "580.159.04", got {_short(driver)}')
    if cuda is _MISSING:
        bad("cuda_driver_version", 'a CUDA version like "13.0", or null (missing)')
    elif cuda is not None and (not isinstance(cuda, str) or not _is_cc(cuda)):
        bad("cuda_driver_version", f'a CUDA version like "13.0", got {_short(cuda)}')
    gpus: list[Gpu] = []
    if gpus_raw is _MISSING or not isinstance(gpus_raw, list):
        bad("gpus", "a list of GPU objects" + (" (missing)" if gpus_raw is _MISSING else ""))
    else:
        indices: dict[int, int] = {}
        uuids: dict[str, int] = {}
        for position, raw in enumerate(gpus_raw):
            key = f"gpus[{position}]"
            gpu = _parse_gpu(raw, key, bad)
            if gpu is None:
                continue
            if gpu.index in indices:
                bad(
                    f"{key}.index",
                    f"a unique index ({gpu.index} is also gpus[{indices[gpu.index]}])",
                )
                continue
            if gpu.uuid is not None and gpu.uuid in uuids:
                bad(f"{key}.uuid", f"a unique UUID ({gpu.uuid!r} is also gpus[{uuids[gpu.uuid]}])")
                continue
            indices[gpu.index] = position
            if gpu.uuid is not None:
                uuids[gpu.uuid] = position
            gpus.append(gpu)
        _check_consistency(tuple(gpus), platform, driver, cuda, problems)
    problems.raise_any()
    return Hardware(
        platform=platform or LINUX_X86_64,
        driver_version=driver if isinstance(driver, str) else None,
        cuda_driver_version=cuda if isinstance(cuda, str) else None,
        gpus=tuple(gpus),
        source=origin,
    )


def _check_consistency(
    gpus: tuple[Gpu, ...], platform: Platform | None, driver: Any, cuda: Any, problems: _Problems
) -> None:
    nvidia = any(gpu.vendor == "nvidia" for gpu in gpus)
    jetson = platform is not None and platform.l4t is not None
    if nvidia and not jetson and (driver is None or cuda is None):
        problems.add(
            f"{problems.origin}: driver_version, cuda_driver_version: expected strings when"
            " NVIDIA GPUs are listed (null means no NVIDIA GPU, or a Jetson with platform.l4t set)"
        )
    if platform is None:
        return
    for position, gpu in enumerate(gpus):
        if gpu.vendor == "apple" and (platform.system, platform.machine) != ("darwin", "aarch64"):
            problems.bad(
                f"gpus[{position}].vendor",
                f'"apple" only on platform darwin aarch64 (platform is {platform.system}'
                f" {platform.machine})",
            )
        if gpu.vendor in ("nvidia", "amd", "intel") and platform.system == "darwin":
            problems.bad(
                f"gpus[{position}].vendor",
                f"apple on darwin (got {gpu.vendor!r}: macOS has no {gpu.vendor} GPU support)",
            )


def _parse_platform(raw: Any, bad: Callable[[str, str], None]) -> Platform | None:
    if raw is _MISSING:
        return LINUX_X86_64  # the old form: every machine was Linux x86_64
    if not isinstance(raw, dict):
        bad("platform", f"an object with system and machine, got {_short(raw)}")
        return None
    ok = True
    system, machine = raw.get("system", _MISSING), raw.get("machine", _MISSING)
    if system not in SYSTEMS:
        bad("platform.system", f"one of {', '.join(SYSTEMS)} ({_got(system)})")
        ok = False
    if machine not in MACHINES:
        bad("platform.machine", f"one of {', '.join(MACHINES)} ({_got(machine)})")
        ok = False
    texts: dict[str, str | None] = {}
    for key, (fewest, most), example in (
        ("os_version", (1, 4), '"14.5" or "10.0.26100"'),
        ("glibc", (2, 2), '"2.39"'),
        ("l4t", (2, 3), '"36.4.3"'),
    ):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not _dotted(value, fewest, most)):
            bad(f"platform.{key}", f"a version like {example}, or null (got {_short(value)})")
            ok = False
        texts[key] = value if isinstance(value, str) else None
    libc = _parse_libc(raw.get("libc"), texts["glibc"], bad)
    if not ok or libc is _BAD:
        return None
    if texts["glibc"] is not None and system != "linux":
        bad("platform.glibc", f"null on {system} (glibc is Linux's C library)")
        ok = False
    if libc is not None and system != "linux":
        bad("platform.libc", f"null on {system} (glibc and musl are Linux's C libraries)")
        ok = False
    if texts["l4t"] is not None and (system, machine) != ("linux", "aarch64"):
        bad("platform.l4t", f"null on {system} {machine} (L4T is Jetson's Linux for aarch64)")
        ok = False
    if not ok:
        return None
    return Platform(
        system=system,
        machine=machine,
        os_version=texts["os_version"],
        glibc=texts["glibc"],
        l4t=texts["l4t"],
        libc=libc,
    )


_BAD: Any = object()


def _parse_libc(raw: Any, glibc: str | None, bad: Callable[[str, str], None]) -> Any:
    """``platform.libc``: a :class:`Libc`, None (unknown, or an old readout: then ``glibc``
    alone says glibc), or ``_BAD`` after reporting what is wrong."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        bad(
            "platform.libc",
            f'{{"name": "glibc" or "musl", "version": "2.39"}} or null (got {_short(raw)})',
        )
        return _BAD
    name, version = raw.get("name", _MISSING), raw.get("version")
    ok = True
    if name not in LIBCS:
        bad("platform.libc.name", f"one of {', '.join(LIBCS)} ({_got(name)})")
        ok = False
    if version is not None and (not isinstance(version, str) or not _dotted(version, 2, 3)):
        bad(
            "platform.libc.version",
            f'a version like "2.39" or "1.2", or null (got {_short(version)})',
        )
        ok = False
    if not ok:
        return _BAD
    if name == "musl" and glibc is not None:
        bad("platform.glibc", f"null with libc musl (got {glibc!r})")
        return _BAD
    if name == "glibc" and glibc is not None and version != glibc:
        bad(
            "platform.libc.version", f"the same as platform.glibc {glibc!r} (got {_short(version)})"
        )
        return _BAD
    return Libc(name=name, version=version)


def _parse_gpu(raw: object, key: str, bad: Callable[[str, str], None]) -> Gpu | None:
    if not isinstance(raw, dict):
        bad(key, "a GPU object")
        return None
    ok = True
    index, name = raw.get("index", _MISSING), raw.get("name", _MISSING)
    vendor = raw.get("vendor", "nvidia")  # the old form: every GPU was NVIDIA
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        bad(f"{key}.index", "a non-negative integer" + (" (missing)" if index is _MISSING else ""))
        ok = False
    if not isinstance(name, str) or not name:
        bad(f"{key}.name", "a GPU name string" + (" (missing)" if name is _MISSING else ""))
        ok = False
    elif not is_plain_text(name):
        bad(f"{key}.name", f"printable text, got {_short(name)}")
        ok = False
    if vendor not in VENDORS:
        bad(f"{key}.vendor", f"one of {', '.join(VENDORS)} (got {_short(vendor)})")
        return None
    cc_raw, gfx, pci_id = raw.get("compute_capability"), raw.get("gfx"), raw.get("pci_id")
    cc: tuple[int, int] | None = None
    for field_name, value, owner in (
        ("compute_capability", cc_raw, "nvidia"),
        ("gfx", gfx, "amd"),
        ("pci_id", pci_id, "intel"),
    ):
        if vendor != owner and value is not None:
            bad(f"{key}.{field_name}", f"only on {owner} GPUs (this GPU's vendor is {vendor})")
            ok = False
    if vendor == "nvidia":
        cc_value = raw.get("compute_capability", _MISSING)
        if not isinstance(cc_value, str) or not _is_cc(cc_value):
            bad(f"{key}.compute_capability", f'a string like "9.0" ({_got(cc_value)})')
            ok = False
        else:
            cc = parse_cc(cc_value)
    elif vendor == "amd" and (not isinstance(gfx, str) or not _is_gfx(gfx)):
        bad(f"{key}.gfx", f'a gfx target like "gfx942" ({_got(raw.get("gfx", _MISSING))})')
        ok = False
    elif vendor == "intel" and (not isinstance(pci_id, str) or not _is_intel_pci_id(pci_id)):
        got = _got(raw.get("pci_id", _MISSING))
        bad(f"{key}.pci_id", f'an Intel PCI id like "8086:56a0" ({got})')
        ok = False
    memory, uuid, mig = raw.get("memory_mib"), raw.get("uuid"), raw.get("mig_enabled", False)
    if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool)):
        bad(f"{key}.memory_mib", f"an integer or null, got {_short(memory)}")
        ok = False
    elif isinstance(memory, int) and memory < 0:
        bad(f"{key}.memory_mib", f"a non-negative integer or null, got {memory}")
        ok = False
    if uuid is not None and (not isinstance(uuid, str) or not uuid or not is_plain_text(uuid)):
        bad(f"{key}.uuid", f"a string or null, got {_short(uuid)}")
        ok = False
    if not isinstance(mig, bool):
        bad(f"{key}.mig_enabled", f"true or false, got {_short(mig)}")
        ok = False
    elif mig and vendor != "nvidia":
        bad(f"{key}.mig_enabled", f"false on {vendor} GPUs (MIG is NVIDIA's)")
        ok = False
    if not ok:
        return None
    assert isinstance(name, str) and isinstance(index, int)
    return Gpu(
        index=index,
        name=name,
        vendor=vendor,
        compute_capability=cc,
        gfx=gfx if vendor == "amd" else None,
        pci_id=pci_id if vendor == "intel" else None,
        memory_mib=memory,
        uuid=uuid,
        mig_enabled=mig,
    )
