"""``testenv/lock.txt``: its inputs, its header, reading it back, and its freshness.

The file is a hashed requirements lock made by ``uv pip compile --universal --generate-hashes``
and stamped like every file under ``generated/``::

    # constraints_gen test environment: pyproject.toml's dependencies, test extra and build
    #   requirements, universal (CPython >=3.10). Do not edit.    <- one line in the file
    # Regenerate: .venv/bin/python -m testenv lock
    # Inputs: pyproject.toml@<12 hex>
    # Fingerprint: sha256:<hex of the canonical inputs and the lock format>
    # Integrity: lock format 3, body sha256:<hex of everything below this line>

What is reused from constraints_gen and what is not, and why:

- the integrity line (:func:`constraints_gen.locks.file.seal`), the body grammar
  (:func:`~constraints_gen.locks.file.parse_lock`: every line understood, each package once),
  the canonical-JSON digests, :func:`~constraints_gen.fsutil.atomic_write`, the error types and
  their exit codes, and :mod:`constraints_gen.runner` for uv;
- not :func:`~constraints_gen.locks.file.read_lock` nor :mod:`constraints_gen.locks.freshness`:
  their header names one profile, one CPython and one platform, and their inputs are profile
  TOML files. This lock is universal (markers, for every Python) and its input is a part of
  ``pyproject.toml``, so its first line and its inputs differ; the other four lines are the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from constraints_gen.errors import InputError, LockIntegrityError
from constraints_gen.locks.file import FORMAT, HEAD_LINES, LockedPackage, parse_lock, seal
from constraints_gen.names import canonical_name
from constraints_gen.tomlio import read_toml

LOCK = Path("testenv", "lock.txt")
REGENERATE = ".venv/bin/python -m testenv lock"
#: The dependency sections of pyproject.toml: the lock's only inputs (dotted key paths).
SECTIONS = (
    "project.requires-python",
    "project.dependencies",
    "project.optional-dependencies.test",
    "build-system.requires",
)
#: What ``pip install --no-build-isolation -e .`` needs besides build-system.requires: hatchling's
#: ``get_requires_for_build_editable`` asks for it (hatchling/build.py, EDITABLES_REQUIREMENT in
#: hatchling/builders/constants.py), and the editable wheel it builds requires it at run time
#: (hatchling/builders/wheel.py, ``build_editable_detection``). Build isolation would install it
#: unpinned; ``--no-build-isolation`` installs nothing, so the lock holds it.
EDITABLE_BUILD = ("editables~=0.3",)
_TITLE = re.compile(
    r"# constraints_gen test environment: pyproject\.toml's dependencies, test extra and build"
    r" requirements, universal \(CPython (?P<python>\S+)\)\. Do not edit\."
)
_REGENERATE = re.compile(r"# Regenerate: (?P<command>\S.*)")
_INPUTS = re.compile(r"# Inputs: pyproject\.toml@(?P<digest>[0-9a-f]{12})")
_FINGERPRINT = re.compile(r"# Fingerprint: (?P<fingerprint>sha256:[0-9a-f]{64})")
_INTEGRITY = re.compile(
    r"# Integrity: lock format (?P<format>\d+), body sha256:(?P<body>[0-9a-f]{64})"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """The dependency sections of one pyproject.toml, as parsed."""

    path: Path
    requires_python: str
    dependencies: tuple[str, ...]
    test: tuple[str, ...]
    build: tuple[str, ...]

    def _canonical(self, *, ours: bool) -> str:
        data: dict[str, object] = {
            "requires-python": self.requires_python,
            "dependencies": list(self.dependencies),
            "test": list(self.test),
            "build": list(self.build),
        }
        if ours:  # what this module adds: the lock format, the editable build's needs
            data |= {"format": FORMAT, "editable-build": list(EDITABLE_BUILD)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        """Any change of a dependency section, the lock format or EDITABLE_BUILD makes the lock
        stale."""
        return "sha256:" + hashlib.sha256(self._canonical(ours=True).encode()).hexdigest()

    @property
    def digest(self) -> str:
        """The dependency sections of pyproject.toml alone (the header's ``Inputs``)."""
        return hashlib.sha256(self._canonical(ours=False).encode()).hexdigest()[:12]

    @property
    def requirements(self) -> tuple[tuple[str, Requirement], ...]:
        """(section, requirement) for every requirement the lock must satisfy."""
        keys = (*SECTIONS[1:], "hatchling's editable build")
        sections = (self.dependencies, self.test, self.build, EDITABLE_BUILD)
        pairs = zip(keys, sections, strict=True)
        return tuple((key, Requirement(line)) for key, lines in pairs for line in lines)

    @property
    def lowest_python(self) -> str:
        """The oldest CPython ``requires-python`` allows (``>=3.10`` -> ``3.10``)."""
        match = re.fullmatch(r"\s*>=\s*(\d+\.\d+)\s*", self.requires_python)
        assert match is not None  # read_inputs checked it
        return match[1]


def read_inputs(pyproject: Path) -> Inputs:
    """Parse the dependency sections; every problem names the file and the key path."""
    problems: list[str] = []
    data = read_toml(pyproject, problems)
    if data is None:
        raise InputError(problems)

    def strings(dotted: str) -> tuple[str, ...]:
        node: object = data
        for key in dotted.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list) or not all(isinstance(item, str) for item in node):
            problems.append(f"{pyproject}: {dotted}: expected a list of requirement strings")
            return ()
        for item in node:
            try:
                Requirement(item)
            except InvalidRequirement as exc:
                problems.append(f"{pyproject}: {dotted}: {item!r}: {exc}")
        return tuple(node)

    project = data.get("project")
    python = project.get("requires-python") if isinstance(project, dict) else None
    if not isinstance(python, str) or re.fullmatch(r"\s*>=\s*\d+\.\d+\s*", python) is None:
        problems.append(f"{pyproject}: project.requires-python: expected '>=3.X'")
        python = ">=3"
    inputs = Inputs(
        path=pyproject,
        requires_python=python.strip(),
        dependencies=strings("project.dependencies"),
        test=strings("project.optional-dependencies.test"),
        build=strings("build-system.requires"),
    )
    if problems:
        raise InputError(problems)
    return inputs


def header(inputs: Inputs, command: str = REGENERATE) -> str:
    """The first four header lines (:func:`seal` adds the integrity line)."""
    return (
        "# constraints_gen test environment: pyproject.toml's dependencies, test extra and build"
        f" requirements, universal (CPython {inputs.requires_python}). Do not edit.\n"
        f"# Regenerate: {command}\n"
        f"# Inputs: pyproject.toml@{inputs.digest}\n"
        f"# Fingerprint: {inputs.fingerprint}\n"
    )


def render(inputs: Inputs, body: str) -> str:
    return seal(header(inputs), body)


@dataclass(frozen=True, slots=True, kw_only=True)
class TestLock:
    path: Path
    command: str
    inputs_digest: str
    fingerprint: str
    body: str
    packages: tuple[LockedPackage, ...]


def _refuse(path: Path, problem: str) -> LockIntegrityError:
    return LockIntegrityError(
        [f"{path}: {problem}; it is generated, never edited, so it is refused"],
        tip=f"regenerate it: {REGENERATE}",
    )


def read(path: Path) -> TestLock:
    """Read and verify the lock: header, body digest, every line, a hash for every package.

    Refused with :class:`LockIntegrityError` (exit 2): a missing, empty, edited or cut file, a
    damaged header, a package without hashes (``pip --require-hashes`` would refuse it anyway).
    """
    try:
        text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise InputError([f"{path}: no such file"], tip=f"create it: {REGENERATE}") from None
    except UnicodeDecodeError as exc:
        raise _refuse(path, f"it is not UTF-8 (byte {exc.start})") from None
    lines = text.split("\n", HEAD_LINES)
    patterns = (_TITLE, _REGENERATE, _INPUTS, _FINGERPRINT, _INTEGRITY)
    found = [p.fullmatch(line) for p, line in zip(patterns, lines[:HEAD_LINES], strict=False)]
    if len(found) < HEAD_LINES or not all(found):
        raise _refuse(path, "its header is missing or damaged")
    _, command, inputs, fingerprint, integrity = (m for m in found if m is not None)
    if int(integrity["format"]) != FORMAT:
        raise _refuse(path, f"it is in lock format {integrity['format']}, not {FORMAT}")
    body = lines[HEAD_LINES] if len(lines) > HEAD_LINES else ""
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != integrity["body"]:
        raise _refuse(path, "its body does not match the digest in its header (edited or cut)")
    try:
        packages = parse_lock(body, str(path))
    except InputError as exc:
        raise LockIntegrityError(exc.problems, tip=f"regenerate it: {REGENERATE}") from None
    unhashed = [p.name for p in packages if not p.hashes]
    if not packages:
        raise _refuse(path, "it pins no package")
    if unhashed:
        raise _refuse(path, "no --hash for " + ", ".join(unhashed))
    return TestLock(
        path=path,
        command=command["command"],
        inputs_digest=inputs["digest"],
        fingerprint=fingerprint["fingerprint"],
        body=body,
        packages=packages,
    )


def stale_reasons(lock: TestLock, inputs: Inputs) -> list[str]:
    """Why the lock does not serve ``inputs`` (empty: it is fresh).

    The fingerprint decides, as for every generated file. Each requirement is also checked
    against the pins, so a hand-forged header still cannot pass a dependency that is not locked
    or a floor that the locked version is below."""
    reasons = []
    if lock.inputs_digest != inputs.digest:
        reasons.append(
            f"the dependency sections of {inputs.path.name} changed since it was locked"
            f" (pyproject.toml@{lock.inputs_digest}, now @{inputs.digest})"
        )
    elif lock.fingerprint != inputs.fingerprint:
        reasons.append("it was made for another lock format or editable build (testenv changed)")
    pinned = {p.name: p.version for p in lock.packages}
    for key, requirement in inputs.requirements:
        name = canonical_name(requirement.name)
        if name not in pinned:
            reasons.append(f"{key}: {requirement} is not locked")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            reasons.append(f"{key}: {requirement}: the lock pins {name} {pinned[name]}")
    return reasons
