"""AMD GPUs from the kernel's KFD topology in sysfs: no ROCm tools needed.

Each ``/sys/class/kfd/kfd/topology/nodes/<n>/properties`` holds ``key value`` lines; a GPU node's
``gfx_target_version`` is ``major*10000 + minor*100 + stepping`` (0 on CPU nodes) and its LLVM
target name is ``gfx{major}{minor:x}{stepping:x}`` (90010 -> gfx90a, 90402 -> gfx942, 110000 ->
gfx1100), as ROCR-Runtime reads it (libhsakmt ``topology.c``, ``hsaKmtGetNodeProperties``; the
runtime's ``isa.cpp`` names the ISA). ``mem_banks/<m>/properties`` give ``heap_type`` (1 and 2:
the frame buffer, public and private) and ``size_in_bytes``. GPUs are numbered in node order,
as HIP enumerates them.

The marketing name ("AMD Instinct MI300X") comes from libdrm's ``amdgpu.ids`` table (device id,
revision, name), which ROCm and Mesa read for the same purpose, else the device's
``product_name`` (read from the board's FRU), else the kernel's ASIC name in the node's ``name``.

``HSA_OVERRIDE_GFX_VERSION=10.3.0`` makes the ROCm runtime treat every GPU as that target
(gfx1030); as the installed build will see that target, it is what is reported (with a note).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from constraints_gen.detect.found import Found, key_values, read_text
from constraints_gen.detect.hardware import Gpu, is_plain_text

TOPOLOGY = Path("sys/class/kfd/kfd/topology/nodes")
#: Where libdrm keeps its table (distribution packages, then AMD's own packages).
AMDGPU_IDS = (
    Path("usr/share/libdrm/amdgpu.ids"),
    Path("opt/amdgpu/share/libdrm/amdgpu.ids"),
)
_FRAME_BUFFER = {"1", "2"}  # HSA_HEAPTYPE_FRAME_BUFFER_PUBLIC, HSA_HEAPTYPE_FRAME_BUFFER_PRIVATE
_OVERRIDE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def gfx_name(major: int, minor: int, stepping: int) -> str:
    """(9, 4, 2) -> "gfx942"; (9, 0, 10) -> "gfx90a"; (11, 0, 0) -> "gfx1100"."""
    return f"gfx{major}{minor:x}{stepping:x}"


def gfx_of_target_version(value: int) -> str:
    """KFD's ``gfx_target_version``: 90402 -> "gfx942", 90010 -> "gfx90a"."""
    return gfx_name(value // 10000, (value // 100) % 100, value % 100)


def _node_number(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else -1


def detect(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> Found:
    nodes_dir = root / TOPOLOGY
    try:
        nodes = sorted(
            (p for p in nodes_dir.iterdir() if p.name.isascii() and p.name.isdigit()),
            key=_node_number,
        )
    except OSError:
        return Found(absent="no AMD KFD topology (amdgpu driver not loaded)")
    override = _override(environ)
    gpus: list[Gpu] = []
    notes: list[str] = []
    problems: list[str] = []
    names: dict[tuple[int, int], str] | None = None
    for node in nodes:
        text = read_text(node / "properties")
        if text is None:
            # A GPU node the cgroup denies reads as EPERM: not usable in this container.
            notes.append(f"AMD KFD node {node.name}: properties not readable (skipped)")
            continue
        props = key_values(text)
        if props.get("simd_count", "0") == "0":
            continue  # a CPU node
        target = props.get("gfx_target_version")
        if target is None or not target.isascii() or not target.isdigit() or int(target) == 0:
            problems.append(
                f"AMD KFD node {node.name}: a GPU node without a gfx_target_version"
                f" ({target!r}); the kernel may be too old to report it"
            )
            continue
        gfx = gfx_of_target_version(int(target))
        if override is not None and override != gfx:
            notes.append(f"HSA_OVERRIDE_GFX_VERSION makes {gfx} (KFD node {node.name}) {override}")
            gfx = override
        if names is None:
            names = _amdgpu_ids(root)
        gpus.append(
            Gpu(
                index=len(gpus),
                vendor="amd",
                name=_name(root, node, props, names, gfx),
                gfx=gfx,
                memory_mib=_memory_mib(node),
            )
        )
    return Found(
        gpus=tuple(gpus),
        absent=None if gpus else "AMD KFD topology lists no GPU",
        notes=tuple(notes),
        problems=tuple(problems),
    )


def _override(environ: Mapping[str, str] | None) -> str | None:
    import os

    value = (os.environ if environ is None else environ).get("HSA_OVERRIDE_GFX_VERSION")
    match = _OVERRIDE.match(value.strip()) if value and value.isascii() else None
    return gfx_name(int(match[1]), int(match[2]), int(match[3])) if match else None


def _memory_mib(node: Path) -> int | None:
    total = 0
    try:
        banks = list((node / "mem_banks").iterdir())
    except OSError:
        return None
    for bank in banks:
        props = key_values(read_text(bank / "properties") or "")
        size = props.get("size_in_bytes", "")
        if props.get("heap_type") in _FRAME_BUFFER and size.isascii() and size.isdigit():
            total += int(size)
    return total // (1024 * 1024) if total else None  # an APU has no frame buffer of its own


def _amdgpu_ids(root: Path) -> dict[tuple[int, int], str]:
    """libdrm's ``amdgpu.ids``: lines ``74A1,\t00,\tAMD Instinct MI300X`` (hex id, hex revision)."""
    for relative in AMDGPU_IDS:
        text = read_text(root / relative)
        if text is None:
            continue
        table: dict[tuple[int, int], str] = {}
        for line in text.splitlines():
            parts = [part.strip() for part in line.split(",", 2)]
            if len(parts) == 3 and not line.startswith("#"):
                try:
                    table[(int(parts[0], 16), int(parts[1], 16))] = parts[2]
                except ValueError:
                    continue
        return table
    return {}


def _name(
    root: Path, node: Path, props: Mapping[str, str], names: Mapping[tuple[int, int], str], gfx: str
) -> str:
    device_id = _int(props.get("device_id"))
    device = root / "sys/class/drm" / f"renderD{props.get('drm_render_minor', '')}" / "device"
    if device_id is not None:
        revision = _int((read_text(device / "revision") or "").strip(), base=16)
        known = names.get((device_id, revision)) if revision is not None else None
        if known and is_plain_text(known):
            return known
        same_device = [name for (dev, _rev), name in names.items() if dev == device_id]
        if same_device and len(set(same_device)) == 1 and is_plain_text(same_device[0]):
            return same_device[0]
    product = (read_text(device / "product_name") or "").strip()
    if product and is_plain_text(product):
        return product
    asic = (read_text(node / "name") or "").strip()
    return f"AMD {asic} ({gfx})" if asic and is_plain_text(asic[:100]) else f"AMD GPU ({gfx})"


def _int(text: str | None, base: int = 10) -> int | None:
    if not text or not text.isascii():
        return None
    try:
        return int(text, base)
    except ValueError:
        return None
