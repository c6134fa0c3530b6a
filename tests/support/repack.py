"""Wheels of distributions installed in the running environment, packed again from their files.

Lets a test give pip (``PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR``) everything it needs to install this
project offline: the test environment already holds each dependency, so nothing is downloaded.
The wheel holds each file the distribution's RECORD lists (scripts that pip generates from
entry points excepted: pip writes them again) and a fresh RECORD.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["closure", "repack", "requirements_of"]

_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def requirements_of(pyproject: Path) -> list[str]:
    """The distribution names pip needs to build and install the project of ``pyproject``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    environment = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    lines = [*data["build-system"]["requires"], *data["project"]["dependencies"]]
    requirements = [Requirement(line) for line in lines]
    return [r.name for r in requirements if r.marker is None or r.marker.evaluate(environment)]


def closure(names: Iterable[str]) -> list[str]:
    """``names`` and every distribution they require here (markers evaluated, no extras)."""
    environment = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    seen: dict[str, None] = {}
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = None
        for line in md.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(canonicalize_name(requirement.name))
    return sorted(seen)


def _tag(dist: md.Distribution) -> str:
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    if not tags:
        return "py3-none-any"
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(values) for values in parts)


def repack(name: str, dest: Path) -> Path:
    """Write a wheel of installed distribution ``name`` into ``dest``; return its path."""
    dist = md.distribution(name)
    groups = ("console_scripts", "gui_scripts")
    scripts = {ep.name for ep in dist.entry_points if ep.group in groups}
    project = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    data = f"{project}-{dist.version}.data"
    bin_dir = Path(sys.prefix) / ("Scripts" if sys.platform == "win32" else "bin")
    wheel = dest / f"{project}-{dist.version}-{_tag(dist)}.whl"
    record: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file))).resolve()
            if file.name in _SKIP and file.parent.name.endswith(".dist-info"):
                continue
            if "__pycache__" in file.parts or not path.is_file():
                continue
            if file.parts[0] == "..":
                if path.parent != bin_dir.resolve() or path.name in scripts:
                    continue  # only real scripts (uv's binary); pip writes entry points itself
                arcname = f"{data}/scripts/{path.name}"
            else:
                arcname = file.as_posix()
            content = path.read_bytes()
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            archive.writestr(info, content)
            digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
            record.append(f"{arcname},sha256={digest.decode()},{len(content)}")
        info_dir = next(p.parts[0] for p in (dist.files or []) if p.parts[0].endswith(".dist-info"))
        record.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return wheel
