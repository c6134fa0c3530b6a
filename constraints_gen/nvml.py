"""Kept for imports of the old module: NVML detection is in :mod:`constraints_gen.detect.nvml`."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from constraints_gen.detect.nvml import NvmlError, cuda_version_text, filter_visible
from constraints_gen.hardware import Hardware

__all__ = ["NvmlError", "cuda_version_text", "detect", "filter_visible"]


def detect(module: ModuleType | None = None, environ: Mapping[str, str] | None = None) -> Hardware:
    """This machine's readout (every probe; see :func:`constraints_gen.detect.detect`)."""
    from constraints_gen.detect import detect as detect_machine

    return detect_machine(nvml_module=module, environ=environ).hardware
