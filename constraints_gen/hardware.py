"""What a machine has: its NVIDIA driver and GPUs, as a frozen value.

The JSON form (``detect --json``, ``--hardware FILE``, ``GEN_CONSTRAINTS_HARDWARE``) is::

    {"driver_version": "580.159.04", "cuda_driver_version": "13.0",
     "gpus": [{"index": 0, "name": "NVIDIA H200", "compute_capability": "9.0",
               "memory_mib": 143771, "uuid": "GPU-...", "mig_enabled": false}]}

``gpus: []`` with null driver fields is a CPU machine. Unknown keys are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constraints_gen.errors import InputError

_CC = re.compile(r"^(\d+)\.(\d+)$")
_DRIVER = re.compile(r"^\d+(\.\d+){0,2}$")


def parse_cc(text: str) -> tuple[int, int]:
    """``"9.0"`` -> ``(9, 0)``; raises ValueError on anything else."""
    match = _CC.match(text)
    if match is None:
        raise ValueError(text)
    return int(match[1]), int(match[2])


def driver_tuple(text: str) -> tuple[int, ...]:
    """``"580.159.04"`` -> ``(580, 159, 4)``, for ordering driver versions."""
    if _DRIVER.match(text) is None:
        raise ValueError(text)
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    index: int
    name: str
    compute_capability: tuple[int, int]
    memory_mib: int | None = None
    uuid: str | None = None
    mig_enabled: bool = False

    @property
    def cc(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "compute_capability": self.cc,
            "memory_mib": self.memory_mib,
            "uuid": self.uuid,
            "mig_enabled": self.mig_enabled,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardware:
    driver_version: str | None
    cuda_driver_version: str | None
    gpus: tuple[Gpu, ...] = ()
    source: str = "NVML"

    @property
    def is_cpu(self) -> bool:
        return not self.gpus

    def to_json(self) -> dict[str, Any]:
        return {
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "gpus": [gpu.to_json() for gpu in self.gpus],
        }

    def describe(self) -> str:
        """A few lines for people."""
        if self.is_cpu:
            return f"CPU machine: no NVIDIA GPU ({self.source})"
        lines = [
            f"NVIDIA driver {self.driver_version}, CUDA driver {self.cuda_driver_version}"
            f" ({self.source})"
        ]
        for gpu in self.gpus:
            memory = f", {gpu.memory_mib} MiB" if gpu.memory_mib is not None else ""
            mig = ", MIG on" if gpu.mig_enabled else ""
            lines.append(f"  GPU {gpu.index}: {gpu.name}, compute capability {gpu.cc}{memory}{mig}")
        return "\n".join(lines)


CPU = Hardware(driver_version=None, cuda_driver_version=None, gpus=(), source="no GPU")


def load_hardware(path: Path) -> Hardware:
    """Read a hardware JSON file; every problem is reported at once with its key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([f"{path}: cannot read hardware file: {exc.strerror}"]) from None
    return parse_hardware(text, str(path))


def parse_hardware(text: str, origin: str) -> Hardware:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [f"{origin}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]
        ) from None
    problems: list[str] = []

    def bad(key: str, expected: str) -> None:
        problems.append(f"{origin}: {key}: expected {expected}")

    if not isinstance(data, dict):
        raise InputError([f"{origin}: expected a JSON object at the top level"])
    driver = data.get("driver_version", _MISSING)
    cuda = data.get("cuda_driver_version", _MISSING)
    gpus_raw = data.get("gpus", _MISSING)
    if driver is _MISSING:
        bad("driver_version", 'a driver version string like "580.159.04", or null (missing)')
    elif driver is not None and (not isinstance(driver, str) or not _DRIVER.match(driver)):
        bad("driver_version", f'a driver version string like "580.159.04", got {driver!r}')
    if cuda is _MISSING:
        bad("cuda_driver_version", 'a CUDA version like "13.0", or null (missing)')
    elif cuda is not None and (not isinstance(cuda, str) or not _CC.match(cuda)):
        bad("cuda_driver_version", f'a CUDA version like "13.0", got {cuda!r}')
    gpus: list[Gpu] = []
    if gpus_raw is _MISSING or not isinstance(gpus_raw, list):
        bad("gpus", "a list of GPU objects" + (" (missing)" if gpus_raw is _MISSING else ""))
    else:
        for position, raw in enumerate(gpus_raw):
            gpu = _parse_gpu(raw, f"gpus[{position}]", bad)
            if gpu is not None:
                gpus.append(gpu)
        if gpus and (driver is None or cuda is None):
            problems.append(
                f"{origin}: driver_version, cuda_driver_version: expected strings when gpus is"
                " not empty (null means a CPU machine)"
            )
    if problems:
        raise InputError(problems)
    return Hardware(
        driver_version=driver if isinstance(driver, str) else None,
        cuda_driver_version=cuda if isinstance(cuda, str) else None,
        gpus=tuple(gpus),
        source=origin,
    )


_MISSING: Any = object()


def _parse_gpu(raw: object, key: str, bad: Any) -> Gpu | None:
    if not isinstance(raw, dict):
        bad(key, "a GPU object")
        return None
    ok = True
    index, name, cc = (
        raw.get("index", _MISSING),
        raw.get("name", _MISSING),
        raw.get("compute_capability", _MISSING),
    )
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        bad(f"{key}.index", "a non-negative integer" + (" (missing)" if index is _MISSING else ""))
        ok = False
    if not isinstance(name, str) or not name:
        bad(f"{key}.name", "a GPU name string" + (" (missing)" if name is _MISSING else ""))
        ok = False
    if not isinstance(cc, str) or not _CC.match(cc):
        got = "missing" if cc is _MISSING else f"got {cc!r}"
        bad(f"{key}.compute_capability", f'a string like "9.0" ({got})')
        ok = False
    memory, uuid, mig = raw.get("memory_mib"), raw.get("uuid"), raw.get("mig_enabled", False)
    if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool)):
        bad(f"{key}.memory_mib", f"an integer or null, got {memory!r}")
        ok = False
    if uuid is not None and not isinstance(uuid, str):
        bad(f"{key}.uuid", f"a string or null, got {uuid!r}")
        ok = False
    if not isinstance(mig, bool):
        bad(f"{key}.mig_enabled", f"true or false, got {mig!r}")
        ok = False
    if not ok:
        return None
    assert isinstance(cc, str) and isinstance(name, str) and isinstance(index, int)
    return Gpu(
        index=index,
        name=name,
        compute_capability=parse_cc(cc),
        memory_mib=memory,
        uuid=uuid,
        mig_enabled=mig,
    )
