"""NVIDIA GPUs through NVML (the ``pynvml`` module of ``nvidia-ml-py``), on Linux and Windows.

Numbers as NVML gives them (NVIDIA's NVML API reference, "System Queries" and "Device Queries"):
``nvmlSystemGetCudaDriverVersion()`` is ``1000*major + 10*minor`` (13000 -> "13.0");
``nvmlDeviceGetCudaComputeCapability(h)`` is ``(major, minor)``; strings are bytes on old bindings.

A CPU machine is only one with no NVML library (``NVML_ERROR_LIBRARY_NOT_FOUND``), no driver
loaded (``NVML_ERROR_DRIVER_NOT_LOADED``) or no device (count 0): :func:`detect` returns
``None`` with the reason. Everything else that fails (``nvmlInit`` with another error such as a
driver/library version mismatch, or any query after it) is a GPU machine that could not be read:
a :class:`NvmlError` (exit 2) naming the query and the GPU, never a silent CPU machine.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, TypeVar

from constraints_gen.detect.hardware import Gpu, is_driver_version, is_plain_text
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.errors import NvmlError as NvmlError

#: NVML return codes that mean "no NVIDIA GPU here" (nvml.h: NVML_ERROR_DRIVER_NOT_LOADED = 9,
#: NVML_ERROR_LIBRARY_NOT_FOUND = 12); pynvml raises them as NVMLError_<CamelName> classes.
_NO_GPU_CODES = {9: "NVMLError_DriverNotLoaded", 12: "NVMLError_LibraryNotFound"}
_NOT_SUPPORTED = (3, "NVMLError_NotSupported")  # nvml.h: NVML_ERROR_NOT_SUPPORTED = 3

#: What to do when NVML cannot be read; shared by every NvmlError.

# Driver strings as NVML gives them: "580.159.04" (Linux), "581.57" (Windows). A suffix after a
# dash or space ("580.159.04-beta") is kept out of the version used for ordering.
_DRIVER_WITH_SUFFIX = re.compile(r"^(\d+(?:\.\d+){0,2})[-+~ ][0-9A-Za-z.+~ -]*$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class NvmlReadout:
    driver_version: str
    cuda_driver_version: str
    gpus: tuple[Gpu, ...]  # after CUDA_VISIBLE_DEVICES
    all_gpus: tuple[Gpu, ...]  # every GPU NVML lists
    mig_uuids: tuple[tuple[int, tuple[str, ...]], ...] = ()  # (GPU index, its MIG-... UUIDs)
    notes: tuple[str, ...] = ()


def cuda_version_text(value: int) -> str:
    """13000 -> "13.0", 12040 -> "12.4"."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _why(exc: BaseException) -> str:
    return _text(exc) or type(exc).__name__


def _is(exc: BaseException, code: int, name: str) -> bool:
    return getattr(exc, "value", None) == code or type(exc).__name__ == name


def load_module() -> ModuleType | str:
    """The pynvml module, or why there is none (imported here: off the ``--hardware`` path)."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return "the pynvml module (nvidia-ml-py) is not installed"


def read(module: ModuleType | None = None) -> NvmlReadout | str:
    """Every GPU NVML lists, or the reason this is no NVIDIA machine (a string).

    Raises :class:`NvmlError` when the driver answered and then a query failed."""
    if module is None:
        loaded = load_module()
        if isinstance(loaded, str):
            return loaded
        module = loaded
    nvml: Any = module
    try:
        nvml.nvmlInit()
    except Exception as exc:
        if any(_is(exc, code, name) for code, name in _NO_GPU_CODES.items()):
            return f"NVML unavailable: {_why(exc)}"
        raise NvmlError(f"NVML failed to start (nvmlInit): {_why(exc)}") from None
    try:
        return _read_started(nvml)
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def _query(what: str, call: Callable[[], T], gpu: int | None = None) -> T:
    try:
        return call()
    except Exception as exc:
        on = f" on GPU {gpu}" if gpu is not None else ""
        raise NvmlError(f"NVML query {what} failed{on}: {_why(exc)}") from None


def _check(ok: bool, what: str, value: Any, expected: str, gpu: int | None = None) -> None:
    if not ok:
        on = f" on GPU {gpu}" if gpu is not None else ""
        raise NvmlError(f"NVML query {what} returned {value!r}{on}; expected {expected}")


def parse_driver(raw: str) -> tuple[str, str | None]:
    """The driver version for ordering, and a note when NVML's string had more in it.

    ``"580.159.04"`` -> (``"580.159.04"``, None); ``"580.159.04-beta"`` -> (``"580.159.04"``, a
    note); anything else (``"abc"``, ``"580.1.2.3"``) raises :class:`NvmlError`, at detection."""
    text = raw.strip()
    if is_driver_version(text):
        return text, None
    match = _DRIVER_WITH_SUFFIX.match(text) if text.isascii() else None
    if match is not None:
        return match[1], f"NVIDIA driver {raw!r} is ordered as {match[1]}"
    raise NvmlError(
        f"NVML query nvmlSystemGetDriverVersion returned {raw!r}; expected a driver version"
        ' like "580.159.04" (one to three numbers)'
    )


def _read_started(nvml: Any) -> NvmlReadout | str:
    raw_driver = _text(_query("nvmlSystemGetDriverVersion", nvml.nvmlSystemGetDriverVersion))
    driver, note = parse_driver(raw_driver)
    cuda_raw = _query("nvmlSystemGetCudaDriverVersion", nvml.nvmlSystemGetCudaDriverVersion)
    _check(
        isinstance(cuda_raw, int) and not isinstance(cuda_raw, bool) and cuda_raw >= 1000,
        "nvmlSystemGetCudaDriverVersion",
        cuda_raw,
        "an integer like 13000 (CUDA 13.0)",
    )
    count = _query("nvmlDeviceGetCount", nvml.nvmlDeviceGetCount)
    _check(
        isinstance(count, int) and not isinstance(count, bool) and count >= 0,
        "nvmlDeviceGetCount",
        count,
        "a count of GPUs",
    )
    if count == 0:
        return "NVML found no GPU"
    gpus = tuple(_read_gpu(nvml, index) for index in range(count))
    return NvmlReadout(
        driver_version=driver,
        cuda_driver_version=cuda_version_text(cuda_raw),
        gpus=gpus,
        all_gpus=gpus,
        mig_uuids=tuple(mig_uuids(nvml, gpus).items()),
        notes=() if note is None else (note,),
    )


def _read_gpu(nvml: Any, index: int) -> Gpu:
    handle = _query(
        "nvmlDeviceGetHandleByIndex", lambda: nvml.nvmlDeviceGetHandleByIndex(index), index
    )
    name = _text(_query("nvmlDeviceGetName", lambda: nvml.nvmlDeviceGetName(handle), index))
    cc = _query(
        "nvmlDeviceGetCudaComputeCapability",
        lambda: tuple(nvml.nvmlDeviceGetCudaComputeCapability(handle)),
        index,
    )
    _check(
        len(cc) == 2 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in cc),
        "nvmlDeviceGetCudaComputeCapability",
        cc,
        "(major, minor)",
        index,
    )
    total = _query(
        "nvmlDeviceGetMemoryInfo", lambda: nvml.nvmlDeviceGetMemoryInfo(handle).total, index
    )
    _check(isinstance(total, int) and total >= 0, "nvmlDeviceGetMemoryInfo", total, "bytes", index)
    uuid = _text(_query("nvmlDeviceGetUUID", lambda: nvml.nvmlDeviceGetUUID(handle), index))
    _check(bool(uuid) and is_plain_text(uuid), "nvmlDeviceGetUUID", uuid, "a GPU-... UUID", index)
    _check(bool(name) and is_plain_text(name), "nvmlDeviceGetName", name, "a GPU name", index)
    mig = _mig_enabled(nvml, handle, index)
    return Gpu(
        index=index,
        name=name,
        compute_capability=(cc[0], cc[1]),
        memory_mib=total // (1024 * 1024),
        uuid=uuid,
        mig_enabled=mig,
    )


def _mig_enabled(nvml: Any, handle: Any, index: int) -> bool:
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception as exc:
        if _is(exc, *_NOT_SUPPORTED):  # GPUs without MIG
            return False
        raise NvmlError(
            f"NVML query nvmlDeviceGetMigMode failed on GPU {index}: {_why(exc)}"
        ) from None
    return bool(current)


def mig_uuids(nvml: Any, gpus: Sequence[Gpu]) -> dict[int, tuple[str, ...]]:
    """The ``MIG-...`` UUIDs of each MIG-enabled GPU's instances (what schedulers put into
    CUDA_VISIBLE_DEVICES), best effort: an instance that cannot be read is skipped."""
    found: dict[int, tuple[str, ...]] = {}
    for gpu in gpus:
        if not gpu.mig_enabled:
            continue
        uuids = []
        with contextlib.suppress(Exception):
            handle = nvml.nvmlDeviceGetHandleByIndex(gpu.index)
            for slot in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
                with contextlib.suppress(Exception):
                    child = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                    uuids.append(_text(nvml.nvmlDeviceGetUUID(child)))
        found[gpu.index] = tuple(uuids)
    return found


# CUDA_VISIBLE_DEVICES (CUDA C Programming Guide, "CUDA Environment Variables"): a comma-separated
# list of GPU indices or UUIDs (``GPU-...``, abbreviated to a unique prefix; ``MIG-...`` for MIG
# instances); the GPUs are used in the given order and the list ends at the first entry that
# names no GPU ("0,2,-1,1" makes GPUs 0 and 2 visible). An empty value hides every GPU.
_INDEX = re.compile(r"^-?[0-9]+$")  # ASCII digits only: superscript or Arabic-Indic are no index


def check_visible_setting(setting: str) -> None:
    """Refuse a CUDA_VISIBLE_DEVICES entry that is neither an index nor a UUID (exit 2)."""
    for position, raw in enumerate(setting.split(",")):
        token = raw.strip(" \t")
        if token == "":
            continue  # "" hides every GPU; an empty entry ends the list like any unknown one
        if (_INDEX.match(token) or token.startswith(("GPU-", "MIG-"))) and token.isascii():
            continue
        raise ConstraintsGenError(
            f"CUDA_VISIBLE_DEVICES={setting!r}: entry {position + 1} ({token!r}) is not a GPU"
            " index (ASCII digits, -1 to end the list) or a GPU-/MIG- UUID",
            tip="fix or unset CUDA_VISIBLE_DEVICES (e.g. CUDA_VISIBLE_DEVICES=0,1), or pass"
            " --hardware FILE / --profile NAME",
        )


def filter_visible(
    gpus: Sequence[Gpu], setting: str | None, mig_uuids: Mapping[int, Sequence[str]] | None = None
) -> tuple[Gpu, ...]:
    """Apply ``CUDA_VISIBLE_DEVICES`` as CUDA does: indices or UUID prefixes, comma-separated,
    in the given order; the list ends at the first entry that names no GPU. A ``MIG-`` entry
    selects the physical GPU that holds that MIG instance (its compute capability is the GPU's).
    An entry that is neither an ASCII index nor a UUID is refused: see check_visible_setting."""
    if setting is None:
        return tuple(gpus)
    check_visible_setting(setting)
    chosen: list[Gpu] = []
    for token in (part.strip(" \t") for part in setting.split(",")):
        match = _match(gpus, token, mig_uuids or {})
        if match is None or match in chosen:
            break
        chosen.append(match)
    return tuple(chosen)


def _match(gpus: Sequence[Gpu], token: str, mig_uuids: Mapping[int, Sequence[str]]) -> Gpu | None:
    if _INDEX.match(token):
        index = int(token)
        return next((gpu for gpu in gpus if gpu.index == index), None)
    if token.startswith("GPU-"):
        hits = [gpu for gpu in gpus if gpu.uuid and gpu.uuid.startswith(token)]
    elif token.startswith("MIG-"):
        hits = [g for g in gpus if any(u.startswith(token) for u in mig_uuids.get(g.index, ()))]
        if not hits and not any(mig_uuids.values()):  # instances unreadable: the only MIG GPU
            hits = [gpu for gpu in gpus if gpu.mig_enabled]
    else:
        return None
    return hits[0] if len(hits) == 1 else None


def detect_nvidia(
    module: ModuleType | None = None, environ: Mapping[str, str] | None = None
) -> NvmlReadout | str:
    """:func:`read`, then CUDA_VISIBLE_DEVICES applied (``environ``: default ``os.environ``).

    A string is why this is no NVIDIA machine: no library, no driver, no device, or
    CUDA_VISIBLE_DEVICES hiding every GPU."""
    import os

    readout = read(module)
    if isinstance(readout, str):
        return readout
    setting = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    visible = filter_visible(readout.all_gpus, setting, dict(readout.mig_uuids))
    if not visible:
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    return replace(readout, gpus=visible)
