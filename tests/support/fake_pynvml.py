"""A stand-in for the ``pynvml`` module, configured by the ``FAKE_PYNVML`` environment variable.

Tests copy this file to ``<dir>/pynvml.py`` and put ``<dir>`` first on ``PYTHONPATH``, so that a
real ``gen-constraints`` process imports it as pynvml; in-process tests load it directly.
``FAKE_PYNVML`` is JSON: ``{"driver": "580.159.04", "cuda": 13000, "devices": [[name, [major,
minor], total_bytes, uuid, mig_mode_or_null], ...], "init_error": code_or_null, "fail": {"query":
name, "gpu": index_or_null, "code": code}}``. Errors carry ``.value`` like pynvml's NVMLError and
are raised as the pynvml subclass names (``NVMLError_Unknown`` ...).
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

NAMES = {
    3: "NotSupported",
    9: "DriverNotLoaded",
    12: "LibraryNotFound",
    13: "FunctionNotFound",
    15: "GpuIsLost",
    18: "LibRmVersionMismatch",
    999: "Unknown",
}
TEXT = {
    3: "Not Supported",
    9: "Driver Not Loaded",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    15: "GPU is lost",
    18: "RM has detected an NVML/RM version mismatch.",
    999: "Unknown Error",
}


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(TEXT.get(value, f"error {value}"))
        self.value = value


CLASSES: dict[int, type[NVMLError]] = {
    code: type(f"NVMLError_{name}", (NVMLError,), {}) for code, name in NAMES.items()
}
globals().update({cls.__name__: cls for cls in CLASSES.values()})


def _error(code: int) -> NVMLError:
    cls = CLASSES.get(code, NVMLError)
    return cls(code)


DEFAULT: dict[str, Any] = {
    "driver": "580.159.04",
    "cuda": 13000,
    "devices": [
        ["NVIDIA H200", [9, 0], 150754820096, "GPU-64e490f7-0be7-acdb-c82d-da3343bbd06c", None],
        ["NVIDIA A100-SXM4-80GB", [8, 0], 85899345920, "GPU-6f1a2b3c-1111", [0, 0]],
    ],
    "init_error": None,
    "fail": None,
}


def _config() -> dict[str, Any]:
    return {**DEFAULT, **json.loads(os.environ.get("FAKE_PYNVML", "{}"))}


def _maybe_fail(query: str, gpu: int | None = None) -> None:
    fail = _config()["fail"]
    if fail and fail["query"] == query and fail.get("gpu") in (None, gpu):
        raise _error(int(fail.get("code", 999)))


def nvmlInit() -> None:
    code = _config()["init_error"]
    if code is not None:
        raise _error(int(code))


def nvmlShutdown() -> None:
    pass


def nvmlSystemGetDriverVersion() -> str:
    _maybe_fail("nvmlSystemGetDriverVersion")
    return str(_config()["driver"])


def nvmlSystemGetCudaDriverVersion() -> Any:
    _maybe_fail("nvmlSystemGetCudaDriverVersion")
    return _config()["cuda"]


def nvmlDeviceGetCount() -> int:
    _maybe_fail("nvmlDeviceGetCount")
    return len(_config()["devices"])


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    _maybe_fail("nvmlDeviceGetHandleByIndex", index)
    return index


def nvmlDeviceGetName(handle: int) -> str:
    _maybe_fail("nvmlDeviceGetName", handle)
    return str(_config()["devices"][handle][0])


def nvmlDeviceGetCudaComputeCapability(handle: int) -> tuple[int, ...]:
    _maybe_fail("nvmlDeviceGetCudaComputeCapability", handle)
    return tuple(_config()["devices"][handle][1])


def nvmlDeviceGetMemoryInfo(handle: int) -> SimpleNamespace:
    _maybe_fail("nvmlDeviceGetMemoryInfo", handle)
    total = _config()["devices"][handle][2]
    return SimpleNamespace(total=total, free=total, used=0)


def nvmlDeviceGetUUID(handle: int) -> str:
    _maybe_fail("nvmlDeviceGetUUID", handle)
    return str(_config()["devices"][handle][3])


def nvmlDeviceGetMigMode(handle: int) -> tuple[int, int]:
    _maybe_fail("nvmlDeviceGetMigMode", handle)
    mode = _config()["devices"][handle][4]
    if mode is None:
        raise _error(3)
    return mode[0], mode[1]


def nvmlDeviceGetMaxMigDeviceCount(handle: int) -> int:
    return 0
