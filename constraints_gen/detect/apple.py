"""Apple Silicon: the GPU that every arm64 Mac has, used by PyTorch through MPS.

The chip's name (``Apple M3 Max``) is ``sysctl -n machdep.cpu.brand_string`` and the unified
memory ``sysctl -n hw.memsize`` bytes (sysctl(8) on macOS; the ``hw.memsize`` and
``machdep.cpu.brand_string`` names are in ``<sys/sysctl.h>``). The GPU is reported even when
sysctl cannot be read: a Mac on arm64 always has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from constraints_gen.detect.found import Found
from constraints_gen.detect.hardware import Gpu, is_plain_text

#: Runs a command and returns its stdout; raises on failure (default: the one runner wrapper).
Run = Callable[[Sequence[str]], str]


def default_run(args: Sequence[str]) -> str:
    from constraints_gen import runner

    return runner.run(list(args)).stdout


def sysctl(name: str, run: Run) -> str | None:
    try:
        value = run(["sysctl", "-n", name]).strip()
    except Exception:  # ToolError, or anything a stand-in raises
        return None
    return value or None


def detect(run: Run | None = None) -> Found:
    run = run or default_run
    brand = sysctl("machdep.cpu.brand_string", run)
    memsize = sysctl("hw.memsize", run)
    notes = []
    name = brand if brand and is_plain_text(brand) and brand.startswith("Apple") else None
    if name is None:
        notes.append(f"sysctl machdep.cpu.brand_string gave {brand!r}: chip name unknown")
    memory = (
        int(memsize) // (1024 * 1024)
        if memsize and memsize.isascii() and memsize.isdigit()
        else None
    )
    gpu = Gpu(index=0, vendor="apple", name=name or "Apple Silicon", memory_mib=memory)
    return Found(gpus=(gpu,), notes=tuple(notes))


def macos_version(run: Run | None = None) -> str | None:
    """``kern.osproductversion`` (``"14.5"``): the real version where Python reports ``10.16``
    (a Python built against an old SDK sees the compatibility version on macOS 11 and later)."""
    return sysctl("kern.osproductversion", run or default_run)
