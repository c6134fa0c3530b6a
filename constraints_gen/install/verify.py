"""Verify an environment against its lock: what is installed, that it imports, that torch runs.

Facts are read IN THE TARGET interpreter by :mod:`constraints_gen.install.probe` (run with
``python -I``, so neither this tool's nor the current folder's modules leak in; its answer comes
on a channel of its own, :mod:`constraints_gen.install.readout`); the comparison here is pure.
Three checks, each listing every failure:

- installed: each locked distribution is installed once, at exactly the locked version (the full
  METADATA ``Version`` string, local label included: ``2.5.1+cu121`` is not ``2.5.1+cu124``; PyPI's
  torch wheels carry no label in METADATA, and neither does their lock entry), and with ``deep``
  every file of its RECORD has the recorded size and sha256 (only regular files inside the
  environment's prefix are read, each bounded by its recorded size; any other RECORD line, or a
  malformed one, is a failure naming the line). A sync killed mid-install leaves such
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

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from constraints_gen.detect.hardware import Hardware
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.install.readout import Malformed, Node, run_probe
from constraints_gen.locks.file import LockedPackage
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.model import Profile

#: How many differing files are named per package (the JSON lists all of them).
SHOWN_FILES = 5
_ARCH = re.compile(r"^(sm|compute)_(\d+)(\d)([af]?)$")


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
    """A RECORD line that fails: its file differs, or is not one verify reads, or the line is
    malformed (then ``path`` is the line's text and ``expected`` says what is wrong with it)."""

    path: str
    problem: str  # missing size larger hash unreadable outside symlink special record
    line: int | None = None  # its line in RECORD
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        at = f"RECORD line {self.line}: " if self.line is not None else ""
        match self.problem:
            case "missing":
                return f"{self.path} (missing)"
            case "size":
                return f"{self.path} ({self.actual} bytes, RECORD says {self.expected})"
            case "larger":
                return f"{self.path} (more than the {self.expected} bytes RECORD says)"
            case "hash":
                return f"{self.path} (sha256 differs from RECORD)"
            case "outside":
                return f"{at}{self.path} (leaves the environment {self.expected}: {self.actual})"
            case "symlink":
                return f"{at}{self.path} (a symlink to {self.actual}, not a regular file)"
            case "special":
                return f"{at}{self.path} ({self.actual}, not a regular file)"
            case "record":
                return f"{at}{self.path!r} is malformed: {self.expected}"
        return f"{at}{self.path} (unreadable: {self.actual})"


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


def _bad_file(node: Node) -> BadFile:
    path, problem = node.get("path").text(), node.get("problem").text()
    line = node.get("line").integer_or_none()
    expected, actual = node.get("expected").value, node.get("actual").value
    return BadFile(
        path=path,
        problem=problem,
        line=line,
        expected=None if expected is None else str(expected),
        actual=None if actual is None else str(actual),
    )


def parse_installed(answer: Node) -> tuple[Installed, ...]:
    """The distributions of the installed stage's answer; raises Malformed."""
    found = []
    for d in answer.get("distributions").items():
        top_level = d.get("top_level")
        found.append(
            Installed(
                name=d.get("name").text(),
                version=d.get("version").text(),
                location=d.get("location").text(),
                top_level=None if top_level.value is None else top_level.texts(),
                roots=d.get("roots").texts(),
                has_record=d.get("record").flag(),
                checked=d.get("checked").integer(),
                bad=tuple(_bad_file(b) for b in d.get("bad").items()),
            )
        )
    return tuple(found)


def parse_torch(data: Node) -> TorchInfo:
    """What the probe read from torch; raises Malformed."""
    if data.has("error"):
        return TorchInfo(error=data.get("error").text())
    devices = []
    for d in data.get("devices").items():
        capability = d.get("capability").items()
        if len(capability) != 2:
            raise Malformed(f"{d.where}.capability: expected [major, minor]")
        devices.append(
            Device(
                index=d.get("index").integer(),
                name=d.get("name").text(),
                capability=(capability[0].integer(), capability[1].integer()),
                op_error=d.get("op_error").text_or_none(),
            )
        )
    return TorchInfo(
        error=None,
        version=data.get("version").text(),
        cuda=data.get("cuda").text_or_none(),
        available=data.get("available").flag(),
        warnings=data.get("warnings").texts(),
        arch_list=data.get("arch_list").texts(),
        devices=tuple(devices),
        visible_devices=data.get("visible_devices").text_or_none(),
    )


def read_installed(python: Path, names: Sequence[str], *, deep: bool) -> tuple[Installed, ...]:
    """The installed distributions named ``names`` (with ``deep``: the RECORD check of each);
    raises ConstraintsGenError (exit 2) when the target cannot be read."""
    run = run_probe(python, {"stage": "installed", "names": list(names), "deep": deep})
    problem = None if run.answer is not None else run.describe()
    if run.answer is not None:
        try:
            return parse_installed(run.answer)
        except Malformed as exc:
            problem = f"the probe's result is malformed: {exc}"
    raise ConstraintsGenError(
        f"cannot read the environment of {python}: {problem}",
        tip="--python must name a working Python interpreter or venv",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """What the runtime probe found: each import's error, and torch on the GPUs."""

    imports: tuple[tuple[str, str | None], ...]
    torch: TorchInfo | None


def read_runtime(python: Path, imports: Sequence[str], gpu: str | None) -> Runtime | Finding:
    """Import ``imports`` in the target (the import probe), then, with ``gpu`` (a vendor), ask
    torch about its GPUs (the GPU probe): one process, so torch is imported once. A target that
    gives no answer is a finding."""
    run = run_probe(python, {"stage": "runtime", "imports": list(imports), "gpu": gpu})
    if run.answer is None:
        return Finding(check="import", subject="probe", message=run.describe())
    try:
        results = tuple(
            (r.get("module").text(), r.get("error").text_or_none())
            for r in run.answer.get("imports").items()
        )
        torch = run.answer.get("torch")
        return Runtime(imports=results, torch=None if torch.value is None else parse_torch(torch))
    except Malformed as exc:
        message = f"the probe's result is malformed: {exc}"
        return Finding(check="import", subject="probe", message=message)


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
    found = read_installed(python, [package.name for package in locked], deep=deep)
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
        runtime = read_runtime(python, imports, profile.vendor if gpu else None)
        if isinstance(runtime, Finding):
            findings.append(runtime)
        else:
            findings += check_imports(runtime.imports)
            if runtime.torch is not None and machine is not None:
                torch_lock = next((p.version for p in locked if p.name == "torch"), None)
                more, gpus = check_gpu(profile, torch_lock, machine, runtime.torch)
                findings += more
                if len(gpus) < len(machine.gpus) and not more:
                    notices.append(
                        f"torch sees {len(gpus)} of the {len(machine.gpus)} GPUs that"
                        f" {machine.source} lists (CUDA_VISIBLE_DEVICES:"
                        f" {runtime.torch.visible_devices or 'not set'})"
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
