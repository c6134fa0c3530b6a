"""The generated files: their header and fingerprint, the hashed lock, and ``constraints.txt``.

Every generated file starts with::

    # constraints_gen 0.1.0: profile cuda130, CPython 3.11, x86_64-manylinux_2_28. Do not edit.
    # Regenerate: gen-constraints lock cuda130
    # Inputs: cuda130.toml@<12 hex> llm-stack.toml@<12 hex> manifest.toml@<12 hex>
    # Fingerprint: sha256:<hex of the canonical inputs and the tool version>

Digests are of the parsed TOML (comments and layout do not count). The per-input digests only
serve to explain why a lock is stale; the fingerprint decides. No timestamps: the same inputs give
byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from constraints_gen import __version__
from constraints_gen.manifest import Manifest
from constraints_gen.names import canonical_name
from constraints_gen.profiles import Profile

#: Bumped when the layout of generated files changes.
FORMAT = 2
_FINGERPRINT = re.compile(r"^# Fingerprint: (sha256:[0-9a-f]{64})$", re.MULTILINE)
_TOOL = re.compile(r"^# constraints_gen (\S+):")
_INPUTS = re.compile(r"^# Inputs: (.*)$", re.MULTILINE)
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;[^\\]*)?\s*\\?$")


def fingerprint(profile: Profile, manifest: Manifest, python: str) -> str:
    """A digest of everything a lock depends on; any change makes the lock stale."""
    payload = {
        "format": FORMAT,
        "tool": __version__,
        "profile": [[name, data] for name, data in profile.inputs],
        "manifest": manifest.data,
        "python": python,
        "platform": profile.platform,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _digest(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def input_digests(profile: Profile, manifest: Manifest) -> dict[str, str]:
    """File name -> short digest of its parsed data: the profile, its parents, the manifest."""
    digests = {name: _digest(data) for name, data in profile.inputs}
    digests[manifest.path.name] = _digest(manifest.data)
    return digests


def header(profile: Profile, manifest: Manifest, python: str, command: str) -> str:
    inputs = " ".join(
        f"{name}@{digest}" for name, digest in input_digests(profile, manifest).items()
    )
    return (
        f"# constraints_gen {__version__}: profile {profile.name}, CPython {python},"
        f" {profile.platform}. Do not edit.\n"
        f"# Regenerate: {command}\n"
        f"# Inputs: {inputs}\n"
        f"# Fingerprint: {fingerprint(profile, manifest, python)}\n"
    )


def read_fingerprint(text: str) -> str | None:
    match = _FINGERPRINT.search(text[:2000])
    return match[1] if match else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    name: str  # canonical
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]  # uv's annotation: "-r manifest.in", "-c pins.txt", package names


def parse_lock(text: str) -> tuple[LockedPackage, ...]:
    """Parse a hashed requirements lock as uv writes it (``--annotation-style line``)."""
    packages: list[LockedPackage] = []
    name = version = None
    hashes: list[str] = []
    via: list[str] = []

    def flush() -> None:
        if name is not None and version is not None:
            packages.append(
                LockedPackage(name=name, version=version, hashes=tuple(hashes), via=tuple(via))
            )

    for line in text.splitlines():
        stripped = line.strip()
        if not line.startswith((" ", "#")) and (match := _ENTRY.match(stripped)):
            flush()
            name, version = canonical_name(match[1]), match[2]
            hashes, via = [], []
        elif stripped.startswith("--hash="):
            hashes.append(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif stripped.startswith("# via ") and name is not None:
            via.extend(part.strip() for part in stripped.removeprefix("# via ").split(","))
    flush()
    return tuple(packages)


def source_of(package: LockedPackage, profile: Profile, manifest: Manifest) -> str:
    """Where a locked version came from, for the annotation in constraints.txt."""
    pin = profile.pin(package.name)
    if pin is not None:
        kind = "profile override" if pin.override else "profile pin"
        return f"{kind} ({pin.origin.name})"
    req = manifest.get(package.name)
    if req is not None:
        return f"manifest range {req.specifier or '(any)'}"
    parents = sorted(v for v in package.via if not v.startswith("-"))
    return "dependency of " + ", ".join(parents) if parents else "dependency"


def render_constraints(
    packages: tuple[LockedPackage, ...], profile: Profile, manifest: Manifest, head: str
) -> str:
    lines = [head.rstrip("\n")]
    width = max((len(p.name) + len(p.version) + 2 for p in packages), default=0)
    for package in sorted(packages, key=lambda p: p.name):
        pin = f"{package.name}=={package.version}"
        lines.append(f"{pin:<{width}}  # {source_of(package, profile, manifest)}")
    return "\n".join(lines) + "\n"


def stale_reasons(text: str, profile: Profile, manifest: Manifest, python: str) -> list[str]:
    """Why a generated file's header does not match its inputs now (empty: it is fresh)."""
    head = text[:2000]
    if read_fingerprint(head) == fingerprint(profile, manifest, python):
        return []
    reasons: list[str] = []
    tool = _TOOL.match(head)
    if tool is None or read_fingerprint(head) is None:
        return ["it has no constraints_gen header"]
    if tool[1] != __version__:
        reasons.append(f"it was made by constraints_gen {tool[1]}, this is {__version__}")
    recorded = _INPUTS.search(head)
    old = dict(part.partition("@")[::2] for part in (recorded[1].split() if recorded else ()))
    if not any(old.values()):
        return [*reasons, "it was written in an older lock format"]
    roles = {profile.path.name: "profile", manifest.path.name: "manifest"}
    for name, digest in input_digests(profile, manifest).items():
        role = roles.get(name, "parent profile")
        if name not in old:
            reasons.append(f"it did not read {role} {name}")
        elif old[name] != digest:
            reasons.append(f"{role} {name} changed")
    reasons += [
        f"it read {name}, which is no longer an input"
        for name in old
        if name not in roles and name not in dict(profile.inputs)
    ]
    return reasons or ["its fingerprint does not match (edited by hand?)"]


def lock_is_fresh(path: Path, expected: str) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return read_fingerprint(handle.read(2000)) == expected
    except OSError:
        return False
