"""What verify reports: one finding per failure, the report (and what the environment state
keeps of it), and the exact-version rule every check uses.

Imports nothing beyond the standard library at module level: the report of an unchanged
environment is built without loading the verify machinery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(installed)) == str(Version(locked))
    except InvalidVersion:
        return installed == locked


def local_label(version: str) -> str | None:
    """``"2.5.1+cu121"`` -> ``"cu121"``; None without one (or for an invalid version)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version).local
    except InvalidVersion:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    profile: str
    python: str
    environment: str
    packages: int  # locked distributions checked
    files: int | None  # files hashed; None: not deep
    imports: tuple[str, ...]
    gpus: tuple[str, ...]  # the GPUs checked
    notices: tuple[str, ...]
    findings: tuple[Finding, ...]
    #: what was checked: "full" (no state used), "unchanged" (the state held: no probe ran), or
    #: "N of M distributions hashed" (some changed)
    rechecked: str = "full"

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def repairable(self) -> tuple[str, ...]:
        return tuple(sorted({f.repair for f in self.findings if f.repair is not None}))

    def summary(self) -> str:
        parts = [f"{self.packages} packages at their locked versions"]
        if self.files is not None:
            parts.append(f"{self.files} files match their RECORD")
        parts.append(f"{len(self.imports)} imports")
        if self.gpus:
            parts.append(f"torch runs on {', '.join(self.gpus)}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "profile": self.profile,
            "python": self.python,
            "environment": self.environment,
            "verified": self.ok,
            "packages": self.packages,
            "files": self.files,
            "imports": list(self.imports),
            "gpus": list(self.gpus),
            "notices": list(self.notices),
            "failures": [finding.to_json() for finding in self.findings],
        }


def report_summary(report: Report) -> dict[str, Any]:
    """What the environment state keeps of a passing report (see :func:`from_summary`)."""
    return {
        "packages": report.packages,
        "files": report.files,
        "imports": list(report.imports),
        "gpus": list(report.gpus),
        "notices": list(report.notices),
    }


def from_summary(profile: str, python: Path, version: str, summary: Any) -> Report | None:
    """The report of a verify that found nothing changed since the one ``summary`` stands for."""
    try:
        return Report(
            profile=profile,
            python=version,
            environment=str(python),
            packages=int(summary["packages"]),
            files=None if summary["files"] is None else int(summary["files"]),
            imports=tuple(str(m) for m in summary["imports"]),
            gpus=tuple(str(g) for g in summary["gpus"]),
            notices=tuple(str(n) for n in summary["notices"]),
            findings=(),
            rechecked="unchanged",
        )
    except (KeyError, TypeError, ValueError):
        return None
