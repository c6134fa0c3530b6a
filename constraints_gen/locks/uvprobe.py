"""Which torch build a profile's extra can have inside a uv project's own ranges: ask uv.

For each profile, a *probe* copy of the project is locked with the real ``uv lock`` in a
temporary folder: the user's requirements, extras, dependency groups and ``[tool.uv]`` settings
as written, made virtual (no build), plus one extra that asks for the profile's torch family
from the profile's index: ``torch<=<pin>`` (the newest build the project allows, never newer
than the pin) when the pin carries a local label (one variant per index) and no build table
sits beside the profiles; ``torch==<version>`` for a plain PyPI pin and for each build the
table names (:mod:`constraints_gen.profiles.candidates`: the profile's pin first, then every
build of the table that runs on the profile's hardware, newest first, each on its own index).
uv then applies every torch requirement the project states, directly or through a dependency
that pins torch (``vllm``). The locked torch must be vouched for by
:mod:`constraints_gen.profiles.candidates` (the profile's pin, a table build, or without a
table a build of its variant); the torch-family packages and the runtime packages they depend
on (``nvidia-*``...) become the extra's exact pins, each with the marker uv locked it under.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.version import Version

from constraints_gen import runner
from constraints_gen.errors import ConstraintsGenError, NoBuildInRange, ToolError
from constraints_gen.locks.uvblock import ExtraBlock, Requirement
from constraints_gen.locks.uvlock import LockedDist, UvLock, read_uv_lock
from constraints_gen.names import canonical_name
from constraints_gen.profiles.candidates import (
    ROUTED_BY_VENDOR,
    RUNTIME_PREFIXES,
    TORCH_FAMILY,
    TorchBuild,
    accepts,
    candidates,
)
from constraints_gen.profiles.config import DEFAULT_INDEX, local_folder
from constraints_gen.profiles.model import Profile
from constraints_gen.redact import split_credentials

#: A probe resolves against the project's indexes: it must finish (runner.run kills it after).
PROBE_TIMEOUT_S = 900.0
PROBE_NAME = "gen-constraints-probe"
PROBE_DEFAULT = "gen-constraints-default"  # the probe's name for a mirror of the default index


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What one profile's extra asks for, before resolution."""

    profile: Profile
    extra: str
    prefix: str  # --prefix: the block's index names are prefix + the profile's
    index: str | None  # the block's name for the index of the profile's preferred build
    index_url: str | None
    marker: str | None  # platforms and Pythons the extra applies to
    stack: tuple[Requirement, ...]  # --with-stack: the profile's other pins
    read_from: str | None = None  # a mirror of index_url: where the probe reads it


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """The project as the probes see it."""

    pyproject: Path
    data: Mapping[str, Any]  # the parsed file
    drop_extras: tuple[str, ...] = ()  # a previous block's extras: left out of the probe
    drop_indexes: tuple[str, ...] = ()  # and its indexes
    conflicts_with: tuple[str, ...] = ()  # the user's extras that route torch themselves
    #: The project's mirrors (constraints-gen.toml [mirrors], $GEN_CONSTRAINTS_MIRRORS,
    #: --mirror), as ``lock`` applies them: a mirror named like an index is read instead of it,
    #: the ``pypi`` one instead of the default index. They are where this machine reads, not
    #: inputs: the block names each profile's published index.
    mirrors: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The probe copy keeps the project's name: its extras may name the project itself
        (``dev = ["trainer[test]"]``)."""
        name = self.data.get("project", {}).get("name")
        return name if isinstance(name, str) and name else PROBE_NAME


def probe(context: Context, plan: Plan) -> ExtraBlock:
    """Lock a probe copy of the project with ``plan``'s extra; return the extra's exact pins.

    Each candidate build of the profile's hardware (:func:`candidates`, newest first) is tried
    in turn, on its own index: the first one the project's requirements admit wins."""
    builds = candidates(plan.profile)
    if not builds:
        raise ConstraintsGenError(f"{plan.profile.path}: pins.torch: profile has no torch pin")
    failures: list[NoBuildInRange] = []
    for build in builds:
        index = build.index
        try:
            return _probe_build(
                context,
                replace(
                    plan,
                    index=None if index is None else plan.prefix + index.name,
                    index_url=None if index is None else index.url,
                    read_from=None if index is None else context.mirrors.get(index.name),
                ),
                build,
            )
        except NoBuildInRange as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    raise NoBuildInRange("\n".join(f.message for f in failures), tip=failures[0].tip)


def _probe_build(context: Context, plan: Plan, candidate: TorchBuild) -> ExtraBlock:
    pinned = Version(candidate.version)
    exact = candidate.exact or not plan.index
    torch_spec = f"torch=={candidate.version}" if exact else f"torch<={pinned.public}"
    routed = ["torch"]
    if plan.index:  # the vendor's triton (uv's guide), and the family the project names itself
        routed += _vendor_triton(context, plan, torch_spec)
    # The torch-family packages the project names, and those a pass finds locked from another
    # index than torch's, are routed to the profile's index too where it serves them (triton is
    # on the CUDA indexes, not on the CPU one): each is kept only if the probe still locks.
    declared = [n for n in declared_family(context.data) if n not in routed] if plan.index else []
    lock = _try(context, plan, torch_spec, [*routed, *declared]) if declared else None
    if lock is not None:
        routed += declared
    elif len(declared) > 1:  # one at a time: those the index serves
        for name in declared:
            if (found := _try(context, plan, torch_spec, [*routed, name])) is not None:
                lock, routed = found, [*routed, name]
    if lock is None:
        lock = _lock(context, plan, torch_spec, routed)  # a failure here is the answer
    for _ in range(3):
        torch = _extra_dist(lock, context.name, plan.extra, "torch")
        family = _family(lock, context.name, plan.extra, torch)
        wanted = [
            d.name
            for d in family
            if plan.index and d.name not in routed and _same_variant(d, torch)
        ]
        if not wanted:
            break
        before = len(routed)
        lock, routed = _extend(context, plan, torch_spec, lock, routed, wanted)
        if len(routed) == before:
            break
    assert torch.version is not None
    build = accepts(plan.profile, torch.version)
    if build is None:
        raise NoBuildInRange(
            f"{context.pyproject}: profile {plan.profile.name}: uv locked torch"
            f" {torch.version} from {torch.registry or 'the default index'}, which is not a"
            f" build known to run on its hardware (the candidate was {candidate.version},"
            f" from {candidate.source})"
        )
    pins = _hardware_layer(lock, family, plan.marker)
    return ExtraBlock(
        name=plan.extra,
        profile=plan.profile.name,
        torch_source=build.source,
        requirements=(*pins, *(r for r in plan.stack if r.name not in {p.name for p in pins})),
        index=plan.index,
        index_url=plan.index_url,
        routed=tuple(sorted(name for name in routed if name in {p.name for p in pins}))
        if plan.index
        else (),
    )


def _try(context: Context, plan: Plan, torch_spec: str, routed: list[str]) -> UvLock | None:
    try:
        return _lock(context, plan, torch_spec, routed)
    except NoBuildInRange:
        return None


def _extend(
    context: Context,
    plan: Plan,
    torch_spec: str,
    lock: UvLock,
    routed: list[str],
    names: Sequence[str],
) -> tuple[UvLock, list[str]]:
    """``routed`` with as many of ``names`` as still lock: all at once, else one at a time."""
    if not names:
        return lock, routed
    if len(names) > 1 and (both := _try(context, plan, torch_spec, [*routed, *names])):
        return both, [*routed, *names]
    for name in names:
        if (found := _try(context, plan, torch_spec, [*routed, name])) is not None:
            lock, routed = found, [*routed, name]
    return lock, routed


def _vendor_triton(context: Context, plan: Plan, torch_spec: str) -> tuple[str, ...]:
    """The vendor's triton that the build depends on (``pytorch-triton-rocm``...), found by a
    discovery lock. uv applies sources to direct requirements only, so the extra must require
    it to route it; which of the vendor's names a build needs is its metadata's, read here from
    a copy where the profile's index is searched for every package (``unsafe-best-match``). The
    extra's pins come from the faithful probes that follow, never from this one."""
    names = ROUTED_BY_VENDOR.get(plan.profile.vendor, ())
    if not names:
        return ()
    try:
        lock = _lock(context, plan, torch_spec, ["torch"], discover=True)
    except NoBuildInRange:
        return ()  # the faithful probe says why
    torch = _extra_dist(lock, context.name, plan.extra, "torch")
    return tuple(dep.name for dep in torch.dependencies if dep.name in names)


def declared_family(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The torch-family packages (but torch) the project requires by name anywhere: its
    dependencies, extras and dependency groups."""
    project = data.get("project", {})
    lines = list(project.get("dependencies", []))
    for values in project.get("optional-dependencies", {}).values():
        lines += values
    for values in data.get("dependency-groups", {}).values():
        lines += [value for value in values if isinstance(value, str)]
    found = []
    for line in lines:
        try:
            name = canonical_name(PackagingRequirement(line).name)
        except InvalidRequirement:
            continue
        if name in TORCH_FAMILY and name != "torch" and name not in found:
            found.append(name)
    return tuple(found)


def _same_variant(dist: LockedDist, torch: LockedDist) -> bool:
    """A torch-family package locked from the default index while torch came from the profile's:
    torchvision 0.22.1 beside torch 2.7.1+cu126 needs the index's 0.22.1+cu126."""
    return dist.registry != torch.registry


def _family(lock: UvLock, project: str, extra: str, torch: LockedDist) -> list[LockedDist]:
    """The torch-family packages of the probe's extra: one per name (where the user's own
    conflicting extras lock other versions too, the one from torch's index, or the extra's)."""
    root = lock.project(project)
    named = {e.version for e in dict(root.extras).get(extra, ()) if e.version}
    out: list[LockedDist] = []
    for name in TORCH_FAMILY:
        dists = [d for d in lock.packages if d.name == name]
        if len(dists) > 1:
            dists = [d for d in dists if d.registry == torch.registry] or [
                d for d in dists if d.version in named
            ]
        if len(dists) == 1:
            out.append(dists[0])
    return out


def _extra_dist(lock: UvLock, project: str, extra: str, name: str) -> LockedDist:
    root = lock.project(project)
    entries = dict(root.extras).get(extra, ())
    entry = next((e for e in entries if e.name == name), None)
    dist = None if entry is None else lock.find(entry)
    if dist is None or dist.version is None:
        raise ToolError(f"{lock.path}: the probe's lock has no {name} for extra {extra}")
    return dist


def _hardware_layer(
    lock: UvLock, family: Sequence[LockedDist], marker: str | None
) -> tuple[Requirement, ...]:
    """The torch-family packages and, reachable from them, the runtime packages, exactly."""
    found: dict[str, Requirement] = {}
    todo: list[tuple[LockedDist, str | None]] = [(dist, None) for dist in family]
    while todo:
        dist, edge = todo.pop()
        if dist.name in found or dist.version is None:
            continue
        found[dist.name] = Requirement(
            name=dist.name, version=dist.version, marker=_and(edge, marker)
        )
        for dep in dist.dependencies:
            if dep.name in TORCH_FAMILY or dep.name.startswith(RUNTIME_PREFIXES):
                target = lock.find(dep)
                if target is not None:
                    todo.append((target, dep.marker))
    return tuple(found[name] for name in sorted(found))


def _and(edge: str | None, marker: str | None) -> str | None:
    """``edge`` (the marker uv locked a dependency under) within the extra's ``marker``. An edge
    that names extras (uv's forks) is uv's own bookkeeping: the extra's marker alone holds."""
    if edge is not None and "extra" in edge:
        edge = None
    if edge is None or marker is None:
        return edge or marker
    terms = f" and {marker} and "
    if (
        "(" not in edge
        and " or " not in edge
        and all(
            f" and {term} and " in terms or f"({term}" in terms or f"{term})" in terms
            for term in edge.split(" and ")
        )
    ):  # every term of the edge is already one of the extra's: sys_platform == 'linux'
        return marker
    return f"({edge}) and ({marker})"


def _lock(
    context: Context,
    plan: Plan,
    torch_spec: str,
    routed: Sequence[str],
    *,
    discover: bool = False,
) -> UvLock:
    text, env = _probe_text(context, plan, torch_spec, routed, discover=discover)
    pyproject = context.pyproject
    config = pyproject.parent / "uv.toml"
    with tempfile.TemporaryDirectory(prefix="gen-constraints-probe-") as folder:
        (Path(folder) / "pyproject.toml").write_text(text, encoding="utf-8")
        args: list[str | Path] = [runner.uv_bin(), "lock", "--quiet", "--directory", folder]
        if config.is_file():
            args += ["--config-file", config]
        if discover:  # every package may come from the profile's index (_vendor_triton)
            args += ["--index-strategy", "unsafe-best-match"]
        args += _default_mirror(context, Path(folder), env)
        result = runner.run(args, env=env, ok_codes=(0, 1, 2), timeout=PROBE_TIMEOUT_S)
        if result.returncode != 0:
            explanation = "\n".join(
                "    " + line for line in result.stderr.strip().splitlines() if line.strip()
            )
            hardware = _hardware_words(plan.profile)
            if "No solution found" not in result.stderr or _unread(result.stderr):
                # not an answer: network, offline, bad input
                raise ToolError(
                    f"{pyproject}: uv could not lock the probe for profile {plan.profile.name}"
                    f" (asked for {torch_spec}"
                    f"{' from index ' + str(plan.index_url) if plan.index_url else ''});"
                    f" uv says:\n{explanation}",
                    tip="the project's indexes (and the profile's) must be reachable; uv's"
                    " settings (uv.toml, UV_* variables) apply as for uv lock",
                )
            raise NoBuildInRange(
                f"{pyproject}: no torch build for profile {plan.profile.name} ({hardware})"
                f" satisfies the project's requirements: asked uv for {torch_spec}"
                f"{' from index ' + str(plan.index_url) if plan.index_url else ''}; uv says:\n"
                f"{explanation}",
                tip="widen the project's torch range, or leave this profile out",
            )
        return read_uv_lock(Path(folder) / "uv.lock")


#: uv's hints that a "No solution found" comes from what it could not read, not from the
#: project's requirements (uv 0.13.9's wording, offline and after a failed fetch).
_UNREAD = ("because the network was disabled", "network error", "Failed to fetch")


def _unread(stderr: str) -> bool:
    return any(words in stderr for words in _UNREAD)


def _hardware_words(profile: Profile) -> str:
    if profile.vendor == "nvidia":
        archs = " ".join(f"{a}.{b}" for a, b in profile.compute_capabilities)
        return f"CUDA {profile.cuda_text}, compute capabilities {archs}"
    if profile.vendor == "amd":
        return f"ROCm {profile.rocm}, {' '.join(profile.gfx_targets)}"
    return f"{profile.vendor} build"


def _probe_text(
    context: Context,
    plan: Plan,
    torch_spec: str,
    routed: Sequence[str],
    *,
    discover: bool = False,
) -> tuple[str, dict[str, str | None]]:
    """The probe copy's pyproject.toml, and the environment uv reads it with (the credentials
    of a mirror travel there, never in the file)."""
    env: dict[str, str | None] = {}
    data = context.data
    # The block's previous extras, and the user's own torch extras: they are resolved apart from
    # this one (the block's conflict set), so the probe leaves them out.
    drop_extras = (*context.drop_extras, *context.conflicts_with)
    project = data["project"]
    optional = {
        name: list(value)
        for name, value in project.get("optional-dependencies", {}).items()
        if name not in drop_extras and name != plan.extra
    }
    # With the extra's marker, as the block will write it: the probe resolves the extra for the
    # profile's platforms and Pythons only, as uv will lock it.
    where = "" if plan.marker is None else f" ; {plan.marker}"
    optional[plan.extra] = [
        f"{torch_spec}{where}",
        *(f"{name}{where}" for name in routed if name != "torch"),
    ]
    probe_project: dict[str, Any] = {
        "name": context.name,
        "version": "0",
        "dependencies": list(project.get("dependencies", [])),
        "optional-dependencies": optional,
    }
    if "requires-python" in project:
        probe_project["requires-python"] = project["requires-python"]
    uv = dict(data.get("tool", {}).get("uv", {}))
    uv["package"] = False
    uv.pop("workspace", None)
    # The user's own per-extra entries for packages we route stay; ours (a previous block) go.
    conflicts = [
        group
        for group in uv.get("conflicts", [])
        if not any(item.get("extra") in drop_extras for item in group)
    ]
    if conflicts:
        uv["conflicts"] = conflicts
    else:
        uv.pop("conflicts", None)
    sources = {
        name: [
            e
            for e in (value if isinstance(value, list) else [value])
            if e.get("extra") not in drop_extras
        ]
        for name, value in uv.get("sources", {}).items()
    }
    indexes = [i for i in uv.get("index", []) if i.get("name") not in context.drop_indexes]
    if plan.index is not None:
        for name in routed:
            sources.setdefault(canonical_name(name), []).append(
                {"index": plan.index, "extra": plan.extra}
            )
        indexes.append(
            {
                "name": plan.index,
                **(
                    {"url": str(plan.index_url)}
                    if plan.read_from is None
                    else _where(plan.index, plan.read_from, env)
                ),
                "explicit": not discover,
            }
        )
    uv["sources"] = {name: value for name, value in sources.items() if value}
    if indexes:
        uv["index"] = indexes
    doc: dict[str, Any] = {"project": probe_project, "tool": {"uv": uv}}
    if "dependency-groups" in data:
        doc["dependency-groups"] = data["dependency-groups"]
    return tomlkit.dumps(doc), env


def _default_mirror(context: Context, folder: Path, env: dict[str, str | None]) -> list[str]:
    """uv's options that read the default index from its mirror (``pypi``), unless the project
    names its own default index. On the command line, where uv reads them whatever its
    configuration (``UV_NO_CONFIG`` drops a pyproject's ``default = true``; seen with uv
    0.13.9): a URL as ``--default-index``, a folder of wheels as ``--find-links`` over an empty
    default index (``--no-index`` would drop the profile's named index too)."""
    mirror = context.mirrors.get(DEFAULT_INDEX)
    own = context.data.get("tool", {}).get("uv", {}).get("index", [])
    if mirror is None or any(isinstance(i, dict) and i.get("default") is True for i in own):
        return []
    env.update({key: None for key in runner.AMBIENT_DEFAULT})  # the explicit mirror wins
    where = local_folder(mirror)
    if where is not None:
        empty = folder / "empty-default-index"
        empty.mkdir()
        return ["--default-index", empty.as_uri(), "--find-links", str(where.resolve())]
    clean, credentials = split_credentials(mirror)
    if credentials is None:
        return ["--default-index", clean]
    key = "".join(c if c.isalnum() else "_" for c in PROBE_DEFAULT).upper()
    env[f"UV_INDEX_{key}_USERNAME"], env[f"UV_INDEX_{key}_PASSWORD"] = credentials
    return ["--default-index", f"{PROBE_DEFAULT}={clean}"]


def _where(name: str, location: str, env: dict[str, str | None]) -> dict[str, str]:
    """An index entry's location: a folder is a flat index (a folder of wheels, as ``lock``
    reads a mirror folder with --find-links); a URL's credentials go to uv's environment
    (``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD``, uv's reference, "Environment variables")."""
    folder = local_folder(location)
    if folder is not None:
        return {"url": str(folder.resolve()), "format": "flat"}
    clean, credentials = split_credentials(location)
    if credentials is not None:
        key = "".join(c if c.isalnum() else "_" for c in name).upper()
        env[f"UV_INDEX_{key}_USERNAME"], env[f"UV_INDEX_{key}_PASSWORD"] = credentials
    return {"url": clean}
