"""Jetson (Tegra): the L4T release and the module, from files; NVML may be missing there.

``/etc/nv_tegra_release`` starts ``# R36 (release), REVISION: 4.3, ...`` = L4T 36.4.3 (JetPack
6.2); ``/proc/device-tree/model`` names the module (``NVIDIA Jetson AGX Orin Developer Kit``).
Compute capabilities (NVIDIA, "CUDA GPUs - Compute Capability", developer.nvidia.com/cuda-gpus):
Orin 8.7, Xavier 7.2, TX2 6.2, Nano and TX1 5.3; Thor 11.0 (CUDA 13.0 release notes: Thor is
``sm_110``, renamed from ``sm_101``). Memory is shared with the CPU: MemTotal of /proc/meminfo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from constraints_gen.detect.found import Found, key_values, read_text
from constraints_gen.detect.hardware import Gpu, is_plain_text

RELEASE = Path("etc/nv_tegra_release")
MODEL = Path("proc/device-tree/model")
MEMINFO = Path("proc/meminfo")
_RELEASE = re.compile(r"^# R(\d+) \(release\), REVISION: (\d+)\.(\d+)")
#: Module family (a word of the model name) -> compute capability. Order matters: "Orin Nano"
#: is an Orin, so Orin is tried before Nano.
FAMILIES: tuple[tuple[str, tuple[int, int]], ...] = (
    ("Thor", (11, 0)),
    ("Orin", (8, 7)),
    ("Xavier", (7, 2)),
    ("TX2", (6, 2)),
    ("TX1", (5, 3)),
    ("Nano", (5, 3)),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Jetson:
    l4t: str | None  # "36.4.3"; None when this is no Jetson
    found: Found


def l4t_release(first_line: str) -> str | None:
    """``# R36 (release), REVISION: 4.3, GCID: ...`` -> ``"36.4.3"``."""
    match = _RELEASE.match(first_line.strip())
    return f"{match[1]}.{match[2]}.{match[3]}" if match else None


def detect(root: Path = Path("/")) -> Jetson:
    text = read_text(root / RELEASE)
    if text is None:
        return Jetson(l4t=None, found=Found(absent="not a Jetson (no /etc/nv_tegra_release)"))
    first = text.splitlines()[0] if text.strip() else ""
    l4t = l4t_release(first)
    if l4t is None:
        problem = (
            f"/etc/nv_tegra_release: first line {first[:80]!r} is not like"
            " '# R36 (release), REVISION: 4.3'"
        )
        return Jetson(l4t=None, found=Found(problems=(problem,)))
    model = (read_text(root / MODEL) or "").replace("\x00", "").strip()
    if not is_plain_text(model):
        model = ""
    cc = next((cc for word, cc in FAMILIES if re.search(rf"\b{word}\b", model)), None)
    if cc is None:
        known = ", ".join(word for word, _ in FAMILIES)
        problem = (
            f"Jetson L4T {l4t}: module {model[:80]!r} (/proc/device-tree/model) is not a {known}"
        )
        return Jetson(l4t=l4t, found=Found(problems=(problem,)))
    gpu = Gpu(index=0, name=model, compute_capability=cc, memory_mib=_memory_mib(root))
    return Jetson(l4t=l4t, found=Found(gpus=(gpu,)))


def _memory_mib(root: Path) -> int | None:
    total = key_values((read_text(root / MEMINFO) or "").replace(":", " ")).get("MemTotal", "")
    number = total.split()[0] if total.split() else ""
    return int(number) // 1024 if number.isascii() and number.isdigit() else None
