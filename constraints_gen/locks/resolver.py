"""The resolver backends' interface: what a compile needs from uv or pip-tools, and nothing else.

A backend turns one profile's input files (``manifest.in``, ``pins.txt``, ``overrides.txt``, written
by :func:`constraints_gen.locks.compile.write_inputs`) into ``out.txt``, a hashed requirements
file with line annotations. Everything else (writing the inputs, reading and sealing the lock, the
exact-pin check) is the same for every backend and lives in :mod:`~constraints_gen.locks.compile`,
which holds the registry (:func:`~constraints_gen.locks.compile.resolver_for`). The backends:
:class:`~constraints_gen.locks.compile.UvResolver` (the default) and
:class:`~constraints_gen.locks.piptools.PipToolsResolver`.

No runner, no backend and no config is imported here: ``lock --check`` (timed) loads this module
for the CLI's ``--resolver`` choices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

if TYPE_CHECKING:
    from constraints_gen.profiles.model import Profile

#: The resolver backends, as ``lock --resolver`` names them.
ResolverName = Literal["uv", "pip-tools"]
RESOLVER_NAMES: tuple[ResolverName, ...] = get_args(ResolverName)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockOptions:
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    #: index name -> replacement URL, or a local folder of wheels (used as --find-links)
    mirrors: Mapping[str, str] = field(default_factory=dict)
    find_links: tuple[str, ...] = ()
    offline: bool = False
    resolver: ResolverName = "uv"


class Resolver(ABC):
    """One resolver backend. Stateless: one instance serves every compile, in any thread."""

    name: ClassVar[ResolverName]
    #: True: :meth:`check` refuses no target, so ``lock`` starts a stale target's run while it
    #: still reads the others (every mirror check still precedes every write). False: every
    #: target is checked before any run starts.
    starts_early: ClassVar[bool] = True

    def check(self, targets: Sequence[tuple[Profile, str]]) -> None:  # noqa: B027 (optional hook)
        """Refuse early (before any compile) the (profile, Python) targets this backend cannot
        lock; every backend may lock every target unless it says otherwise."""

    @abstractmethod
    def compile_args(self, profile: Profile, python: str, options: LockOptions) -> list[str]:
        """The command line that resolves ``profile`` for CPython ``python``, run in the folder
        of its input files and writing ``out.txt`` there."""

    @abstractmethod
    def env(self, profile: Profile, options: LockOptions) -> dict[str, str | None]:
        """Environment changes for that command (None removes a variable): the sources'
        credentials travel here, never in the command line."""


def source_args(profile: Profile, options: LockOptions) -> list[str]:
    """Where to look and what may move, as pip-compile takes them; an index URL with
    credentials is left out (:func:`pip_source_env` hands it to pip in its environment)."""
    from constraints_gen.profiles.config import is_local, locations
    from constraints_gen.redact import has_credentials

    args = []
    where = locations(profile.indexes, options.mirrors)
    if where.default is not None:  # the default index: a URL, or a folder
        pypi = where.default
        if is_local(pypi):
            args += ["--no-index", "--find-links", pypi]
        elif not has_credentials(pypi):
            args += ["--index-url", pypi]
    for extra in where.extra:
        if is_local(extra):
            args += ["--find-links", extra]
        elif not has_credentials(extra):
            args += ["--extra-index-url", extra]
    for link in options.find_links:
        args += ["--find-links", link]
    return args + move_args(options)


def pip_source_env(profile: Profile, options: LockOptions) -> dict[str, str]:
    """pip's environment for the index URLs with credentials that :func:`source_args` leaves
    out ($PIP_INDEX_URL, $PIP_EXTRA_INDEX_URL: the environment of a process is readable only by
    its user, its command line by everyone)."""
    from constraints_gen.profiles.config import is_local, locations
    from constraints_gen.redact import has_credentials

    where = locations(profile.indexes, options.mirrors)
    env = {}
    default = where.default
    if default is not None and not is_local(default) and has_credentials(default):
        env["PIP_INDEX_URL"] = default
    extra = [e for e in where.extra if not is_local(e) and has_credentials(e)]
    if extra:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
    return env


def move_args(options: LockOptions) -> list[str]:
    """What may move: --upgrade, --upgrade-package NAME."""
    args = ["--upgrade"] if options.upgrade else []
    for name in options.upgrade_packages:
        args += ["--upgrade-package", name]
    return args
