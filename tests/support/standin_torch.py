"""A stand-in ``torch`` wheel whose backends answer from $STANDIN_TORCH (JSON), read at import.

It has the surface verify's GPU probe uses, for every vendor: ``torch.version`` (``cuda``,
``hip``, and ``rocm`` only when the config names it, as older torch has none), ``torch.cuda``
(CUDA and ROCm: ``is_available``, ``get_arch_list``, ``device_count``, ``get_device_name``,
``get_device_capability``, ``get_device_properties(i).gcnArchName``, ``synchronize``),
``torch.xpu``, ``torch.backends.mps`` and ``torch.mps``, and ``torch.ones(n, device=...)``, which
raises the device's ``error`` when it has one. Keys (defaults: an H200 with CUDA 12.1):

``version``, ``cuda``, ``hip``, ``rocm``, ``available``, ``built`` (MPS), ``warning`` (raised by
``is_available``), ``arch_list``, ``devices``: ``[{"name", "cc": [9, 0], "gfx": "gfx942",
"error"}]``.
"""

from __future__ import annotations

from pathlib import Path

from .wheels import build_wheel

__all__ = ["FILES", "build_standin_torch"]

_STANDIN = """\
import json
import os
import warnings

CONFIG = json.loads(os.environ.get("STANDIN_TORCH", "{}"))
DEVICES = CONFIG.get("devices", [{"name": "NVIDIA H200", "cc": [9, 0]}])


def is_available():
    if CONFIG.get("warning"):
        warnings.warn(CONFIG["warning"])
    return CONFIG.get("available", True)


def run(index):
    error = DEVICES[index].get("error")
    if error:
        raise RuntimeError(error)
"""

_INIT = """\
from torch import backends, cuda, mps, version, xpu
from torch._standin import CONFIG as _CONFIG

__version__ = _CONFIG.get("version", "2.5.1+cu121")


class _Tensor:
    def __init__(self, values):
        self.values = values

    def __add__(self, other):
        return _Tensor([value + other for value in self.values])

    def sum(self):
        return _Tensor([sum(self.values)])

    def item(self):
        return self.values[0]


def ones(n, device=None):
    kind, _, index = str(device).partition(":")
    {"cuda": cuda, "xpu": xpu, "mps": mps}[kind]._run(int(index or 0))
    return _Tensor([1.0] * n)
"""

_CUDA = """\
from types import SimpleNamespace

from torch._standin import CONFIG, DEVICES, is_available
from torch._standin import run as _run


def get_arch_list():
    return CONFIG.get("arch_list", ["sm_80", "sm_86", "sm_90"])


def device_count():
    return len(DEVICES)


def get_device_name(index):
    return DEVICES[index]["name"]


def get_device_capability(index):
    return tuple(DEVICES[index].get("cc", [9, 4]))


def get_device_properties(index):
    return SimpleNamespace(gcnArchName=DEVICES[index].get("gfx"))


def synchronize(index=None):
    pass
"""

_XPU = """\
from torch._standin import DEVICES, is_available
from torch._standin import run as _run


def device_count():
    return len(DEVICES)


def get_device_name(index):
    return DEVICES[index]["name"]


def synchronize(index=None):
    pass
"""

_MPS = """\
from torch._standin import run as _run


def synchronize():
    pass
"""

_BACKENDS_MPS = """\
from torch._standin import CONFIG, is_available


def is_built():
    return CONFIG.get("built", True)
"""

_VERSION = """\
from torch._standin import CONFIG

cuda = CONFIG.get("cuda", "12.1")
hip = CONFIG.get("hip")
if "rocm" in CONFIG:
    rocm = CONFIG["rocm"]
"""

FILES = {
    "torch/__init__.py": _INIT,
    "torch/_standin.py": _STANDIN,
    "torch/cuda.py": _CUDA,
    "torch/xpu.py": _XPU,
    "torch/mps.py": _MPS,
    "torch/backends/__init__.py": "from torch.backends import mps\n",
    "torch/backends/mps.py": _BACKENDS_MPS,
    "torch/version.py": _VERSION,
}


def build_standin_torch(dest: Path, version: str, *, tag: str = "py3-none-any") -> Path:
    """The stand-in torch wheel at ``version`` (as its METADATA says) in ``dest``."""
    return build_wheel(dest, "torch", version, tag=tag, files=FILES)
