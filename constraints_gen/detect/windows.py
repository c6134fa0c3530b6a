"""Intel and AMD display adapters on Windows, from the registry (no WMI, no subprocess).

Every display adapter Plug and Play installed has a subkey (``0000``, ``0001``, ...) under the
display device class ``GUID_DEVCLASS_DISPLAY`` {4d36e968-e325-11ce-bfc1-08002be10318}
(Microsoft, "System-Defined Device Setup Classes Available to Vendors"), holding the driver's
``MatchingDeviceId`` (``pci\\ven_8086&dev_56a0``) and ``DriverDesc`` (the adapter's name).

NVIDIA GPUs come from NVML; this probe adds the others:

- Intel: discrete GPUs only, told by their PCI device ids (Linux ``include/drm/intel/pciids.h``:
  DG2/Alchemist Arc A-series, Arc Pro and Flex are 0x56xx, Battlemage Arc B-series 0xe2xx);
  an integrated Intel GPU is left out with a note, as on Linux (XPU builds target discrete GPUs).
- AMD: no ROCm build of torch runs on Windows, so an AMD adapter is a note, not a GPU: the
  machine gets a CPU build, and the readout says why.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from constraints_gen.detect.found import Found
from constraints_gen.detect.hardware import Gpu

DISPLAY_CLASS = r"SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}"
_PCI_ID = re.compile(r"pci\\ven_([0-9a-f]{4})&dev_([0-9a-f]{4})", re.IGNORECASE)
#: Device id prefixes of Intel's discrete GPUs (DG2 0x56xx, Battlemage 0xe2xx).
INTEL_DISCRETE = ("56", "e2")
MAX_ADAPTERS = 64


def detect(winreg: ModuleType | Any | None = None) -> Found:
    """The Intel and AMD adapters in the registry (``winreg`` is injectable for tests)."""
    if winreg is None:
        import winreg as winreg_module

        winreg = winreg_module
    try:
        display = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, DISPLAY_CLASS)
    except OSError as exc:
        return Found(problems=(f"the display adapter class in the registry: {exc}",))
    gpus: list[Gpu] = []
    notes: list[str] = []
    for number in range(MAX_ADAPTERS):
        try:
            name = winreg.EnumKey(display, number)
        except OSError:  # no more subkeys
            break
        if not name.isdigit():  # "Properties", "Configuration": not adapters
            continue
        try:
            adapter = winreg.OpenKey(display, name)
            matching = str(winreg.QueryValueEx(adapter, "MatchingDeviceId")[0])
            description = str(winreg.QueryValueEx(adapter, "DriverDesc")[0])
        except OSError:  # an adapter with no driver installed: nothing runs on it
            continue
        match = _PCI_ID.search(matching)
        if match is None:
            continue
        vendor, device = match[1].lower(), match[2].lower()
        if vendor == "8086":
            pci_id = f"8086:{device}"
            if device.startswith(INTEL_DISCRETE):
                gpus.append(Gpu(index=len(gpus), vendor="intel", name=description, pci_id=pci_id))
            else:
                notes.append(
                    f"integrated Intel GPU {pci_id} ({description}) left out (XPU builds target"
                    " discrete GPUs; use --hardware or --profile to use it)"
                )
        elif vendor == "1002":
            notes.append(f"AMD GPU {description} left out: no ROCm build of torch runs on Windows")
    return Found(
        gpus=tuple(gpus),
        absent=None if gpus else "no Intel discrete GPU in the registry",
        notes=tuple(notes),
    )
