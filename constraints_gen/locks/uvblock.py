"""The managed block in a uv project's ``pyproject.toml``: what it holds, how it is found again.

The block is uv's documented PyTorch recipe (uv's guide "Using uv with PyTorch", section
"Configuring accelerators with optional dependencies"), made for each profile:

- one extra per profile in ``[project.optional-dependencies]``, pinning the hardware layer exactly
  (``torch==2.14.1+cu126``, the CUDA runtime packages that build depends on), with markers for
  the platforms and Pythons the profile is built for;
- one set in ``[tool.uv] conflicts`` holding those extras (uv then locks each one separately);
- one explicit ``[[tool.uv.index]]`` per profile index, and ``[tool.uv.sources]`` entries
  ``{ index = ..., extra = ... }`` routing each torch-family package of an extra to its index;
- a record, ``[tool.gen-constraints.uv-project]``: the command, a digest of the block as written
  and a fingerprint of its inputs. It finds the block's parts again among the user's own and
  tells a block edited by hand (the digest differs) from a stale one (the inputs changed).

Everything else in the file is the user's, kept as written: edits go through tomlkit, a
format-preserving TOML library (comments, order and spacing survive).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constraints_gen.errors import InputError

RECORD_TOOL = "gen-constraints"
RECORD_KEY = "uv-project"
RECORD_PATH = f"tool.{RECORD_TOOL}.{RECORD_KEY}"
FORMAT = 1
BUILTIN_ROOT = "builtin"  # Record.root of the installed package's profiles; folders start . or /


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    name: str  # canonical
    version: str  # exact, local label kept
    marker: str | None = None

    def text(self) -> str:
        pin = f"{self.name}=={self.version}"
        return pin if self.marker is None else f"{pin} ; {self.marker}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtraBlock:
    """One profile's extra."""

    name: str  # the extra's name (prefix + profile name)
    profile: str
    torch_source: str  # who vouches that this torch runs on the profile's hardware
    requirements: tuple[Requirement, ...]
    index: str | None  # the block's index its routed packages come from (None: default index)
    index_url: str | None
    routed: tuple[str, ...]  # packages routed to ``index`` for this extra


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockIndex:
    name: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    extras: tuple[ExtraBlock, ...]
    indexes: tuple[BlockIndex, ...]
    conflicts_with: tuple[str, ...]  # the user's own extras that also route a package we route
    inputs: str  # fingerprint of the profiles and options it was made from
    command: str
    prefix: str = ""
    with_stack: bool = False
    root: str | None = None  # the profiles' root, as the record keeps it (see Record.root)

    def managed(self) -> dict[str, Any]:
        """The block's entries as plain data, in the shape :func:`managed_in` reads back."""
        sources: dict[str, list[dict[str, str]]] = {}
        for extra in self.extras:
            for name in extra.routed:
                assert extra.index is not None
                sources.setdefault(name, []).append({"index": extra.index, "extra": extra.name})
        conflict = [{"extra": e.name} for e in self.extras] + [
            {"extra": name} for name in self.conflicts_with
        ]
        return {
            "extras": {e.name: [r.text() for r in e.requirements] for e in self.extras},
            "conflicts": [conflict] if len(conflict) > 1 else [],
            "indexes": [{"name": i.name, "url": i.url, "explicit": True} for i in self.indexes],
            "sources": sources,
        }

    def digest(self) -> str:
        return digest(self.managed())

    def record(self) -> Record:
        return Record(
            command=self.command,
            inputs=self.inputs,
            block=self.digest(),
            extras=tuple((e.name, e.profile) for e in self.extras),
            indexes=tuple(i.name for i in self.indexes),
            prefix=self.prefix,
            with_stack=self.with_stack,
            root=self.root,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """``[tool.gen-constraints.uv-project]``, as written."""

    command: str
    inputs: str
    block: str
    extras: tuple[tuple[str, str], ...]  # (extra, profile)
    indexes: tuple[str, ...]
    prefix: str = ""
    with_stack: bool = False
    #: Where the profiles came from, so that check, extra and verify find them again from any
    #: directory: :data:`BUILTIN_ROOT` (the installed package's), or the constraints_gen root's
    #: folder relative to the pyproject.toml's ("../infra", "./ml": a relative path keeps the
    #: file portable between checkouts). None: not recorded (found as --root would be).
    root: str | None = None

    @property
    def extra_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.extras)

    def to_toml(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "command": self.command,
            "inputs": self.inputs,
            "block": self.block,
            "extras": dict(self.extras),
            "indexes": list(self.indexes),
            "prefix": self.prefix,
            "with-stack": self.with_stack,
            **({} if self.root is None else {"root": self.root}),
        }


def digest(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def read_record(path: Path, data: dict[str, Any]) -> Record | None:
    """The record in ``data`` (the parsed file), None when there is none; InputError when it is
    not as this tool writes it."""
    table = data.get("tool", {}).get(RECORD_TOOL, {}).get(RECORD_KEY)
    if table is None:
        return None
    problems: list[str] = []

    def text(key: str) -> str:
        value = table.get(key) if isinstance(table, dict) else None
        if not isinstance(value, str):
            problems.append(f"{path}: {RECORD_PATH}.{key}: expected a string")
            return ""
        return value

    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise InputError(
            [f"{path}: {RECORD_PATH}.format: expected {FORMAT} (written by this tool)"],
            tip="rewrite the block: gen-constraints uv-project write --force ...",
        )
    extras, indexes = table.get("extras"), table.get("indexes")
    if not isinstance(extras, dict) or not all(isinstance(v, str) for v in extras.values()):
        problems.append(f"{path}: {RECORD_PATH}.extras: expected a table of extra = profile")
        extras = {}
    if not isinstance(indexes, list) or not all(isinstance(v, str) for v in indexes):
        problems.append(f"{path}: {RECORD_PATH}.indexes: expected an array of index names")
        indexes = []
    record = Record(
        command=text("command"),
        inputs=text("inputs"),
        block=text("block"),
        extras=tuple((str(k), str(v)) for k, v in extras.items()),
        indexes=tuple(indexes),
        prefix=str(table.get("prefix", "")),
        with_stack=table.get("with-stack") is True,
        root=table.get("root") if isinstance(table.get("root"), str) else None,
    )
    if "root" in table and record.root is None:
        problems.append(
            f'{path}: {RECORD_PATH}.root: expected a string ("{BUILTIN_ROOT}" or a folder)'
        )
    if problems:
        raise InputError(
            problems, tip="rewrite the block: gen-constraints uv-project write --force"
        )
    return record


def managed_in(data: dict[str, Any], record: Record) -> dict[str, Any]:
    """The block's entries as the file holds them now (found through the record)."""
    ours = set(record.extra_names)
    optional = data.get("project", {}).get("optional-dependencies", {})
    uv = data.get("tool", {}).get("uv", {})
    conflicts = [
        group
        for group in _list(uv.get("conflicts"))
        if isinstance(group, list) and any(_extra_of(item) in ours for item in group)
    ]
    indexes = [
        {k: v for k, v in entry.items() if k in ("name", "url", "explicit")}
        for entry in _list(uv.get("index"))
        if isinstance(entry, dict) and entry.get("name") in record.indexes
    ]
    sources: dict[str, list[Any]] = {}
    for name, value in (uv.get("sources") or {}).items():
        entries = [e for e in _list(value) if _extra_of(e) in ours]
        if entries:
            sources[name] = entries
    return {
        "extras": {name: optional.get(name) for name in record.extra_names},
        "conflicts": conflicts,
        "indexes": indexes,
        "sources": sources,
    }


def _list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _extra_of(item: object) -> object:
    return item.get("extra") if isinstance(item, dict) else None
