"""What verify reports: one finding per failure, and the exact-version rule every check uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    check: str  # "installed", "files", "import" or "gpu"
    subject: str  # the distribution, module or GPU it is about
    message: str
    repair: str | None = None  # a distribution whose reinstall repairs it

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "subject": self.subject,
            "message": self.message,
            "repair": self.repair,
        }


def same_version(installed: str, locked: str) -> bool:
    """Exactly the same version: normalized full strings, local labels included."""
    try:
        return str(Version(installed)) == str(Version(locked))
    except InvalidVersion:
        return installed == locked


def local_label(version: str) -> str | None:
    """``"2.5.1+cu121"`` -> ``"cu121"``; None without one (or for an invalid version)."""
    try:
        return Version(version).local
    except InvalidVersion:
        return None
