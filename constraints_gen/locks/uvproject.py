"""uv projects: each profile's exact torch build as a conflicting extra, in the project's ranges.

``write`` reads the project's ``pyproject.toml``, refuses what it cannot serve (each refusal names
the file and key; nothing is written), asks uv which build each profile can have
(:mod:`constraints_gen.locks.uvprobe`) and writes the block (:mod:`constraints_gen.locks.uvedit`).
``check`` says whether the block is fresh, stale (its profiles changed, or ``uv.lock`` locks other
versions than it pins) or edited by hand, offline. ``pick`` names the extra for a machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from constraints_gen.detect.hardware import Hardware
from constraints_gen.errors import InputError, NoFitError
from constraints_gen.fsutil import atomic_write
from constraints_gen.locks.uvblock import (
    BUILTIN_ROOT,
    FORMAT,
    RECORD_PATH,
    Block,
    BlockIndex,
    Record,
    Requirement,
    digest,
    managed_in,
    read_record,
)
from constraints_gen.locks.uvlock import read_uv_lock
from constraints_gen.names import canonical_name
from constraints_gen.profiles.candidates import TORCH_FAMILY, candidates, torch_index
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.project import Project, builtin_root, find_project, is_root
from constraints_gen.profiles.select import evaluate, rank_key
from constraints_gen.tomlio import read_toml
from constraints_gen.uvplatforms import parse_uv_platform

if TYPE_CHECKING:  # uvprobe imports tomlkit: only `write` loads it
    from constraints_gen.locks.uvprobe import Plan

#: CPython versions a requires-python is compared against (to narrow an extra with a marker).
KNOWN_PYTHONS = tuple(f"3.{minor}" for minor in range(8, 16))
_SYS_PLATFORM = {"linux": "linux", "windows": "win32", "darwin": "darwin"}
#: platform.machine() as PEP 508's platform_machine sees it, per system.
_MACHINE = {
    ("linux", "x86_64"): "x86_64",
    ("linux", "aarch64"): "aarch64",
    ("windows", "x86_64"): "AMD64",
    ("windows", "aarch64"): "ARM64",
    ("darwin", "x86_64"): "x86_64",
    ("darwin", "aarch64"): "arm64",
}

State = Literal["fresh", "stale", "edited"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteOptions:
    prefix: str = ""
    with_stack: bool = False
    force: bool = False
    command: str = "gen-constraints uv-project write"
    root: str | None = None  # the profiles' root as the record keeps it (root_text)
    #: The project's mirrors, as lock applies them (uvprobe.Context.mirrors): not inputs.
    mirrors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    path: Path
    changed: bool
    block: Block
    notices: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    path: Path
    state: State
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()  # not a verdict: e.g. no uv.lock to compare


@dataclass(frozen=True, slots=True, kw_only=True)
class Pick:
    extra: str
    profile: Profile
    reasons: tuple[str, ...]


def read_pyproject(path: Path) -> tuple[str, dict[str, Any]]:
    problems: list[str] = []
    data = read_toml(path, problems)
    if data is None:
        raise InputError(problems)
    return path.read_text(encoding="utf-8"), data


def find_root(path: Path, given: Path | None) -> Project:
    """The constraints_gen root whose profiles the block at ``path`` is made of: ``given``
    (--root, $GEN_CONSTRAINTS_ROOT), else the one its record names, else found as --root's
    default is (from the current directory upward, else the built-in profiles)."""
    record = None
    if given is None and path.is_file():
        record = read_record(path, read_pyproject(path)[1])
    if record is None or record.root is None:
        return find_project(given)
    if record.root == BUILTIN_ROOT:
        return Project(root=builtin_root(), builtin=True)
    folder = path.parent / record.root
    if not is_root(folder):
        raise InputError(
            [
                f"{path}: {RECORD_PATH}.root: {record.root!r} ({folder}) is not a constraints_gen"
                " root (expected profiles/manifest.toml in it)"
            ],
            tip="give --root DIR (and rewrite the block with write --root DIR to record it)",
        )
    return Project(root=folder.resolve(), builtin=False)


def root_text(path: Path, project: Project) -> str:
    """``project``'s root as the record keeps it: relative to the pyproject.toml's folder."""
    if project.builtin:
        return BUILTIN_ROOT
    try:
        relative = Path(os.path.relpath(project.root.resolve(), path.parent.resolve()))
    except ValueError:  # another drive (Windows): no relative path
        return project.root.resolve().as_posix()
    text = relative.as_posix()
    return text if text.startswith(("../", "/")) or text in (".", "..") else f"./{text}"


def fingerprint(profiles: Sequence[Profile], *, prefix: str, with_stack: bool) -> str:
    """What the block is made from: each profile's files as its builds read them, the candidate
    builds for its hardware (a row added to the build table can change the block), and options."""
    payload = {
        "format": FORMAT,
        "prefix": prefix,
        "with_stack": with_stack,
        "profiles": {
            p.name: [[[n, d] for n, d in build.inputs] for build in p.builds] for p in profiles
        },
        "candidates": {
            p.name: [[b.version, b.index and b.index.url] for b in candidates(p)] for p in profiles
        },
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def write(path: Path, profiles: Sequence[Profile], options: WriteOptions) -> WriteResult:
    """Write (or refresh) the block for ``profiles``; refuse with InputError, writing nothing."""
    from constraints_gen.locks import uvedit, uvprobe

    text, data = read_pyproject(path)
    old = read_record(path, data)
    problems: list[str] = []
    _check_project(path, data, problems)
    if problems:
        raise InputError(problems)
    if old is not None and not options.force and digest(managed_in(data, old)) != old.block:
        raise InputError(
            [f"{path}: {RECORD_PATH}: the block was edited by hand since it was written"],
            tip="rewrite it anyway with --force (your edits to the block are lost)",
        )
    planned = [_plan(path, data, p, options, problems) for p in profiles]
    plans = [plan for plan, _ in planned]
    notices = [narrowed for _, narrowed in planned if narrowed is not None]
    _check_names(path, data, old, plans, problems)
    _check_overrides(path, data, {"torch"}, problems)
    _check_sources(path, data, set(TORCH_FAMILY), problems)
    if problems:
        raise InputError(problems)
    context = uvprobe.Context(
        pyproject=path,
        data=data,
        drop_extras=() if old is None else old.extra_names,
        drop_indexes=() if old is None else old.indexes,
        conflicts_with=_user_torch_extras(data, old),
        mirrors=options.mirrors,
    )
    extras = tuple(uvprobe.probe(context, plan) for plan in plans)
    pinned = {r.name for extra in extras for r in extra.requirements}
    _check_overrides(path, data, pinned, problems)
    if problems:
        raise InputError(problems)
    indexes: dict[str, BlockIndex] = {}
    for extra in extras:
        if extra.index is not None and extra.index_url is not None:
            indexes[extra.index] = BlockIndex(name=extra.index, url=extra.index_url)
    for extra in extras:
        if not extra.torch_source.startswith("profile "):  # not the profile's own pin
            notices.append(f"extra {extra.name}: {extra.torch_source}")
    block = Block(
        extras=extras,
        indexes=tuple(indexes.values()),
        conflicts_with=context.conflicts_with,
        inputs=fingerprint(profiles, prefix=options.prefix, with_stack=options.with_stack),
        command=options.command,
        prefix=options.prefix,
        with_stack=options.with_stack,
        root=options.root,
    )
    if old is not None and old == block.record() and digest(managed_in(data, old)) == old.block:
        return WriteResult(path=path, changed=False, block=block, notices=tuple(notices))
    new = uvedit.render(text, old, block)
    if new != text:
        atomic_write(path, new, edited=text)
    return WriteResult(path=path, changed=new != text, block=block, notices=tuple(notices))


def _check_project(path: Path, data: dict[str, Any], problems: list[str]) -> None:
    project = data.get("project")
    if not isinstance(project, dict):
        problems.append(
            f"{path}: project: no [project] table; extras live in"
            " [project.optional-dependencies] (a workspace root without a project has none)"
        )
        return
    dynamic = project.get("dynamic", [])
    for key in ("optional-dependencies", "dependencies"):
        if isinstance(dynamic, list) and key in dynamic:
            what = (
                "the build backend sets the extras, so none can be added here"
                if key == "optional-dependencies"
                else "the build backend sets the requirements, so the project's torch range"
                " cannot be read"
            )
            problems.append(f"{path}: project.dynamic: lists {key!r}: {what}")


def _plan(
    path: Path,
    data: dict[str, Any],
    profile: Profile,
    options: WriteOptions,
    problems: list[str],
) -> tuple[Plan, str | None]:
    """The extra of ``profile``, and the notice that says when it applies to fewer CPythons than
    the project admits."""
    from constraints_gen.locks.uvprobe import Plan

    extra = canonical_name(options.prefix + profile.name)
    versions = {build.pins for build in profile.builds}
    torch_pins = {next((p.version for p in pins if p.name == "torch"), None) for pins in versions}
    if len(torch_pins) > 1:
        problems.append(
            f"{profile.path}: pins.torch: differs between the profile's platforms"
            f" ({', '.join(sorted(str(v) for v in torch_pins))}); one extra holds one build"
        )
    index = torch_index(profile)
    marker, narrowed = _marker(path, data, profile, extra, problems)
    stack = tuple(
        Requirement(name=pin.name, version=pin.version, marker=marker)
        for pin in profile.pins
        if options.with_stack and pin.name not in TORCH_FAMILY
    )
    plan = Plan(
        profile=profile,
        extra=extra,
        prefix=options.prefix,
        index=None if index is None else options.prefix + index.name,
        index_url=None if index is None else index.url,
        marker=marker,
        stack=stack,
    )
    return plan, narrowed


def _marker(
    path: Path,
    data: dict[str, Any],
    profile: Profile,
    extra: str,
    problems: list[str],
) -> tuple[str | None, str | None]:
    """(the marker, a notice): the platforms the profile is built for, and its Pythons where
    the project admits more (the notice says so)."""
    platforms = []
    for name in profile.platforms:
        spec = parse_uv_platform(name)
        platforms.append(
            f"sys_platform == '{_SYS_PLATFORM[spec.system]}' and platform_machine =="
            f" '{_MACHINE[(spec.system, spec.machine)]}'"
        )
    parts = [platforms[0] if len(platforms) == 1 else " or ".join(f"({p})" for p in platforms)]
    raw = data.get("project", {}).get("requires-python", "")
    try:
        spec_set = SpecifierSet(raw if isinstance(raw, str) else "")
    except InvalidSpecifier:
        problems.append(f"{path}: project.requires-python: {raw!r} is not a version range")
        return None, None
    admitted = [
        py for py in KNOWN_PYTHONS if spec_set.contains(f"{py}.99") or spec_set.contains(py)
    ]
    served = sorted({py for build in profile.builds for py in build.pythons}, key=_py_key)
    both = [py for py in served if py in admitted]
    if not both:
        problems.append(
            f"{path}: project.requires-python: {raw or '(any)'} admits none of the CPython"
            f" versions profile {profile.name} is built for ({', '.join(served)})"
        )
        return None, None
    narrowed = None
    if set(admitted) - set(both):
        low, high = both[0], both[-1]
        parts.append(
            f"python_version == '{low}'"
            if low == high
            else f"python_version >= '{low}' and python_version <= '{high}'"
        )
        narrowed = (
            f"extra {extra} applies on CPython {low}-{high} only: profile {profile.name} is"
            f" built for {', '.join(served)}; requires-python {raw or '(any)'} admits more"
        )
    if len(parts) == 1:
        return parts[0], narrowed
    return " and ".join(f"({p})" if " or " in p else p for p in parts), narrowed


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _check_names(
    path: Path, data: dict[str, Any], old: Record | None, plans: Sequence[Plan], problems: list[str]
) -> None:
    ours = set(old.extra_names) if old else set()
    taken = {
        canonical_name(name)
        for name in data["project"].get("optional-dependencies", {})
        if name not in ours
    }
    seen: dict[str, str] = {}
    for plan in plans:
        other = seen.setdefault(plan.extra, plan.profile.name)
        if other != plan.profile.name:
            problems.append(
                f"{plan.profile.path}: name: profiles {other} and {plan.profile.name} make the"
                f" same extra name {plan.extra!r} (extra names are normalized, PEP 685)"
            )
        if plan.extra in taken:
            problems.append(
                f"{path}: project.optional-dependencies.{plan.extra}: the extra name is taken"
                f" (profile {plan.profile.name} needs it); name the block's extras with"
                " --prefix, e.g. --prefix gc-"
            )
    our_indexes = set(old.indexes) if old else set()
    user_indexes = [
        entry.get("name")
        for entry in data.get("tool", {}).get("uv", {}).get("index", [])
        if isinstance(entry, dict) and entry.get("name") not in our_indexes
    ]
    urls: dict[str, str] = {}
    before = len(problems)
    for plan in plans:
        for build in candidates(plan.profile):
            if build.index is None:
                continue
            name, url = plan.prefix + build.index.name, build.index.url
            if name in user_indexes:
                i = user_indexes.index(name)
                problems.append(  # once per index: dict.fromkeys below
                    f"{path}: tool.uv.index[{i}].name: {name!r} is taken (profile"
                    f" {plan.profile.name} needs an index of that name); use --prefix, e.g."
                    " --prefix gc-"
                )
            if urls.setdefault(name, url) != url:
                problems.append(
                    f"{plan.profile.path}: indexes: {name!r} names two URLs among the profiles"
                    f" ({urls[name]}, {url})"
                )
    problems[before:] = list(dict.fromkeys(problems[before:]))


def _check_overrides(
    path: Path, data: dict[str, Any], names: set[str], problems: list[str]
) -> None:
    overrides = data.get("tool", {}).get("uv", {}).get("override-dependencies", [])
    for i, entry in enumerate(overrides if isinstance(overrides, list) else []):
        try:
            name = canonical_name(PackagingRequirement(str(entry)).name)
        except InvalidRequirement:
            continue
        if name in names:
            message = (
                f"{path}: tool.uv.override-dependencies[{i}]: {entry!r} overrides {name}, which"
                " the block pins per extra: uv replaces every requirement on an overridden"
                " package, so each extra would silently get the override's version"
            )
            if message not in problems:
                problems.append(message)


def _check_sources(path: Path, data: dict[str, Any], names: set[str], problems: list[str]) -> None:
    """A torch-family package routed to one index for every extra: each extra's pin would be
    looked up there (``torch==2.7.1`` matches ``2.7.1+cu124`` too: PEP 440 ignores a local
    label the specifier does not name), whichever build the profile needs."""
    sources = data.get("tool", {}).get("uv", {}).get("sources", {})
    for raw, value in sources.items():
        if canonical_name(raw) not in names:
            continue
        entries = value if isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "extra" not in entry:
                key = f"tool.uv.sources.{raw}" + (f"[{i}]" if isinstance(value, list) else "")
                message = (
                    f"{path}: {key}: routes {raw} for every extra; the block pins it per extra,"
                    ' from each profile\'s index: add extra = "..." to it, or remove it'
                )
                if message not in problems:
                    problems.append(message)


def _user_torch_extras(data: dict[str, Any], old: Record | None) -> tuple[str, ...]:
    """The user's own extras that route a torch-family package (uv's recipe by hand): the block's
    extras conflict with them too."""
    ours = set(old.extra_names) if old else set()
    found: list[str] = []
    for raw, value in data.get("tool", {}).get("uv", {}).get("sources", {}).items():
        if canonical_name(raw) not in TORCH_FAMILY:
            continue
        for entry in value if isinstance(value, list) else [value]:
            extra = entry.get("extra") if isinstance(entry, dict) else None
            if isinstance(extra, str) and extra not in ours and extra not in found:
                found.append(extra)
    return tuple(found)


def check(path: Path, profiles: ProfileSet) -> CheckResult:
    """fresh / stale / edited, and why; uv.lock beside the file is compared offline."""
    _, data = read_pyproject(path)
    record = read_record(path, data)
    if record is None:
        raise InputError(
            [f"{path}: {RECORD_PATH}: no block here"],
            tip="write one: gen-constraints uv-project write --profile NAME ...",
        )
    now = managed_in(data, record)
    if digest(now) != record.block:
        return CheckResult(
            path=path,
            state="edited",
            reasons=(
                f"the block was edited by hand since `{record.command}` wrote it (its extras,"
                " conflicts, indexes or sources differ from what was written)",
            ),
        )
    reasons: list[str] = []
    chosen: list[Profile] = []
    known = {p.name: p for p in profiles.profiles}
    for extra, name in record.extras:
        if name not in known:
            reasons.append(
                f"extra {extra}: profile {name} no longer exists in {profiles.directory}"
            )
        else:
            chosen.append(known[name])
    if (
        not reasons
        and fingerprint(chosen, prefix=record.prefix, with_stack=record.with_stack) != record.inputs
    ):
        reasons.append(
            "the profiles (or their build table) changed since the block was written"
            f" ({', '.join(p.name for p in chosen)}): refresh it with `{record.command}`"
        )
    reasons += _compare_lock(path, data, record)
    notes = (
        ()
        if (path.parent / "uv.lock").is_file()
        else (
            f"no uv.lock beside {path.name}: the locked versions were not compared (run uv lock)",
        )
    )
    return CheckResult(
        path=path, state="stale" if reasons else "fresh", reasons=tuple(reasons), notes=notes
    )


def _compare_lock(path: Path, data: dict[str, Any], record: Record) -> list[str]:
    lock_path = path.parent / "uv.lock"
    if not lock_path.is_file():
        return []
    lock = read_uv_lock(lock_path)
    name = str(data["project"].get("name", ""))
    optional = data["project"].get("optional-dependencies", {})
    reasons: list[str] = []
    for extra in record.extra_names:
        try:
            locked = lock.extra_versions(name, extra)
        except InputError as exc:
            reasons.append(exc.message)
            continue
        for line in optional.get(extra, []):
            requirement = PackagingRequirement(line)
            pinned = next(iter(requirement.specifier)).version
            have = locked.get(canonical_name(requirement.name))
            if have is None or not _same(have, pinned):
                reasons.append(
                    f"{lock_path}: extra {extra}: {requirement.name}"
                    f" {have or 'is not locked'}{'' if have is None else ' is locked'}, the"
                    f" block pins {pinned} (run uv lock)"
                )
    return reasons


def _same(locked: str, pinned: str) -> bool:
    """Exactly the same version, local label included (2.5.1+cu121 is not 2.5.1+cu124)."""
    try:
        return Version(locked) == Version(pinned)
    except InvalidVersion:
        return locked == pinned


def read_block(path: Path) -> tuple[dict[str, Any], Record]:
    _, data = read_pyproject(path)
    record = read_record(path, data)
    if record is None:
        raise InputError(
            [f"{path}: {RECORD_PATH}: no block here"],
            tip="write one: gen-constraints uv-project write --profile NAME ...",
        )
    return data, record


def pick(path: Path, profiles: ProfileSet, hardware: Hardware) -> Pick:
    """The block's extra for ``hardware``: the best fit by profile selection's rule."""
    _, record = read_block(path)
    verdicts = []
    lines = []
    for extra, name in record.extras:
        profile = profiles.get(name)
        verdict = evaluate(profile, hardware)
        verdicts.append((extra, verdict))
        lines.append(f"  {extra} (profile {name}): " + "; ".join(verdict.reasons))
    fitting = [(extra, v) for extra, v in verdicts if v.fits]
    if not fitting:
        raise NoFitError(
            f"no extra of the block in {path} fits this machine"
            f" ({hardware.platform.describe()}):\n" + "\n".join(lines),
            tip="add a profile that fits: gen-constraints explain; then uv-project write",
        )
    extra, verdict = max(fitting, key=lambda item: rank_key(item[1]))
    return Pick(extra=extra, profile=verdict.profile, reasons=verdict.reasons)
