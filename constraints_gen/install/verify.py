"""Verify an environment against its lock: what is installed, that it imports, that torch runs.

Facts are read IN THE TARGET interpreter by :mod:`constraints_gen.install._in_target_probe` (run
with ``python -I``, so neither this tool's nor the current folder's modules leak in; its answer
comes on a channel of its own, :mod:`constraints_gen.install.readout`); the comparison here is pure.
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
- gpu (a GPU profile on a machine with a GPU of its vendor): torch's version is the lock's, and
  its CUDA, ROCm, XPU or MPS backend runs on every GPU of that vendor, with the rule profile
  selection uses (:mod:`constraints_gen.install.gpucheck`); one tiny operation runs on each.

Each part is a function of its own, so a later run can skip what did not change: the RECORD
check of one distribution (``probe.read_distribution``, compared by :func:`check_distribution`),
the import probe and the GPU probe (``probe.import_probe`` and ``probe.gpu_probe``, one target
process so torch is imported once: :func:`read_runtime`; compared by :func:`check_imports` and
``gpucheck.check_gpu``); when files are to be hashed, the runtime probe runs on a thread while
the installed probe hashes (the stack's modules read first, without hashing, when the profile
names none). :mod:`constraints_gen.install.state` keeps what a passing deep verify
checked; :func:`verify` uses it (unless ``full``) to hash only the distributions whose files
changed, and to run no probe when nothing did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from constraints_gen.detect.hardware import Hardware
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.install.findings import (
    Finding,
    Report,
    local_label,
    report_summary,
    same_version,
)
from constraints_gen.install.gpucheck import (
    TorchInfo,
    check_gpu,
    gpu_plan,
    parse_torch,
    unseen_notice,
)
from constraints_gen.install.readout import Malformed, Node, run_probe
from constraints_gen.locks.file import LockedPackage
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.model import Profile

#: How many differing files are named per package (the JSON lists all of them).
SHOWN_FILES = 5


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
    checked: int  # files hashed (0 without deep, or not hashed: trusted by the state)
    bad: tuple[BadFile, ...]
    seen: Any = None  # what it was hashed at (probe.read_distribution's "seen"), unchecked


# --- pure comparison -----------------------------------------------------------------------


def check_distribution(
    package: LockedPackage, dists: Sequence[Installed], *, deep: bool
) -> Finding | None:
    """One locked distribution (``dists``: what is installed under its name): installed once, at
    its exact version, and with ``deep`` its files as its RECORD says; None when it is."""
    name, want = package.name, package.version

    def fail(check: str, message: str) -> Finding:
        return Finding(check=check, subject=name, message=message, repair=name)

    if not dists:
        return fail("installed", f"{name} {want} is not installed")
    if len(dists) > 1:
        where = "; ".join(f"{d.version} in {d.location}" for d in sorted(dists, key=str))
        return fail("installed", f"{name} is installed {len(dists)} times ({where}); locked {want}")
    dist = dists[0]
    if not same_version(dist.version, want):
        message = f"{name} {dist.version} is installed, {want} is locked"
        have, need = local_label(dist.version), local_label(want)
        if have != need and same_version(dist.version.split("+")[0], want.split("+")[0]):
            message += f" (local labels differ: {have or 'none'} vs {need or 'none'})"
        return fail("installed", message)
    if not deep:
        return None
    if not dist.has_record:
        return fail(
            "files", f"{name} {want}: no RECORD in {dist.location}, so its files cannot be checked"
        )
    if dist.bad:
        shown = ", ".join(bad.describe() for bad in dist.bad[:SHOWN_FILES])
        more = len(dist.bad) - SHOWN_FILES
        return fail(
            "files",
            f"{name} {want}: {len(dist.bad)} of {dist.checked} files differ from its RECORD"
            f" ({dist.location}): {shown}" + (f" and {more} more" if more > 0 else ""),
        )
    return None


def check_installed(
    locked: Sequence[LockedPackage], found: Sequence[Installed], *, deep: bool
) -> tuple[Finding, ...]:
    """Each locked distribution: installed once, at its exact version, and its files intact."""
    by_name: dict[str, list[Installed]] = {}
    for dist in found:
        by_name.setdefault(dist.name, []).append(dist)
    findings = (check_distribution(p, by_name.get(p.name, []), deep=deep) for p in locked)
    return tuple(finding for finding in findings if finding is not None)


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
                seen=d.value.get("seen") if isinstance(d.value, dict) else None,
            )
        )
    return tuple(found)


def read_installed(
    python: Path,
    names: Sequence[str],
    *,
    deep: bool,
    trusted: Sequence[str] = (),
    python_version: str | None = None,
) -> tuple[tuple[Installed, ...], Any]:
    """The installed distributions named ``names`` (with ``deep``: the RECORD check of each, but
    of those in the ``.dist-info`` folders ``trusted``), and what the probe saw of ``sys.path``
    (unchecked); raises ConstraintsGenError (exit 2) when the target cannot be read, or when it
    runs another CPython than ``python_version`` (X.Y, what the lock was chosen for: a pyvenv.cfg
    left from before its base Python was upgraded in place names the old one, and a lock of pure
    wheels for it installed and verified as exact)."""
    request = {"stage": "installed", "names": list(names), "deep": deep, "trusted": list(trusted)}
    run = run_probe(python, request)
    problem = None if run.answer is not None else run.describe()
    if run.answer is not None:
        try:
            paths = run.answer.value.get("paths")
            found = parse_installed(run.answer)
            runs = run.answer.get("python").text()
        except Malformed as exc:
            problem = f"the probe's result is malformed: {exc}"
        else:
            if python_version is None or ".".join(runs.split(".")[:2]) == python_version:
                return found, paths
            raise ConstraintsGenError(
                f"{python} runs CPython {runs}, and was read as CPython {python_version} (its"
                f" pyvenv.cfg): the lock for CPython {python_version} does not describe it",
                tip="recreate the environment with the Python it should run (uv venv --python"
                " X.Y), or name that Python's environment",
            )
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


def _record(
    python: Path,
    needs: dict[str, Any],
    report: Report,
    found: Sequence[Installed],
    paths: Any,
    kept: Mapping[str, dict[str, Any]],
    started_ns: int,
) -> None:
    """Store what this verify found intact (only a passing one leaves a state)."""
    from constraints_gen.install import state

    if not report.ok:
        state.forget(python)
        return
    try:
        dists = {}
        for dist in found:
            if dist.seen is None:
                if dist.location not in kept:
                    return  # not hashed and not known: nothing to vouch for it
                dists[dist.location] = kept[dist.location]
            else:
                dists[dist.location] = state.dist_seen(
                    dist.name, dist.checked, dist.seen, started_ns
                )
        saved = state.State(
            depends=needs,
            summary=report_summary(report),
            paths=state.paths_seen(paths, started_ns),
            dists=dists,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return  # a probe answer of another shape: no state, the next verify does it all
    state.save(python, saved)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """What a verify knows before it runs a probe: the machine (a GPU profile), what the probes
    depend on, and the stored state compared with the environment (None: no state is used)."""

    machine: Hardware | None
    needs: dict[str, Any] | None
    prior: Any  # state.State | None
    comparison: Any  # state.Comparison | None


def prepare(
    *,
    python: Path,
    profile: Profile,
    manifest: Manifest,
    lock_path: Path | None,
    read_machine: Callable[[], Hardware],
    deep: bool = True,
    full: bool = False,
) -> Prepared:
    """The part of :func:`verify` that runs no probe: ask for the machine, work out what the
    probes depend on, load the environment state and stat what it names. ``sync`` runs it while
    uv checks the environment (uv's check changes nothing)."""
    import time

    machine = read_machine() if profile.vendor != "cpu" else None
    if not deep or lock_path is None:
        return Prepared(machine=machine, needs=None, prior=None, comparison=None)
    from constraints_gen.install import state

    needs = state.depends(
        python=python,
        lock_digest=state.file_digest(lock_path),
        profile=profile.name,
        vendor=profile.vendor,
        imports=profile.verify_imports,
        stack=state.stack_names(profile, manifest),
        deep=deep,
        machine=state.machine_digest(machine),
    )
    prior = None if full else state.load(python, needs)
    comparison = None if prior is None else state.compare(prior, time.time_ns(), needs)
    return Prepared(machine=machine, needs=needs, prior=prior, comparison=comparison)


def prepare_ahead(**arguments: Any) -> Callable[[], Prepared]:
    """:func:`prepare` on a thread of its own (stat calls and waiting on uv both leave the
    interpreter free); the function returned waits for it and returns its result or raises its
    error."""
    from constraints_gen.background import ahead

    return ahead(lambda: prepare(**arguments), name="verify-prepare")


def verify(
    *,
    python: Path,
    python_version: str,
    profile: Profile,
    manifest: Manifest,
    locked: Sequence[LockedPackage],
    lock_path: Path | None = None,
    read_machine: Callable[[], Hardware],
    deep: bool = True,
    full: bool = False,
    prepared: Prepared | None = None,
) -> Report:
    """Verify the environment of ``python`` against the lock ``locked`` (read from
    ``lock_path``) of ``profile``.

    With ``deep`` and a ``lock_path``, the environment state (:mod:`constraints_gen.install.state`)
    is used unless ``full``: what did not change since the last passing verify is not read again,
    and when nothing changed no probe runs. ``prepared``: :func:`prepare` with the same
    arguments, done since the environment last changed. ``read_machine`` is asked only for a GPU
    profile. Raises ConstraintsGenError (exit 2) when the target cannot be read at all."""
    import time

    if prepared is None:
        prepared = prepare(
            python=python,
            profile=profile,
            manifest=manifest,
            lock_path=lock_path,
            read_machine=read_machine,
            deep=deep,
            full=full,
        )
    machine, needs = prepared.machine, prepared.needs
    prior, comparison = prepared.prior, prepared.comparison
    trusted: tuple[str, ...] = ()
    kept: Mapping[str, dict[str, Any]] = {}
    used = comparison is not None  # a state was there to compare with
    if comparison is not None:
        from constraints_gen.install.state import unchanged_report

        hit = unchanged_report(python, python_version, profile.name, prior, comparison)
        if hit is not None:
            return hit
        trusted = comparison.unchanged
        kept = comparison.state.dists
    started_ns = time.time_ns()
    names = [package.name for package in locked]
    gpu, notice = gpu_plan(profile, machine)
    vendor = profile.vendor if gpu else None
    imports = profile.verify_imports
    runtime_ahead = None
    if deep and len(trusted) < len(names):  # files to hash: the runtime probe runs meanwhile
        if imports is None:  # the stack's modules, from a read of the metadata (no hashing)
            shallow, _ = read_installed(python, names, deep=False, python_version=python_version)
            imports = default_imports(profile, manifest, shallow)
        if imports or gpu:
            from constraints_gen.background import ahead

            runtime_ahead = ahead(read_runtime, python, imports, vendor, name="verify-runtime")
    try:
        found, paths = read_installed(
            python, names, deep=deep, trusted=trusted, python_version=python_version
        )
    except BaseException:
        if runtime_ahead is not None:  # its probe ends (and cleans up) before this error shows
            with contextlib.suppress(BaseException):
                runtime_ahead()
        raise
    if trusted:
        found = tuple(
            replace(d, checked=int(kept[d.location]["checked"])) if d.location in kept else d
            for d in found
        )
    findings = list(check_installed(locked, found, deep=deep))
    if imports is None:
        imports = default_imports(profile, manifest, found)
    notices: list[str] = []
    if notice is not None:
        notices.append(notice)
    gpus: tuple[str, ...] = ()
    if imports or gpu:
        runtime = (
            runtime_ahead() if runtime_ahead is not None else read_runtime(python, imports, vendor)
        )
        if isinstance(runtime, Finding):
            findings.append(runtime)
        else:
            findings += check_imports(runtime.imports)
            if runtime.torch is not None and machine is not None:
                torch_lock = next((p.version for p in locked if p.name == "torch"), None)
                more, gpus = check_gpu(profile, torch_lock, machine, runtime.torch)
                findings += more
                unseen = unseen_notice(profile, machine, runtime.torch, gpus)
                if unseen is not None and not more:
                    notices.append(unseen)
    hashed = sum(1 for d in found if d.seen is not None)
    report = Report(
        profile=profile.name,
        python=python_version,
        environment=str(python),
        packages=len(locked),
        files=sum(d.checked for d in found) if deep else None,
        imports=tuple(imports),
        gpus=gpus,
        notices=tuple(notices),
        findings=tuple(findings),
        rechecked=f"{hashed} of {len(found)} distributions hashed" if used else "full",
    )
    if needs is not None:
        _record(python, needs, report, found, paths, kept, started_ns)
    return report
