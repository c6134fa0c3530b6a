"""Project configuration: where to download from, kept out of the locks' fingerprints.

``constraints-gen.toml`` beside ``profiles/`` (optional)::

    [mirrors]                        # index name -> URL, or a folder of wheels
    pytorch-cpu = "/opt/wheels"      # relative folders are relative to this file
    pypi = "https://mirror.example/simple"   # "pypi" names the default index

Where packages are downloaded from does not change what a lock means, so a mirror never makes a
lock stale. ``--mirror NAME=WHERE`` on the command line wins over this file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from constraints_gen.errors import InputError
from constraints_gen.tomlio import read_toml, type_name

CONFIG_NAME = "constraints-gen.toml"
#: The mirror name that replaces the default index (PyPI).
DEFAULT_INDEX = "pypi"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path | None  # None when the project has no configuration file
    mirrors: Mapping[str, str] = field(default_factory=dict)


def is_local(where: str) -> bool:
    """A folder of wheels (used as --find-links) rather than an index URL."""
    return "://" not in where or where.startswith("file://")


def load_config(root: Path) -> Config:
    """Read ``root/constraints-gen.toml``; raise one InputError listing every problem."""
    path = root / CONFIG_NAME
    if not path.is_file():
        return Config(path=None)
    problems: list[str] = []
    data = read_toml(path, problems) or {}
    for key in sorted(set(data) - {"mirrors"}):
        problems.append(f"{path}: {key}: unknown key (expected only [mirrors])")
    table = data.get("mirrors", {})
    mirrors: dict[str, str] = {}
    if not isinstance(table, dict):
        problems.append(f'{path}: mirrors: expected a table of name = "URL or folder"')
        table = {}
    for name, where in table.items():
        if not isinstance(where, str) or not where:
            got = type_name(where) if not isinstance(where, str) else "an empty string"
            problems.append(f"{path}: mirrors.{name}: expected a URL or a folder, got {got}")
            continue
        if "://" not in where:
            where = str((root / where).resolve())
        mirrors[name] = where
    if problems:
        raise InputError(problems)
    return Config(path=path, mirrors=mirrors)


MIRRORS_ENV = "GEN_CONSTRAINTS_MIRRORS"


def parse_mirrors(values: Sequence[str], origin: str) -> dict[str, str]:
    """``["pytorch-cpu=/opt/wheels", ...]`` -> ``{"pytorch-cpu": "/opt/wheels"}``."""
    mirrors = {}
    for value in values:
        name, sep, where = value.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise InputError([f"{origin}: expected INDEX=URL or INDEX=DIR, got {value!r}"])
        mirrors[name.strip()] = absolute(where.strip())
    return mirrors


def absolute(where: str) -> str:
    """A folder given relative to the current directory, made absolute (uv runs elsewhere)."""
    return where if "://" in where else str(Path(where).resolve())


def mirrors_from_env() -> dict[str, str]:
    """Mirrors from ``$GEN_CONSTRAINTS_MIRRORS`` ("name=url name2=/dir", spaces or commas)."""
    raw = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
    return parse_mirrors(raw, f"${MIRRORS_ENV}")
