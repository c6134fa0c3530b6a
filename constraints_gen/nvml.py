"""Read the machine through NVML (the ``pynvml`` module of ``nvidia-ml-py``).

Numbers as NVML gives them (see shared FACTS.md section 1, from NVIDIA's NVML API reference):
``nvmlSystemGetCudaDriverVersion()`` is ``1000*major + 10*minor`` (13000 -> "13.0");
``nvmlDeviceGetCudaComputeCapability(h)`` is ``(major, minor)``; strings are bytes on old bindings.
No library, no driver or no GPU is a CPU machine, reported in one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

from constraints_gen.hardware import CPU, Gpu, Hardware


def cuda_version_text(value: int) -> str:
    """13000 -> "13.0", 12040 -> "12.4"."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect(module: ModuleType | None = None, environ: dict[str, str] | None = None) -> Hardware:
    """Detect driver and visible GPUs. ``module`` is injectable so tests can fake the boundary."""
    environ = dict(os.environ) if environ is None else environ
    if module is None:
        try:
            module = importlib.import_module("pynvml")  # imported here: off the emit path
        except ImportError:
            return _cpu("the pynvml module (nvidia-ml-py) is not installed")
    nvml: Any = module
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return _cpu(f"NVML unavailable: {_text(exc) or type(exc).__name__}")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = cuda_version_text(int(nvml.nvmlSystemGetCudaDriverVersion()))
        gpus = []
        mig_uuids: dict[int, tuple[str, ...]] = {}
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                Gpu(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    compute_capability=(int(major), int(minor)),
                    memory_mib=int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024),
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    mig_enabled=_mig_enabled(nvml, handle),
                )
            )
            if gpus[-1].mig_enabled:
                mig_uuids[index] = _mig_uuids(nvml, handle)
    except Exception as exc:
        return _cpu(f"NVML query failed: {_text(exc) or type(exc).__name__}")
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    visible = filter_visible(tuple(gpus), environ.get("CUDA_VISIBLE_DEVICES"), mig_uuids)
    if not visible:
        reason = "CUDA_VISIBLE_DEVICES hides every GPU" if gpus else "NVML found no GPU"
        return _cpu(reason)
    return Hardware(driver_version=driver, cuda_driver_version=cuda, gpus=visible, source="NVML")


def _mig_enabled(nvml: ModuleType, handle: Any) -> bool:
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception:  # NVMLError_NotSupported on GPUs without MIG
        return False
    return bool(current)


def _mig_uuids(nvml: Any, handle: Any) -> tuple[str, ...]:
    """The ``MIG-...`` UUIDs of a MIG-enabled GPU's instances (what schedulers put into
    CUDA_VISIBLE_DEVICES), best effort: an instance that cannot be read is skipped."""
    uuids = []
    with contextlib.suppress(Exception):
        for slot in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
            with contextlib.suppress(Exception):
                child = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                uuids.append(_text(nvml.nvmlDeviceGetUUID(child)))
    return tuple(uuids)


def _cpu(reason: str) -> Hardware:
    """A machine with no usable GPU is a CPU machine, whatever driver it has."""
    return replace(CPU, source=reason)


def filter_visible(
    gpus: Sequence[Gpu], setting: str | None, mig_uuids: Mapping[int, Sequence[str]] | None = None
) -> tuple[Gpu, ...]:
    """Apply ``CUDA_VISIBLE_DEVICES`` as CUDA does: indices or UUID prefixes, comma-separated,
    in the given order; the list ends at the first entry that names no GPU. A ``MIG-`` entry
    selects the physical GPU that holds that MIG instance (its compute capability is the GPU's)."""
    if setting is None:
        return tuple(gpus)
    chosen: list[Gpu] = []
    for token in (part.strip() for part in setting.split(",")):
        match = _match(gpus, token, mig_uuids or {})
        if match is None or match in chosen:
            break
        chosen.append(match)
    return tuple(chosen)


def _match(gpus: Sequence[Gpu], token: str, mig_uuids: Mapping[int, Sequence[str]]) -> Gpu | None:
    if token.isdigit():
        return next((gpu for gpu in gpus if gpu.index == int(token)), None)
    if token.startswith("GPU-"):
        hits = [gpu for gpu in gpus if gpu.uuid and gpu.uuid.startswith(token)]
    elif token.startswith("MIG-"):
        hits = [g for g in gpus if any(u.startswith(token) for u in mig_uuids.get(g.index, ()))]
        if not hits and not any(mig_uuids.values()):  # instances unreadable: the only MIG GPU
            hits = [gpu for gpu in gpus if gpu.mig_enabled]
    else:
        return None
    return hits[0] if len(hits) == 1 else None
