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
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen.errors import InputError
from constraints_gen.redact import parse_url
from constraints_gen.tomlio import read_toml, type_name

if TYPE_CHECKING:
    from constraints_gen.profiles.model import Index

CONFIG_NAME = "constraints-gen.toml"
#: The mirror name that replaces the default index (PyPI).
DEFAULT_INDEX = "pypi"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path | None  # None when the project has no configuration file
    mirrors: Mapping[str, str] = field(default_factory=dict)


def local_folder(where: str) -> Path | None:
    """The folder ``where`` names, or None when it is a remote URL: the one rule for "a URL or a
    folder" (mirrors, --find-links, a wheelhouse, the index client).

    ``file://`` URLs name a folder on this machine (RFC 8089: ``file:///srv/wheels`` is
    ``/srv/wheels``); any other ``scheme://`` is remote; anything else is a path, relative
    ones to the current directory (as returned: not resolved). A remote URL that cannot be
    read is an InputError naming it with its password masked (:func:`~constraints_gen.redact.
    parse_url`)."""
    scheme, sep, _ = where.partition("://")
    if not sep:
        return Path(where)
    if scheme.lower() == "file":
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(where).path))
    parse_url(where)  # a URL that cannot be read (a raw "/" in its password) is exit 2, masked
    return None


def is_local(where: str) -> bool:
    """A folder of wheels (used as --find-links) rather than an index URL."""
    return local_folder(where) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Locations:
    """Where a profile's packages download from, mirrors applied: each a URL or a folder."""

    default: str | None  # replaces the default index (PyPI); None: the tool's own default
    extra: tuple[str, ...]  # each profile index, in order, each once


def locations(
    indexes: Iterable[Index], mirrors: Mapping[str, str], *, default: str | None = None
) -> Locations:
    """The mirrors applied to ``indexes``: a mirror named like an index replaces its URL, and
    ``default`` (else the mirror named :data:`DEFAULT_INDEX`) replaces the default index."""
    return Locations(
        default=default or mirrors.get(DEFAULT_INDEX),
        extra=tuple(dict.fromkeys(mirrors.get(index.name, index.url) for index in indexes)),
    )


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
        folder = local_folder(where)
        mirrors[name] = where if folder is None else str((root / folder).resolve())
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
    """A folder (a path relative to the current directory, or a ``file://`` URL) as an
    absolute path (uv runs elsewhere); a remote URL as given."""
    folder = local_folder(where)
    return where if folder is None else str(folder.resolve())


def mirrors_from_env() -> dict[str, str]:
    """Mirrors from ``$GEN_CONSTRAINTS_MIRRORS`` ("name=url name2=/dir", spaces or commas)."""
    raw = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
    return parse_mirrors(raw, f"${MIRRORS_ENV}")


def project_mirrors(root: Path, given: Mapping[str, str]) -> dict[str, str]:
    """The mirrors of the project at ``root``: ``given`` (--mirror over $GEN_CONSTRAINTS_MIRRORS)
    over its constraints-gen.toml."""
    return {**load_config(root).mirrors, **given}
