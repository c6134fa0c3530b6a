"""What one probe found: its GPUs, notes for people, and problems (a probe that failed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from constraints_gen.detect.hardware import Gpu

#: sysfs and procfs files are small; a bigger one is not what a probe expects.
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    gpus: tuple[Gpu, ...] = ()
    #: Why nothing was found ("no AMD KFD topology"): told only on a machine with no GPU.
    absent: str | None = None
    #: What was left out on purpose or read with a caveat (an integrated GPU, an override).
    notes: tuple[str, ...] = ()
    #: What a probe failed to read although it is there: never silently a CPU machine.
    problems: tuple[str, ...] = ()


def read_text(path: Path) -> str | None:
    """A small sysfs/procfs file's text, or None when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def key_values(text: str) -> dict[str, str]:
    """``key value`` lines (KFD ``properties`` files) as a mapping."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            pairs[key] = value.strip()
    return pairs
