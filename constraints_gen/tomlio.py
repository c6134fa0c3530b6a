"""Reading TOML input files, with errors that name the file and line.

Hostile or broken files get one problem line each, never a traceback: files larger than
:data:`MAX_BYTES` (read no further), a byte order mark or UTF-16/32 text (TOML is UTF-8, TOML 1.0
"Spec"), bytes that are not UTF-8, and data nested deeper than :data:`MAX_DEPTH` (which would
exhaust Python's recursion limit in the parser or in the fingerprints).
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Profiles, the manifest and constraints-gen.toml are a few KiB; a larger file is a mistake.
MAX_BYTES = 1024 * 1024
#: Tables and arrays nested deeper than this are refused (real inputs use 3 or 4 levels).
MAX_DEPTH = 32
_BOMS = (
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """Parse ``path``; on failure append "<file>: <what> (at line L, column C)", return None."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return None
    problem = _decode_problem(raw)
    if problem is not None:
        problems.append(f"{path}: {problem}")
        return None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: invalid TOML: {exc}")
        return None
    except RecursionError:
        problems.append(f"{path}: nested more than {MAX_DEPTH} levels deep")
        return None
    if _too_deep(data):
        problems.append(f"{path}: nested more than {MAX_DEPTH} levels deep")
        return None
    return data


def _decode_problem(raw: bytes) -> str | None:
    if len(raw) > MAX_BYTES:
        return f"larger than {MAX_BYTES // 1024} KiB: not a profile or settings file"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return (
                f"starts with a {name} byte order mark; expected UTF-8 without one"
                " (save the file as UTF-8 without BOM)"
            )
    nul = raw.find(b"\x00")
    if nul >= 0:  # valid UTF-8, but never in TOML: UTF-16 text without its byte order mark
        line = raw.count(b"\n", 0, nul) + 1
        return f"line {line}, byte {nul}: a NUL byte (it looks like UTF-16); TOML files are UTF-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return f"line {line}, byte {exc.start}: not UTF-8; TOML files are UTF-8"
    return None


def _too_deep(data: object) -> bool:
    """Nesting deeper than MAX_DEPTH, found without recursion."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack += [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
    return False


def type_name(value: object) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
