"""Verify an environment against its lock: what is installed, that it imports, that torch runs.

Facts are read IN THE TARGET interpreter by :mod:`constraints_gen.install.probe` (run with
``python -I``, so neither this tool's nor the current folder's modules leak in); the comparison
here is pure. Three checks, each listing every failure:

- installed: each locked distribution is installed once, at exactly the locked version (the full
  METADATA ``Version`` string, local label included: ``2.5.1+cu121`` is not ``2.5.1+cu124``; PyPI's
  torch wheels carry no label in METADATA, and neither does their lock entry), and with ``deep``
  every file of its RECORD has the recorded size and sha256. A sync killed mid-install leaves such
  a half-written package behind, which uv still counts as installed; ``sync`` reinstalls it.
- imports: the profile's ``[verify] imports``, else the top-level modules (``top_level.txt``, else
  RECORD) of the stack it pins (its pins and the manifest's requirements).
- gpu (an NVIDIA profile on a machine with a GPU): torch's version and ``torch.version.cuda`` are
  the profile's, ``torch.cuda.get_arch_list()`` has code for every GPU torch sees, with the rule
  profile selection uses (NVIDIA's CUDA compatibility guide: SASS ``sm_XY`` runs on compute
  capability X.Z with Z >= Y of the same major; PTX ``compute_XY`` is JIT-compiled for any newer
  GPU; the ``a`` variants only run on exactly X.Y), and one tiny operation runs on each of them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from constraints_gen import runner
from constraints_gen.detect.hardware import Hardware
from constraints_gen.errors import ConstraintsGenError, ToolError
from constraints_gen.locks.file import LockedPackage
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.model import Profile

#: How many differing files are named per package (the JSON lists all of them).
SHOWN_FILES = 5
_ANY_EXIT = tuple(range(-128, 256))  # the runtime probe may crash: that is a finding
_ARCH = re.compile(r"^(sm|compute)_(\d+)(\d)([af]?)$")
_PROBE = Path(__file__).with_name("probe.py")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class BadFile:
    path: str
    problem: str  # "missing", "size", "hash" or "unreadable"
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        if self.problem == "missing":
            return f"{self.path} (missing)"
        if self.problem == "size":
            return f"{self.path} ({self.actual} bytes, RECORD says {self.expected})"
        if self.problem == "hash":
            return f"{self.path} (sha256 differs from RECORD)"
        return f"{self.path} (unreadable: {self.actual})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Installed:
    name: str  # canonical
    version: str  # METADATA Version, as written
    location: str  # its .dist-info folder
    top_level: tuple[str, ...] | None
    roots: tuple[str, ...]  # first component of each RECORD path; "x/" for a folder
    has_record: bool
    checked: int  # files hashed (0 without deep)
    bad: tuple[BadFile, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    index: int
    name: str
    capability: tuple[int, int]
    op_error: str | None

    @property
    def label(self) -> str:
        cc = f"{self.capability[0]}.{self.capability[1]}"
        return f"GPU {self.index} {self.name} (compute capability {cc})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchInfo:
    error: str | None  # import torch (or a query) failed
    version: str = ""
    cuda: str | None = None
    available: bool = False
    warnings: tuple[str, ...] = ()
    arch_list: tuple[str, ...] = ()
    devices: tuple[Device, ...] = ()
    visible_devices: str | None = None


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


# --- pure comparison -----------------------------------------------------------------------


def same_version(installed: str, locked: str) -> bool:
    """Exactly the same version: normalized full strings, local labels included."""
    try:
        return str(Version(installed)) == str(Version(locked))
    except InvalidVersion:
        return installed == locked


def _local(version: str) -> str | None:
    try:
        return Version(version).local
    except InvalidVersion:
        return None


def check_installed(
    locked: Sequence[LockedPackage], found: Sequence[Installed], *, deep: bool
) -> tuple[Finding, ...]:
    """Each locked distribution: installed once, at its exact version, and its files intact."""
    by_name: dict[str, list[Installed]] = {}
    for dist in found:
        by_name.setdefault(dist.name, []).append(dist)
    findings: list[Finding] = []
    for package in locked:
        name, want = package.name, package.version
        dists = by_name.get(name, [])
        if not dists:
            message = f"{name} {want} is not installed"
            findings.append(Finding(check="installed", subject=name, message=message, repair=name))
            continue
        if len(dists) > 1:
            where = "; ".join(f"{d.version} in {d.location}" for d in sorted(dists, key=str))
            message = f"{name} is installed {len(dists)} times ({where}); locked {want}"
            findings.append(Finding(check="installed", subject=name, message=message, repair=name))
            continue
        dist = dists[0]
        if not same_version(dist.version, want):
            message = f"{name} {dist.version} is installed, {want} is locked"
            have, need = _local(dist.version), _local(want)
            if have != need and same_version(dist.version.split("+")[0], want.split("+")[0]):
                message += f" (local labels differ: {have or 'none'} vs {need or 'none'})"
            findings.append(Finding(check="installed", subject=name, message=message, repair=name))
            continue
        if not deep:
            continue
        if not dist.has_record:
            message = f"{name} {want}: no RECORD in {dist.location}, so its files cannot be checked"
            findings.append(Finding(check="files", subject=name, message=message, repair=name))
        elif dist.bad:
            shown = ", ".join(bad.describe() for bad in dist.bad[:SHOWN_FILES])
            more = len(dist.bad) - SHOWN_FILES
            message = (
                f"{name} {want}: {len(dist.bad)} of {dist.checked} files differ from its RECORD"
                f" ({dist.location}): {shown}" + (f" and {more} more" if more > 0 else "")
            )
            findings.append(Finding(check="files", subject=name, message=message, repair=name))
    return tuple(findings)


def top_level_modules(dist: Installed) -> tuple[str, ...]:
    """The public top-level modules of a distribution: ``top_level.txt``, else from RECORD."""
    if dist.top_level is not None:
        names = list(dist.top_level)
    else:
        names = []
        for root in dist.roots:
            if root.endswith("/"):
                names.append(root[:-1])
            elif root.endswith((".py", ".so", ".pyd")):
                names.append(root.split(".", 1)[0])
    return tuple(
        dict.fromkeys(name for name in names if name.isidentifier() and not name.startswith("_"))
    )


def default_imports(
    profile: Profile, manifest: Manifest, found: Sequence[Installed]
) -> tuple[str, ...]:
    """The top-level modules of the stack the profile pins (its pins and the manifest's)."""
    stack = {pin.name for pin in profile.pins} | {req.name for req in manifest.requirements}
    modules: list[str] = []
    for dist in sorted(found, key=lambda d: d.name):
        if dist.name in stack:
            modules += top_level_modules(dist)
    return tuple(dict.fromkeys(modules))


def check_imports(results: Sequence[tuple[str, str | None]]) -> tuple[Finding, ...]:
    return tuple(
        Finding(check="import", subject=module, message=f"import {module} failed: {error}")
        for module, error in results
        if error is not None
    )


def parse_arch(arch: str) -> tuple[str, tuple[int, int], str] | None:
    """``"sm_90a"`` -> ``("sm", (9, 0), "a")``; None when it is not an architecture name."""
    match = _ARCH.match(arch)
    if match is None:
        return None
    return match[1], (int(match[2]), int(match[3])), match[4]


def arch_covers(arch_list: Sequence[str], capability: tuple[int, int]) -> str | None:
    """The entry of torch's arch list that a GPU of ``capability`` runs (the newest machine code,
    else the newest PTX); None: none of them."""
    fitting: list[tuple[bool, tuple[int, int], str]] = []
    for arch in arch_list:
        parsed = parse_arch(arch)
        if parsed is None:
            continue
        kind, (major, minor), variant = parsed
        if variant == "a":  # architecture-specific features: only exactly this GPU
            fits = (major, minor) == capability
        elif kind == "sm" or variant == "f":  # SASS (or a family): same major, same or newer minor
            fits = major == capability[0] and minor <= capability[1]
        else:  # PTX: JIT-compiled by the driver for any newer GPU
            fits = (major, minor) <= capability
        if fits:
            fitting.append((kind == "sm", (major, minor), arch))
    return max(fitting)[2] if fitting else None


def _cuda_of(text: str | None) -> tuple[int, int] | None:
    parts = (text or "").split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


def check_gpu(
    profile: Profile, locked_torch: str | None, hardware: Hardware, torch: TorchInfo
) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """(failures, the GPUs that passed) of torch in the target on this machine's GPUs."""
    if torch.error is not None:
        return (Finding(check="gpu", subject="torch", message=f"torch: {torch.error}"),), ()
    findings: list[Finding] = []

    def fail(subject: str, message: str) -> None:
        findings.append(Finding(check="gpu", subject=subject, message=message))

    tv = torch.version
    if locked_torch is not None:
        public_ok = same_version(tv.split("+")[0], locked_torch.split("+")[0])
        local = _local(locked_torch)
        if not public_ok or (local is not None and _local(tv) != local):
            fail("torch", f"torch.__version__ is {tv}, the lock has torch {locked_torch}")
    if profile.cuda is not None and _cuda_of(torch.cuda) != profile.cuda:
        built = "a CPU build" if torch.cuda is None else f"built for CUDA {torch.cuda}"
        fail(
            "torch",
            f"torch {tv} is {built} (torch.version.cuda), profile {profile.name}"
            f" needs CUDA {profile.cuda_text}",
        )
    if not torch.available:
        gpus = ", ".join(f"GPU {g.index} {g.name}" for g in hardware.gpus)
        why = "".join(f"; {warning}" for warning in torch.warnings)
        fail(
            "torch",
            f"torch {tv} cannot use the GPUs ({gpus}): torch.cuda.is_available() is False{why}",
        )
        return tuple(findings), ()
    if not torch.devices:
        fail("torch", f"torch {tv} sees no GPU (torch.cuda.device_count() is 0)")
    passed: list[str] = []
    archs = " ".join(torch.arch_list) or "empty"
    for device in torch.devices:
        failures = len(findings)
        cc = f"{device.capability[0]}{device.capability[1]}"
        if arch_covers(torch.arch_list, device.capability) is None:
            fail(
                device.label,
                f"{device.label}: torch {tv} has no kernels for it: neither sm_{cc} code nor PTX"
                f" for it or an older architecture (torch.cuda.get_arch_list(): {archs})",
            )
        if device.op_error is not None:
            fail(device.label, f"{device.label}: a tiny operation failed: {device.op_error}")
        if len(findings) == failures:
            passed.append(f"GPU {device.index} {device.name}")
    return tuple(findings), tuple(passed)


# --- reading the target --------------------------------------------------------------------


#: The longest one probe may run (importing torch and the stack, one operation per GPU): a GPU
#: or driver that hangs makes verify exit 2 instead of hanging sync. $GEN_CONSTRAINTS_VERIFY_TIMEOUT
#: in seconds overrides it.
PROBE_TIMEOUT_S = 600.0


def probe_timeout() -> float:
    raw = os.environ.get("GEN_CONSTRAINTS_VERIFY_TIMEOUT")
    if raw is None:
        return PROBE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConstraintsGenError(
            f"$GEN_CONSTRAINTS_VERIFY_TIMEOUT: expected a number of seconds above 0, got {raw!r}"
        )
    return value


def probe(python: Path, request: Mapping[str, object]) -> runner.Result:
    """Run the probe in ``python`` (isolated: no PYTHONPATH, no current folder), with a deadline."""
    source = _PROBE.read_text(encoding="utf-8")
    try:
        return runner.run(
            [python, "-I", "-c", source, json.dumps(request)],
            ok_codes=_ANY_EXIT,
            timeout=probe_timeout(),
        )
    except ToolError as exc:  # it ran past the deadline: verify could not run (exit 2)
        raise ConstraintsGenError(
            f"cannot read the environment of {python}: {exc.message}",
            tip="a hung GPU driver or import can do this; for a slow machine raise"
            " $GEN_CONSTRAINTS_VERIFY_TIMEOUT (seconds)",
        ) from None


def _answer(result: runner.Result) -> dict[str, Any] | None:
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_installed(data: Mapping[str, Any]) -> tuple[Installed, ...]:
    return tuple(
        Installed(
            name=str(d["name"]),
            version=str(d["version"]),
            location=str(d["location"]),
            top_level=None if d["top_level"] is None else tuple(map(str, d["top_level"])),
            roots=tuple(map(str, d["roots"])),
            has_record=bool(d["record"]),
            checked=int(d["checked"]),
            bad=tuple(
                BadFile(
                    path=str(b["path"]),
                    problem=str(b["problem"]),
                    expected=None if b.get("expected") is None else str(b["expected"]),
                    actual=None if b.get("actual") is None else str(b["actual"]),
                )
                for b in d["bad"]
            ),
        )
        for d in data["distributions"]
    )


def parse_torch(data: Mapping[str, Any]) -> TorchInfo:
    if data.get("error") is not None:
        return TorchInfo(error=str(data["error"]))
    return TorchInfo(
        error=None,
        version=str(data["version"]),
        cuda=None if data["cuda"] is None else str(data["cuda"]),
        available=bool(data["available"]),
        warnings=tuple(map(str, data["warnings"])),
        arch_list=tuple(map(str, data["arch_list"])),
        devices=tuple(
            Device(
                index=int(d["index"]),
                name=str(d["name"]),
                capability=(int(d["capability"][0]), int(d["capability"][1])),
                op_error=None if d["op_error"] is None else str(d["op_error"]),
            )
            for d in data["devices"]
        ),
        visible_devices=data.get("visible_devices"),
    )


def _crash(result: runner.Result) -> str:
    steps = [line for line in result.stderr.splitlines() if line.startswith(("importing ", "run"))]
    during = f" while {steps[-1]}" if steps else ""
    tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
    return f"the probe crashed{during} (exit code {result.returncode}): {tail[0]}"


def verify(
    *,
    python: Path,
    python_version: str,
    profile: Profile,
    manifest: Manifest,
    locked: Sequence[LockedPackage],
    hardware: Callable[[], Hardware],
    deep: bool = True,
) -> Report:
    """Verify the environment of ``python`` against the lock ``locked`` of ``profile``.

    ``hardware`` is asked only for an NVIDIA profile. Raises ConstraintsGenError (exit 2) when
    the target cannot be read at all."""
    names = [package.name for package in locked]
    result = probe(python, {"stage": "installed", "names": names, "deep": deep})
    data = _answer(result)
    if data is None:
        raise ConstraintsGenError(
            f"cannot read the environment of {python}: {runner.describe_failure(result)}",
            tip="--python must name a working Python interpreter or venv",
        )
    found = parse_installed(data)
    findings = list(check_installed(locked, found, deep=deep))
    imports = profile.verify_imports
    if imports is None:
        imports = default_imports(profile, manifest, found)
    notices: list[str] = []
    machine = hardware() if profile.vendor == "nvidia" else None
    gpu = machine is not None and not machine.is_cpu
    if profile.vendor != "nvidia":
        notices.append(f"GPU checks: not applicable (profile {profile.name} is a CPU build)")
    elif machine is not None and machine.is_cpu:
        notices.append(f"GPU checks skipped: no NVIDIA GPU on this machine ({machine.source})")
    gpus: tuple[str, ...] = ()
    if imports or gpu:
        result = probe(python, {"stage": "runtime", "imports": list(imports), "gpu": gpu})
        data = _answer(result)
        if data is None:
            findings.append(Finding(check="import", subject="probe", message=_crash(result)))
        else:
            results = [(str(r["module"]), r["error"]) for r in data["imports"]]
            findings += check_imports(results)
            if gpu and machine is not None:
                torch_lock = next((p.version for p in locked if p.name == "torch"), None)
                more, gpus = check_gpu(profile, torch_lock, machine, parse_torch(data["torch"]))
                findings += more
                if len(gpus) < len(machine.gpus) and not more:
                    notices.append(
                        f"torch sees {len(gpus)} of the {len(machine.gpus)} GPUs that"
                        f" {machine.source} lists (CUDA_VISIBLE_DEVICES:"
                        f" {parse_torch(data['torch']).visible_devices or 'not set'})"
                    )
    return Report(
        profile=profile.name,
        python=python_version,
        environment=str(python),
        packages=len(locked),
        files=sum(d.checked for d in found) if deep else None,
        imports=tuple(imports),
        gpus=gpus,
        notices=tuple(notices),
        findings=tuple(findings),
    )
