"""Project configuration: where to download from, kept out of the locks' fingerprints.

``constraints-gen.toml`` beside ``profiles/`` (optional)::

    [mirrors]                        # index name -> URL, or a folder of wheels
    pytorch-cpu = "wheels/cpu"       # relative folders are relative to this file
    pypi = "https://mirror.example/simple"   # "pypi" names the default index

Where packages are downloaded from does not change what a lock means, so a mirror never makes a
lock stale. ``--mirror NAME=WHERE`` on the command line wins over ``$GEN_CONSTRAINTS_MIRRORS``,
which wins over this file. A folder mirror that cannot serve is refused by every command that
would use it (:func:`check_mirrors`), never printed or searched in silence.
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

if TYPE_CHECKING:
    from constraints_gen.profiles.model import Index, Pin, Profile

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
    from constraints_gen.tomlio import read_toml, type_name  # tomllib: not on sync's no-op path

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
    """``["pytorch-cpu=/srv/wheels", ...]`` -> ``{"pytorch-cpu": "/srv/wheels"}``."""
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


#: What :func:`check_mirrors` saw of each folder mirror it checked: (folder, its sorted listing).
#: Made of tuples and strings, so the answer cache can store it and compare it on a hit.
Listings = tuple[tuple[str, tuple[str, ...]], ...]


def check_mirrors(
    root: Path, profile: Profile, mirrors: Mapping[str, str], *, default_index: bool = True
) -> Listings:
    """Refuse (InputError, exit 2) every folder mirror of ``profile``'s indexes (and of the
    default index, with ``default_index``) that cannot serve: a folder that does not exist or
    cannot be listed, or that holds no wheel of the pinned packages of the index it stands in for
    (at the pinned version, local label included). One message per mirror, naming the folder,
    where it was set (file and key, the variable, or --mirror) and the index.

    The one check of emit, ``env``, ``lock``, ``wheelhouse fill`` and ``sync``. It lists each
    folder once and reads no file (no hashing): cheap enough for every emit. URL mirrors are
    not contacted here (a remote index answers for itself when it is used)."""
    urls = {index.name: index.url for index in profile.indexes}
    names = [*urls, DEFAULT_INDEX] if default_index else list(urls)
    problems: list[tuple[str, str, str]] = []  # (index name, mirror, what is wrong)
    seen: list[tuple[str, tuple[str, ...]]] = []
    for name in dict.fromkeys(names):
        where = mirrors.get(name)
        folder = None if where is None else local_folder(where)
        if where is None or folder is None:
            continue
        try:
            listing = tuple(sorted(os.listdir(folder)))
        except FileNotFoundError:
            problems.append((name, where, "no such folder"))
            continue
        except NotADirectoryError:
            problems.append((name, where, "not a folder"))
            continue
        except OSError as exc:
            problems.append((name, where, f"cannot be listed ({exc.strerror or exc})"))
            continue
        seen.append((str(folder), listing))
        pins, every = served_pins(profile, name)
        held = _wheels(listing)
        lacking = [pin for pin in pins if (pin.name, pin.version.lower()) not in held]
        if not pins or not lacking or (not every and len(lacking) < len(pins)):
            continue
        wanted = ", ".join(f"{pin.name} {pin.version}" for pin in lacking)
        if every:
            why = f"holds no wheel of {wanted} (pinned by profile {profile.name})"
        else:
            why = f"holds no wheel of any package profile {profile.name} pins ({wanted})"
        problems.append((name, where, why))
    if problems:  # where each was set is looked up only now: a check that passes reads no file
        raise InputError(
            [
                f"mirror {where} ({mirror_origin(root, name, where)}) for"
                f" {_index_label(name, urls)}: {why}"
                for name, where, why in problems
            ],
            tip="put the pinned wheels in that folder, or drop the mirror to use the index itself",
        )
    return tuple(seen)


def _index_label(name: str, urls: Mapping[str, str]) -> str:
    return f"index {name} ({urls[name]})" if name in urls else "the default index (pypi)"


def served_pins(profile: Profile, name: str) -> tuple[tuple[Pin, ...], bool]:
    """(pins, every): the pins a mirror of index ``name`` must hold a wheel of; all of them when
    ``every``, else at least one (it must serve something, and which ones cannot be told).

    A pin with a local version label (``2.13.0+cpu``) cannot come from PyPI, which refuses local
    versions on upload (PEP 440, "Local version identifiers": they "SHOULD NOT be used when
    publishing upstream projects to a public index server"; PyPI's upload check in Warehouse,
    ``warehouse/forklift/legacy.py``, answers "Can't use PEP 440 local versions."), so it comes
    from the profile's own index: with one index, every such pin is that index's. The default
    index serves every pin of a profile without indexes; otherwise the pins without a label
    (some may still come from the profile's index: jetson_jp6's torch 2.8.0)."""
    local = tuple(pin for pin in profile.pins if "+" in pin.version)
    plain = tuple(pin for pin in profile.pins if "+" not in pin.version)
    if name == DEFAULT_INDEX and name not in {index.name for index in profile.indexes}:
        return plain, not profile.indexes
    if len(profile.indexes) == 1 and local:
        return local, True
    return local or profile.pins, False


def _wheels(listing: Iterable[str]) -> set[tuple[str, str]]:
    """(canonical name, lower-case version) of each wheel file name in ``listing`` (PEP 427:
    ``name-version(-build)?-python-abi-platform.whl``)."""
    from constraints_gen.names import canonical_name

    found = set()
    for entry in listing:
        if entry.lower().endswith(".whl"):
            parts = entry[:-4].split("-")
            if len(parts) in (5, 6):
                found.add((canonical_name(parts[0]), parts[1].lower()))
    return found


def mirror_origin(root: Path, name: str, where: str) -> str:
    """Where the mirror ``name`` = ``where`` was set, as a message names it: the variable, the
    project file and key, else the command line (--mirror wins over both)."""
    try:
        if mirrors_from_env().get(name) == where:
            return f"set by ${MIRRORS_ENV}"
        config = load_config(root)
    except InputError:
        return "set by --mirror"
    if config.path is not None and config.mirrors.get(name) == where:
        return f"set by {config.path}: mirrors.{name}"
    return "set by --mirror"
