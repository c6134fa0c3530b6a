"""Intel GPUs from PCI in sysfs: ``/sys/bus/pci/devices/*/{vendor,device,class}``.

An Intel GPU is a device with vendor ``0x8086`` and a display controller class ``0x03xxxx`` (PCI
Code and ID Assignment Specification, base class 03h; the rule uv's torch backend uses too).

Integrated GPUs are left out, with a note: the XPU builds are made for discrete GPUs (Arc A/B
series, Data Center GPU Flex and Max), and a laptop or desktop whose CPU has integrated graphics
would otherwise never be a CPU machine. Intel places its integrated graphics device at PCI bus 0,
device 2, function 0 (``0000:00:02.0``; Intel's processor datasheets, "Integrated Graphics
Device", and the kernel's i915/xe drivers address it there), discrete GPUs sit behind a PCIe port
on another bus. To use an integrated GPU with an XPU build anyway, pass a readout that lists it
(``--hardware FILE``) or name the profile (``--profile NAME``).

The name comes from the PCI ID database (``pci.ids``) where installed, else ``Intel GPU 8086:xxxx``.
The memory of a discrete card is not read: sysfs has no stable place for it across i915 and xe.
"""

from __future__ import annotations

from pathlib import Path

from constraints_gen.detect.found import Found, read_text
from constraints_gen.detect.hardware import Gpu, is_plain_text

DEVICES = Path("sys/bus/pci/devices")
PCI_IDS = (
    Path("usr/share/hwdata/pci.ids"),
    Path("usr/share/misc/pci.ids"),
    Path("usr/share/pci.ids"),
)
INTEGRATED_SLOT = "0000:00:02.0"


def _hex(text: str | None, digits: int) -> str | None:
    """``"0x56a0\n"`` -> ``"56a0"`` (lower case, exactly ``digits`` hex digits), else None."""
    value = (text or "").strip().lower()
    value = value[2:] if value.startswith("0x") else value
    ok = len(value) == digits and value.isascii() and all(c in "0123456789abcdef" for c in value)
    return value if ok else None


def detect(root: Path = Path("/")) -> Found:
    try:
        devices = sorted((root / DEVICES).iterdir(), key=lambda p: p.name)
    except OSError:
        return Found(absent="no PCI devices in sysfs")
    gpus: list[Gpu] = []
    notes: list[str] = []
    problems: list[str] = []
    for device in devices:
        if _hex(read_text(device / "vendor"), 4) != "8086":
            continue
        pci_class = _hex(read_text(device / "class"), 6)
        if pci_class is None or not pci_class.startswith("03"):
            continue
        device_id = _hex(read_text(device / "device"), 4)
        if device_id is None:
            problems.append(f"Intel display device {device.name}: unreadable PCI device id")
            continue
        pci_id = f"8086:{device_id}"
        if device.name == INTEGRATED_SLOT:
            notes.append(
                f"integrated Intel GPU {pci_id} at {device.name} left out (XPU builds target"
                " discrete GPUs; use --hardware or --profile to use it)"
            )
            continue
        gpus.append(
            Gpu(index=len(gpus), vendor="intel", name=_name(root, device_id), pci_id=pci_id)
        )
    return Found(
        gpus=tuple(gpus),
        absent=None if gpus else "no Intel GPU on PCI",
        notes=tuple(notes),
        problems=tuple(problems),
    )


def _name(root: Path, device_id: str) -> str:
    """``Intel DG2 [Arc A770]`` from pci.ids (vendor line ``8086  Intel Corporation``, then
    device lines ``\\t56a0  DG2 [Arc A770]``), else ``Intel GPU 8086:56a0``."""
    for relative in PCI_IDS:
        try:
            with (root / relative).open(encoding="utf-8", errors="replace") as handle:
                in_intel = False
                for line in handle:
                    if line.startswith("#"):
                        continue
                    if not line.startswith("\t"):
                        if in_intel:
                            break
                        in_intel = line.startswith("8086 ")
                    elif in_intel and line.startswith(f"\t{device_id} "):
                        full = f"Intel {line[len(device_id) + 1 :].strip()}"
                        return full if is_plain_text(full) else f"Intel GPU 8086:{device_id}"
        except OSError:
            continue
        break
    return f"Intel GPU 8086:{device_id}"
