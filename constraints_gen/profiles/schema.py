"""The checks of one profile file on its own: its keys, and each value's type and form.

Every problem is collected (file, key path, what was expected) before the loader raises one
error; values the checks pass are parsed without further checks
(:mod:`constraints_gen.profiles.layers`). The hardware keys' own checks are beside their types in
:mod:`constraints_gen.profiles.needs`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from packaging.version import Version

from constraints_gen.detect.hardware import parse_cc
from constraints_gen.names import is_valid_name
from constraints_gen.profiles.manifest import MANIFEST_NAME, duplicate_names
from constraints_gen.profiles.needs import KEYS, Bad, check_table, valid_as
from constraints_gen.tomlio import type_name
from constraints_gen.uvplatforms import parse_uv_platform

_TOP = {
    "name", "description", "extends", "abstract", "hardware", "target", "pins", "indexes",
    "platform", "verify",
}  # fmt: skip
_VERIFY = {"imports"}
_TARGET = {"platform", "platforms", "python", "commit_lock"}
_PLATFORM_TABLE = {"hardware", "target", "pins", "indexes"}
_PLATFORM_TARGET = {"python", "commit_lock"}
_PIN = {"version", "override", "reason"}
_INDEX = {"name", "url"}
#: A profile name is a file name on every system: no spaces, separators or leading dot.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_file(path: Path, data: dict[str, Any], problems: list[str]) -> bool:
    """Check one file's own keys and value types (not yet merged with its parents)."""
    before = len(problems)

    def bad(key: str, expected: str, value: object = None) -> None:
        got = "" if value is None else f", got {type_name(value)}"
        problems.append(f"{path}: {key}: expected {expected}{got}")

    _unknown(path, "", data, _TOP, problems)
    if data.get("name") != path.stem:
        bad("name", f'"{path.stem}" (the file name without .toml)')
    if "description" in data and not isinstance(data["description"], str):
        bad("description", "a string", data["description"])
    if "extends" in data:
        _check_extends(path, data["extends"], bad)
    if "abstract" in data and not isinstance(data["abstract"], bool):
        bad("abstract", "true or false", data["abstract"])
    _check_tables(path, "", data, set(KEYS), _TARGET, bad, problems)
    _check_verify(path, data.get("verify", {}), bad, problems)
    target = data.get("target", {})
    if isinstance(target, dict):
        _check_platform_keys(target, bad)
    tables = data.get("platform", {})
    if not isinstance(tables, dict):
        bad("platform", "tables [platform.<uv platform>.hardware] (and .target, .pins, .indexes)")
    else:
        for name, table in tables.items():
            key = f"platform.{name}"
            try:
                parse_uv_platform(name)
            except ValueError as exc:
                problems.append(f"{path}: {key}: {exc}")
                continue
            if not isinstance(table, dict):
                bad(key, "a table of hardware, target, pins, indexes", table)
                continue
            _unknown(path, f"{key}.", table, _PLATFORM_TABLE, problems)
            hardware = table.get("hardware", {})
            if isinstance(hardware, dict) and "vendor" in hardware:
                problems.append(
                    f"{path}: {key}.hardware.vendor: a profile is one vendor on every platform;"
                    " set hardware.vendor (or write another profile)"
                )
                table = {**table, "hardware": {k: v for k, v in hardware.items() if k != "vendor"}}
            _check_tables(
                path, f"{key}.", table, set(KEYS) - {"vendor"}, _PLATFORM_TARGET, bad, problems
            )
    return len(problems) == before


def _unknown(
    path: Path, prefix: str, table: dict[str, Any], allowed: set[str], problems: list[str]
) -> None:
    for key in sorted(set(table) - allowed):
        problems.append(
            f"{path}: {prefix}{key}: unknown key (expected one of {', '.join(sorted(allowed))})"
        )


def _check_verify(path: Path, verify: Any, bad: Bad, problems: list[str]) -> None:
    if not isinstance(verify, dict):
        bad("verify", "a table", verify)
        return
    for key in sorted(set(verify) - _VERIFY):
        problems.append(f"{path}: verify.{key}: unknown key (expected imports)")
    imports = verify.get("imports", [])
    if not isinstance(imports, list):
        bad("verify.imports", 'an array of module names like ["torch", "peft"]', imports)
        return
    for i, module in enumerate(imports):
        if not (isinstance(module, str) and all(p.isidentifier() for p in module.split("."))):
            bad(f"verify.imports[{i}]", f'a module name like "torch.cuda" (got {module!r})')


def _check_extends(path: Path, parent: object, bad: Bad) -> None:
    if not isinstance(parent, str):
        bad("extends", "a profile name", parent)
    elif parent == Path(MANIFEST_NAME).stem:
        bad(
            "extends",
            f"a profile name; {parent!r} is the manifest ({MANIFEST_NAME}), not a profile",
        )
    elif SAFE_NAME.match(parent) is None or not parent.isascii():
        bad(
            "extends",
            "the name of a profile in this folder (its file name without .toml, no path),"
            f" got {parent!r}",
        )


def _check_tables(
    path: Path,
    prefix: str,
    data: dict[str, Any],
    hardware_keys: set[str],
    target_keys: set[str],
    bad: Bad,
    problems: list[str],
) -> None:
    """[hardware], [target], [pins] and [[indexes]] of a file, or of one [platform.X]."""
    for table, allowed in (("hardware", hardware_keys), ("target", target_keys)):
        section = data.get(table, {})
        if not isinstance(section, dict):
            bad(f"{prefix}{table}", "a table", section)
            continue
        _unknown(path, f"{prefix}{table}.", section, allowed, problems)
    check_table(prefix, data.get("hardware", {}), bad)
    _check_target(prefix, data.get("target", {}), bad)
    _check_pins(path, prefix, data.get("pins", {}), bad, problems)
    indexes = data.get("indexes", [])
    if not isinstance(indexes, list):
        bad(f"{prefix}indexes", f"an array of tables [[{prefix}indexes]]", indexes)
    else:
        for i, index in enumerate(indexes):
            key = f"{prefix}indexes[{i}]"
            if not isinstance(index, dict) or set(index) != _INDEX:
                bad(key, 'a table with exactly name = "..." and url = "..."')
            elif not all(isinstance(index[k], str) and index[k] for k in _INDEX):
                bad(key, "non-empty strings for name and url")


def _check_target(prefix: str, target: Any, bad: Bad) -> None:
    if not isinstance(target, dict):
        return
    if "commit_lock" in target and not isinstance(target["commit_lock"], bool):
        bad(f"{prefix}target.commit_lock", "true or false", target["commit_lock"])
    pythons = target.get("python", [])
    if not isinstance(pythons, list):
        bad(f"{prefix}target.python", 'an array like ["3.11", "3.12"]', pythons)
    else:
        for i, version in enumerate(pythons):
            if not valid_as(parse_cc)(version):
                bad(
                    f"{prefix}target.python[{i}]", f'a Python version like "3.11" (got {version!r})'
                )


def _check_platform_keys(target: dict[str, Any], bad: Bad) -> None:
    """``target.platform`` (the old single key) and ``target.platforms``."""
    if "platform" in target and "platforms" in target:
        bad(
            "target.platform",
            "only one of target.platform and target.platforms (platforms replaces platform)",
        )
        return
    if "platform" in target:
        values, key = [target["platform"]], "target.platform"
        if not isinstance(target["platform"], str):
            bad(key, 'a uv platform like "x86_64-manylinux_2_28"', target["platform"])
            return
    elif "platforms" in target:
        values, key = target["platforms"], "target.platforms"
        if not isinstance(values, list) or not values:
            bad(
                key,
                'a non-empty array like ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]',
                None if isinstance(values, list) else values,
            )
            return
    else:
        return
    seen: dict[tuple[str, str], int] = {}
    for i, value in enumerate(values):
        item = key if key == "target.platform" else f"{key}[{i}]"
        if not isinstance(value, str):
            bad(item, 'a uv platform like "x86_64-manylinux_2_28"', value)
            continue
        try:
            spec = parse_uv_platform(value)
        except ValueError as exc:
            bad(item, f"a uv --python-platform; {value!r} is {exc}")
            continue
        first = seen.setdefault((spec.system, spec.machine), i)
        if first != i:
            other = values[first]
            both = (
                f"{value!r} is listed twice"
                if other == value
                else (f"{value!r} and {other!r} are both {spec.system} {spec.machine}")
            )
            bad(item, f"one platform per system and machine; {both}")


def _check_pins(path: Path, prefix: str, pins: Any, bad: Bad, problems: list[str]) -> None:
    if not isinstance(pins, dict):
        bad(f"{prefix}pins", 'a table of name = "version"', pins)
        return
    problems += duplicate_names(path, f"{prefix}pins", pins)
    for name, value in pins.items():
        key = f"{prefix}pins.{name}"
        if not is_valid_name(name):
            problems.append(f"{path}: {key}: invalid package name")
            continue
        if isinstance(value, dict):
            for extra in sorted(set(value) - _PIN):
                problems.append(
                    f"{path}: {key}.{extra}: unknown key (expected version, override, reason)"
                )
            if not isinstance(value.get("override", False), bool):
                bad(f"{key}.override", "true or false", value["override"])
            if not isinstance(value.get("reason", ""), str):
                bad(f"{key}.reason", "a string", value["reason"])
            key, value = f"{key}.version", value.get("version")
        elif value is False:
            continue  # not in this build
        if not valid_as(Version)(value):
            bad(key, f'an exact version like "2.5.1" or "2.5.1+cu121" (got {value!r})')
