"""Where profiles and locks live: a user's repository, or the ones built into the package.

A project root is a folder holding ``profiles/manifest.toml``. It is ``--root DIR`` when given,
else the nearest such folder from the current directory upward, else the built-in set (inside the
wheel as ``constraints_gen/_builtin``, or the checkout this package runs from).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from constraints_gen.caches import cache_dir as cache_dir  # where it was; the policy is there
from constraints_gen.errors import InputError
from constraints_gen.reporter import REPORT

#: manifest.MANIFEST_NAME, not imported from there: that module loads packaging and tomllib, and
#: emit's cache finds the project before deciding whether it needs them
MANIFEST_NAME = "manifest.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    root: Path
    builtin: bool

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    @property
    def generated_dir(self) -> Path:
        return self.root / "generated"

    def lock_path(self, profile: str, python: str, platform: str | None = None) -> Path:
        """``generated/<profile>/py3.X.lock.txt``; with ``platform`` (a profile for several
        platforms, :attr:`Profile.layout_platform`): ``generated/<profile>/<platform>/...``."""
        return self._folder(profile, platform) / f"py{python}.lock.txt"

    def constraints_path(self, profile: str, python: str, platform: str | None = None) -> Path:
        return self._folder(profile, platform) / f"py{python}.constraints.txt"

    def _folder(self, profile: str, platform: str | None) -> Path:
        folder = self.generated_dir / profile
        return folder if platform is None else folder / platform


def is_root(path: Path) -> bool:
    return (path / "profiles" / MANIFEST_NAME).is_file()


def builtin_root() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_builtin", package.parent):
        if is_root(candidate):
            return candidate
    raise InputError([f"{package}: the built-in profiles are missing (broken install?)"])


def find_project(root: Path | None = None, cwd: Path | None = None) -> Project:
    if root is not None:
        if not is_root(root):
            expected = root / "profiles" / MANIFEST_NAME
            raise InputError([f"{root}: not a constraints_gen root (expected {expected})"])
        return Project(root=root, builtin=False)
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_root(folder):
            return Project(root=folder, builtin=False)
    builtin = builtin_root()
    # the user learns which folder a command works on
    REPORT.notice(
        f"no profiles/manifest.toml here or above; using the built-in profiles in {builtin}"
    )
    return Project(root=builtin, builtin=True)
