"""Build small, deterministic, spec-conformant wheels for tests (stdlib only)."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["build_wheel", "normalize", "sha256_of"]

_DATE_TIME = (2020, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--


def normalize(name: str) -> str:
    """PEP 503 normalized project name (lowercase, runs of ``-_.`` -> ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_name(name: str) -> str:
    """Distribution name as used in wheel filenames and ``.dist-info`` dirs."""
    return normalize(name).replace("-", "_")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _metadata(
    name: str,
    version: str,
    requires: Sequence[str],
    requires_python: str | None,
    extra_metadata: str,
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {req}" for req in requires]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    text = "\n".join(lines) + "\n"
    if extra_metadata:
        text += extra_metadata if extra_metadata.endswith("\n") else extra_metadata + "\n"
    return text


def _wheel_file(tag: str) -> str:
    pythons, abis, platforms = tag.split("-")
    purelib = "true" if tag.endswith("-any") else "false"
    lines = [
        "Wheel-Version: 1.0",
        "Generator: constraints_gen-tests (0)",
        f"Root-Is-Purelib: {purelib}",
    ]
    lines += [
        f"Tag: {py}-{abi}-{plat}"
        for py in pythons.split(".")
        for abi in abis.split(".")
        for plat in platforms.split(".")
    ]
    return "\n".join(lines) + "\n"


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    files: Mapping[str, str] | None = None,
    extra_metadata: str = "",
) -> Path:
    """Write ``<dist>-<version>-<tag>.whl`` into ``dest`` and return its path.

    The output is byte-for-byte deterministic for identical inputs.
    """
    if tag.count("-") != 2:
        raise ValueError(f"tag must be python-abi-platform, got {tag!r}")
    dist = _dist_name(name)
    dist_info = f"{dist}-{version}.dist-info"
    if files is None:
        files = {f"{dist}/__init__.py": f'__version__ = "{version}"\n'}
    contents: dict[str, bytes] = {p: t.encode("utf-8") for p, t in files.items()}
    contents[f"{dist_info}/METADATA"] = _metadata(
        name, version, requires, requires_python, extra_metadata
    ).encode("utf-8")
    contents[f"{dist_info}/WHEEL"] = _wheel_file(tag).encode("utf-8")
    record_path = f"{dist_info}/RECORD"
    record = "".join(
        f"{path},{_record_hash(data)},{len(data)}\n" for path, data in sorted(contents.items())
    )
    record += f"{record_path},,\n"
    contents[record_path] = record.encode("utf-8")

    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{dist}-{version}-{tag}.whl"
    # Payload sorted first; .dist-info last with RECORD as the final entry.
    order = sorted(p for p in contents if not p.startswith(dist_info))
    order += sorted(p for p in contents if p.startswith(dist_info) and p != record_path)
    order.append(record_path)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in order:
            info = zipfile.ZipInfo(path, date_time=_DATE_TIME)
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, contents[path])
    return out
