"""The generated files: their header, the hashed lock, and ``constraints.txt``, read one way.

Every generated file starts with::

    # constraints_gen 0.1.0: profile cuda130, CPython 3.11, x86_64-manylinux_2_28. Do not edit.
    # Regenerate: gen-constraints lock cuda130
    # Inputs: cuda130.toml@<12 hex> llm-stack.toml@<12 hex> manifest.toml@<12 hex>
    # Fingerprint: sha256:<hex of the canonical inputs and the lock format>
    # Integrity: lock format 3, body sha256:<hex of everything below this line>

Digests of inputs are of the parsed TOML (comments and layout do not count). The per-input
digests only explain why a lock is stale; the fingerprint decides. The fingerprint holds the
file format's version, not the tool's: a new gen-constraints keeps committed locks fresh unless
the format changed, and then says so. The body digest makes every reader refuse a file that was
emptied, truncated or edited; :func:`read_lock_file` and :func:`read_constraints` are the only
readers, and :func:`read_pair` (what every command reads) also refuses a file whose header names
another profile, CPython or platform than the one looked for.
No timestamps: the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from constraints_gen import __version__
from constraints_gen.errors import InputError
from constraints_gen.errors import LockFormatError as LockFormatError
from constraints_gen.errors import LockIntegrityError as LockIntegrityError
from constraints_gen.names import canonical_name
from constraints_gen.profiles.manifest import Manifest
from constraints_gen.profiles.model import Profile

#: The layout of generated files; bumped when it changes (2: no body digest; 3: body digest,
#: indexes named in constraints.txt, fingerprint without the tool's version).
FORMAT = 3
HEAD_LINES = 5
_HEAD = (
    re.compile(
        r"# constraints_gen (?P<tool>\S+): profile (?P<profile>[^\s,]+), CPython"
        r" (?P<python>\d+\.\d+), (?P<platform>\S+)\. Do not edit\."
    ),
    re.compile(r"# Regenerate: (?P<command>\S.*)"),
    re.compile(r"# Inputs: (?P<inputs>.*)"),
    re.compile(r"# Fingerprint: (?P<fingerprint>sha256:[0-9a-f]{64})"),
    re.compile(r"# Integrity: lock format (?P<format>\d+), body sha256:(?P<body>[0-9a-f]{64})"),
)
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"(?P<name>{_NAME})\s*(?:\[(?P<extras>[^\]]*)\])?\s*"
    r"(?:===?\s*(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)|@\s*(?P<url>\S+))"
    r"\s*(?:;(?P<marker>[^\\#]*?))?\s*(?P<more>\\)?"
)
#: An indented ``--hash=`` continuation line, whitespace around it included (``\s`` is the set
#: that str.isspace and str.strip use).
_HASH_LINE = re.compile(
    r"\s+--hash=(?P<hash>(?:sha256|sha384|sha512):[0-9a-f]+)\s*(?P<more>\\)?\s*"
)
_VIA = re.compile(r"#\s+via\s+(?P<via>\S.*)")
_PIN = re.compile(rf"(?P<name>{_NAME})==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)(?:\s+#.*)?")
_INDEX = re.compile(r"# Index (?P<name>[^\s:]+): (?P<url>\S+)")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    tool: str  # the version of constraints_gen that wrote it (informative only)
    profile: str
    python: str
    platform: str
    command: str
    inputs: tuple[tuple[str, str], ...]  # (file name, 12-hex digest)
    fingerprint: str
    format: int
    body_sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    name: str  # canonical
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...] = ()  # uv's annotation: "-r manifest.in", "-c pins.txt", package names
    extras: tuple[str, ...] = ()
    marker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockFile:
    path: Path
    header: Header
    packages: tuple[LockedPackage, ...]
    options: tuple[str, ...] = ()  # option lines (--index-url ...), as written


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintsFile:
    path: Path
    header: Header
    text: str  # the whole file, verified
    pins: tuple[tuple[str, str], ...]  # (canonical name, version), in file order
    indexes: tuple[tuple[str, str], ...]  # (index name, URL) the pins need, besides PyPI


def fingerprint(profile: Profile, manifest: Manifest, python: str) -> str:
    """A digest of everything a lock depends on; any change makes the lock stale."""
    payload = {
        "format": FORMAT,
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
    """The first four header lines, shared by a lock and its constraints (see :func:`seal`)."""
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


def seal(head: str, body: str) -> str:
    """The whole file: ``head``, the integrity line with the digest of ``body``, ``body``.

    ``body`` is masked first (:func:`constraints_gen.redact.redact`), as every written file is
    (:func:`constraints_gen.fsutil.atomic_write`): the digest is of the bytes that are written.
    Sealed unmasked, a credential in a body (a profile's index URL) made ``lock`` write a pair
    that every reader then refused as edited, and regenerating it did the same."""
    from constraints_gen.redact import redact

    body = redact(body)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"{head}# Integrity: lock format {FORMAT}, body sha256:{digest}\n{body}"


def regenerate_command(path: Path) -> str:
    """The command that rewrites a file under generated/<profile>/py<X.Y>.*.txt."""
    match = re.fullmatch(r"py(\d+\.\d+)\.(?:lock|constraints)\.txt", path.name)
    if match is None:
        return "gen-constraints lock --force"
    return f"gen-constraints lock {path.parent.name} --python {match[1]}"


def _refuse(path: Path, problem: str, regenerate: str | None) -> LockIntegrityError:
    return LockIntegrityError(
        [f"{path}: {problem}; it is generated, never edited, so it is refused"],
        tip=f"regenerate it: {regenerate or regenerate_command(path)}",
    )


def _read_text(path: Path, regenerate: str | None) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            [f"{path}: no such file"],
            tip=f"create it: {regenerate or regenerate_command(path)}",
        ) from None
    except OSError as exc:
        raise InputError([f"{path}: cannot read it: {exc.strerror or exc}"]) from None
    if not data.strip():
        raise _refuse(path, "it is empty", regenerate)
    if data.startswith(_BOMS):
        raise _refuse(path, "it starts with a byte-order mark (UTF-16 or UTF-8-BOM)", regenerate)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(path, f"it is not UTF-8 (byte {exc.start})", regenerate) from None
    return text.replace("\r\n", "\n")  # a checkout with CRLF line ends is the same file


def _parse_header(path: Path, text: str, regenerate: str | None) -> tuple[Header, str]:
    lines = text.split("\n", HEAD_LINES)
    matches = [
        pattern.fullmatch(line) for pattern, line in zip(_HEAD, lines[:HEAD_LINES], strict=False)
    ]
    if len(matches) < 4 or not all(matches[:4]):
        raise _refuse(path, "it has no constraints_gen header", regenerate)
    found = matches[4] if len(matches) == HEAD_LINES else None
    if found is None and len(lines) >= HEAD_LINES and lines[4].startswith("# Integrity"):
        raise _refuse(path, "its integrity line is damaged", regenerate)
    fmt = int(found["format"]) if found is not None else 2  # format 2 had no integrity line
    if fmt != FORMAT:
        tip = regenerate or regenerate_command(path)
        raise LockFormatError(
            [f"{path}: written in lock format {fmt}, this tool writes {FORMAT}: run {tip}"],
            tip=f"regenerate it: {tip}",
            found=fmt,
        )
    assert found is not None
    body = lines[HEAD_LINES] if len(lines) > HEAD_LINES else ""  # "": cut after the header
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != found["body"]:
        raise _refuse(
            path, "its body does not match the digest in its header (edited or cut)", regenerate
        )
    first, command, inputs, fprint = (m for m in matches[:4] if m is not None)
    head = Header(
        tool=first["tool"],
        profile=first["profile"],
        python=first["python"],
        platform=first["platform"],
        command=command["command"],
        inputs=tuple(
            (name, digest)
            for name, _, digest in (part.partition("@") for part in inputs["inputs"].split())
        ),
        fingerprint=fprint["fingerprint"],
        format=fmt,
        body_sha256=found["body"],
    )
    return head, body


def parse_lock(text: str, where: str = "lock") -> tuple[LockedPackage, ...]:
    """Parse a hashed requirements lock as uv writes it (``--annotation-style line``).

    Every line is understood or refused (an :class:`InputError` naming ``where`` and the line):
    ``name[extras]==version ; marker \\``, then its ``--hash=`` continuation lines (a hash only
    ever belongs to the entry whose line ends in a backslash before it), then ``# via`` lines;
    comments, blank lines and ``--index-url``-style option lines. A direct URL (``name @ url``)
    and a package listed twice are refused: a lock pins each package once, from an index.
    """
    return _parse_lock(text, where)[0]


_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "-i", "-f", "--no-index")


def _parse_lock(text: str, where: str) -> tuple[tuple[LockedPackage, ...], tuple[str, ...]]:
    # Hot: every lock is read whole on each `lock`, `lock --check` and sync, and nine lines in
    # ten are --hash continuations (1,159 of 1,304 in cuda130's). Those take one regex and a
    # list append; a line's error text is only built for a line that is refused. The 43
    # built-in locks (2-core Linux, CPython 3.11, best of 15): 123 ms before, 65 ms after.
    # (One regex for an entry's whole run of hash lines was slower, 89 ms: the regex engine's
    # pass over each line's characters is the cost, not the loop.)
    packages: list[LockedPackage] = []
    options: list[str] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    current: tuple[str, str, tuple[str, ...], str | None] | None = None  # name .. marker
    hashes: list[str] = []  # the current entry's
    via: list[str] = []
    more = False  # the previous line ended in a backslash: a --hash line must follow

    def flush() -> None:
        nonlocal current
        if current is not None:
            name, version, extras, marker = current
            packages.append(
                LockedPackage(
                    name=name,
                    version=version,
                    hashes=tuple(hashes),
                    via=tuple(via),
                    extras=extras,
                    marker=marker,
                )
            )
            current = None
        hashes.clear()
        via.clear()

    def bad(number: int, line: str) -> str:
        return f"{where}: line {number}: {line.strip()[:80]!r}"

    lines = text.split("\n")
    if lines[-1] == "":  # the final newline ends the last line
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if more:
            hashed = _HASH_LINE.fullmatch(line)
            if hashed is None or current is None:
                problems.append(
                    f"{bad(number, line)}: expected an indented --hash=sha256:... continuation"
                )
                break
            hashes.append(hashed["hash"])
            more = hashed["more"] is not None
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if line[:1].isspace():
            found = _VIA.fullmatch(stripped)
            if found is None or current is None:
                problems.append(
                    f"{bad(number, line)}: expected '# via ...' under a package, or a package"
                )
                break
            via.extend(part.strip() for part in found["via"].split(","))
            continue
        if stripped.startswith("#"):
            flush()
            continue
        if stripped.startswith("-"):
            flush()
            option = stripped.split()[0].split("=")[0]
            if option not in _OPTIONS:
                problems.append(f"{bad(number, line)}: unknown option line")
            options.append(stripped)
            continue
        flush()
        match = _REQUIREMENT.fullmatch(stripped)
        if match is None:
            problems.append(f"{bad(number, line)}: expected name==version [; marker] [\\]")
            break
        name = canonical_name(match["name"])
        if match["url"] is not None:
            problems.append(
                f"{bad(number, line)}: a direct URL requirement, which a lock never holds"
            )
            continue
        if name in seen:
            problems.append(
                f"{bad(number, line)}: {name} is listed twice (also on line {seen[name]})"
            )
            continue
        seen[name] = number
        extras = tuple(e.strip() for e in (match["extras"] or "").split(",") if e.strip())
        current = (name, match["version"], extras, (match["marker"] or "").strip() or None)
        more = match["more"] is not None
    else:
        if more:
            problems.append(f"{where}: ends inside an entry (a line ending in a backslash)")
    if problems:
        raise InputError(problems)
    flush()
    return tuple(packages), tuple(options)


def read_lock_file(path: Path, *, regenerate: str | None = None) -> LockFile:
    """Read and verify a hashed lock: the one way every command reads one.

    Refused with a :class:`LockIntegrityError` (exit 2, naming the file and the command that
    regenerates it): a file that is missing its header, empty, cut, edited, not UTF-8, or has a
    line this reader does not understand; :class:`LockFormatError` for another lock format.
    """
    text = _read_text(path, regenerate)
    head, body = _parse_header(path, text, regenerate)
    try:
        packages, options = _parse_lock(body, f"{path}")
    except InputError as exc:
        raise LockIntegrityError(
            exc.problems, tip=f"regenerate it: {regenerate or regenerate_command(path)}"
        ) from None
    if not packages:
        raise _refuse(path, "it pins no package", regenerate)
    return LockFile(path=path, header=head, packages=packages, options=options)


def read_constraints(path: Path, *, regenerate: str | None = None) -> ConstraintsFile:
    """Read and verify a ``constraints.txt`` that ``lock`` wrote (see :func:`read_lock_file`)."""
    text = _read_text(path, regenerate)
    head, body = _parse_header(path, text, regenerate)
    pins: list[tuple[str, str]] = []
    indexes: list[tuple[str, str]] = []
    problems: list[str] = []
    for number, line in enumerate(body.split("\n"), start=HEAD_LINES + 1):
        if not line.strip():
            continue
        index = _INDEX.fullmatch(line)
        pin = _PIN.fullmatch(line)
        if index is not None:
            indexes.append((index["name"], index["url"]))
        elif pin is not None:
            pins.append((canonical_name(pin["name"]), pin["version"]))
        elif not line.startswith("#"):
            problems.append(f"{path}: line {number}: {line[:80]!r}: expected name==version")
    names = [name for name, _ in pins]
    problems += [
        f"{path}: {name} is pinned twice"
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    if problems:
        raise LockIntegrityError(
            problems, tip=f"regenerate it: {regenerate or regenerate_command(path)}"
        )
    if not pins:
        raise _refuse(path, "it pins no package", regenerate)
    return ConstraintsFile(
        path=path, header=head, text=text, pins=tuple(pins), indexes=tuple(indexes)
    )


def check_agree(
    lock: LockFile, constraints: ConstraintsFile, regenerate: str | None = None
) -> None:
    """A lock and its constraints.txt come from one run: same inputs, same name==version set."""
    problems = []
    if lock.header.fingerprint != constraints.header.fingerprint:
        problems.append("their fingerprints differ (an interrupted or mixed run?)")
    locked = {(p.name, p.version) for p in lock.packages}
    pinned = set(constraints.pins)
    if locked != pinned:
        only_lock = sorted(f"{n}=={v}" for n, v in locked - pinned)
        only_pins = sorted(f"{n}=={v}" for n, v in pinned - locked)
        detail = []
        if only_lock:
            detail.append("only in the lock: " + ", ".join(only_lock[:5]))
        if only_pins:
            detail.append("only in constraints.txt: " + ", ".join(only_pins[:5]))
        problems.append("they pin different packages (" + "; ".join(detail) + ")")
    if problems:
        raise LockIntegrityError(
            [
                f"{lock.path} and {constraints.path} disagree: {p}; both are refused"
                for p in problems
            ],
            tip=f"regenerate them: {regenerate or regenerate_command(lock.path)}",
        )


def lock_beside(constraints: Path) -> Path:
    """The lock a constraints.txt was written with (same folder, same Python)."""
    return constraints.with_name(constraints.name.replace(".constraints.txt", ".lock.txt"))


def constraints_beside(lock: Path) -> Path:
    return lock.with_name(lock.name.replace(".lock.txt", ".constraints.txt"))


def check_target(
    path: Path, head: Header, profile: Profile, python: str, regenerate: str | None = None
) -> None:
    """Refuse a verified file whose header names another profile, CPython or platform than the
    target it was read for: a lock pair copied or swapped from another target (another platform
    of the same profile, say) is tampering, as an edited body is (exit 2), never "stale"."""
    found = (head.profile, head.python, head.platform)
    wanted = (profile.name, python, profile.platform)
    if found != wanted:
        raise _refuse(
            path,
            "its header is for profile {}, CPython {}, {}, and it was read as the file of"
            " profile {}, CPython {}, {} (copied or swapped from another target)".format(
                *found, *wanted
            ),
            regenerate,
        )


def read_pair(
    lock_path: Path,
    constraints_path: Path,
    *,
    profile: Profile,
    python: str,
    regenerate: str | None = None,
) -> tuple[LockFile, ConstraintsFile]:
    """Both files of one target (``profile`` on its platform, CPython ``python``), each verified,
    verified to be that target's (:func:`check_target`), and verified to agree."""
    lock = read_lock_file(lock_path, regenerate=regenerate)
    check_target(lock_path, lock.header, profile, python, regenerate)
    constraints = read_constraints(constraints_path, regenerate=regenerate)
    check_target(constraints_path, constraints.header, profile, python, regenerate)
    check_agree(lock, constraints, regenerate)
    return lock, constraints


def read_verified_lock(
    path: Path, *, profile: Profile, python: str, regenerate: str | None = None
) -> LockFile:
    """A lock, verified with the constraints.txt beside it (what sync and the wheelhouse read)."""
    return read_pair(
        path, constraints_beside(path), profile=profile, python=python, regenerate=regenerate
    )[0]


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
    """The whole constraints.txt: header, the indexes its pins need, one line per pin."""
    from constraints_gen.redact import split_credentials

    # an index's credentials are never written: uv and pip find them in ~/.netrc or uv's
    # UV_INDEX_<NAME>_PASSWORD, as for a mirror (index_options)
    lines = [
        f"# Index {index.name}: {split_credentials(index.url)[0]}" for index in profile.indexes
    ]
    width = max((len(p.name) + len(p.version) + 2 for p in packages), default=0)
    for package in sorted(packages, key=lambda p: p.name):
        pin = f"{package.name}=={package.version}"
        lines.append(f"{pin:<{width}}  # {source_of(package, profile, manifest)}")
    return seal(head, "\n".join(lines) + "\n")


def index_options(indexes: tuple[tuple[str, str], ...], mirrors: Mapping[str, str]) -> list[str]:
    """The option lines uv and pip honour inside a constraints file (both tested: uv 0.13.9,
    pip 23.2.1 and 26.3 read ``--extra-index-url`` and ``--find-links`` there): a mirror
    configured for an index replaces its URL (a folder of wheels becomes ``--find-links``).
    A mirror's credentials are left out (never printed): uv and pip find them in ~/.netrc
    (or uv's ``UV_INDEX_<NAME>_PASSWORD``, pip's keyring)."""
    from constraints_gen.profiles.config import is_local  # only for constraints with indexes
    from constraints_gen.redact import split_credentials

    lines = []
    for name, url in indexes:
        where = mirrors.get(name, url)
        local = is_local(where)
        shown = where if local else split_credentials(where)[0]
        lines.append(f"{'--find-links' if local else '--extra-index-url'} {shown}")
    return lines


def is_fresh(head: Header, profile: Profile, manifest: Manifest, python: str) -> bool:
    """The one freshness rule: a verified file is fresh when the fingerprint in its header is the
    fingerprint of its inputs now (the profile and each parent, the manifest, the Python, the
    platform and the lock format). Emit, ``lock``, ``lock --check`` and sync all decide with it;
    the per-input digests only explain a stale answer (:func:`stale_reasons`)."""
    return head.fingerprint == fingerprint(profile, manifest, python)


def stale_reasons(head: Header, profile: Profile, manifest: Manifest, python: str) -> list[str]:
    """Why a verified file's header does not match its inputs now (empty: it is fresh)."""
    if is_fresh(head, profile, manifest, python):
        return []
    reasons: list[str] = []
    old = dict(head.inputs)
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
    if head.python != python or head.platform != profile.platform:
        reasons.append(f"it was made for CPython {head.python}, {head.platform}")
    return reasons or ["its fingerprint does not match its inputs"]


def emitted_text(constraints: ConstraintsFile, mirrors: Mapping[str, str]) -> str:
    """The constraints as emitted: each ``# Index NAME: URL`` line followed by the option line
    that makes uv and pip look there (or at its mirror)."""
    if not constraints.indexes:
        return constraints.text
    out = []
    for line in constraints.text.split("\n"):
        out.append(line)
        index = _INDEX.fullmatch(line)
        if index is not None:
            out += index_options(((index["name"], index["url"]),), mirrors)
    return "\n".join(out)


def lock_is_fresh(path: Path, expected: str) -> bool:
    """Was the lock at ``path`` made from the inputs whose fingerprint is ``expected``
    (:func:`fingerprint`, as :func:`is_fresh` compares them)? The file is verified: a tampered
    one raises rather than answering. (Kept for ``cli/sync.py``; new callers use is_fresh.)"""
    return read_lock_file(path).header.fingerprint == expected
