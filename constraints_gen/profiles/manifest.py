"""The manifest: version ranges of the stack, the resolver's fallback input.

``profiles/manifest.toml``::

    [requirements]
    transformers = ">=4.51.3,!=4.52.*"   # PEP 440 specifiers; "" means any version
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from constraints_gen.names import canonical_name, is_valid_name
from constraints_gen.tomlio import read_toml, type_name

MANIFEST_NAME = "manifest.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    name: str  # canonical
    specifier: SpecifierSet

    def line(self) -> str:
        return f"{self.name}{self.specifier}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    path: Path
    requirements: tuple[Requirement, ...]
    data: dict[str, Any]  # the parsed file, for fingerprints

    def get(self, name: str) -> Requirement | None:
        return next((req for req in self.requirements if req.name == name), None)


def duplicate_names(path: Path, key: str, table: dict[str, Any]) -> list[str]:
    """Problems for keys of ``table`` that name one package (PEP 503: ``Torch`` and ``torch``,
    ``torch_audio`` and ``torch-audio``): the last would silently win."""
    seen: dict[str, str] = {}
    problems = []
    for name in table:
        if not isinstance(name, str) or not is_valid_name(name):
            continue
        first = seen.setdefault(canonical_name(name), name)
        if first != name:
            problems.append(
                f"{path}: {key}.{first}, {key}.{name}: the same package"
                f" ({canonical_name(name)}, PEP 503); keep one"
            )
    return problems


def parse_manifest(path: Path, problems: list[str]) -> Manifest | None:
    """Parse the manifest, appending every problem to ``problems``."""
    data = read_toml(path, problems)
    if data is None:
        return None
    before = len(problems)
    for key in sorted(set(data) - {"requirements"}):
        problems.append(f"{path}: {key}: unknown key (expected only [requirements])")
    table = data.get("requirements")
    requirements: list[Requirement] = []
    if not isinstance(table, dict):
        problems.append(f'{path}: requirements: expected a table of name = "specifier"')
        table = {}
    problems += duplicate_names(path, "requirements", table)
    for raw_name, raw_spec in table.items():
        key = f"requirements.{raw_name}"
        if not is_valid_name(raw_name):
            problems.append(f"{path}: {key}: invalid package name")
            continue
        name = canonical_name(raw_name)
        if not isinstance(raw_spec, str):
            got = type_name(raw_spec)
            problems.append(f"{path}: {key}: expected a specifier string, got {got}")
            continue
        try:
            spec = SpecifierSet(raw_spec)
        except InvalidSpecifier:
            problems.append(
                f"{path}: {key}: invalid version specifier {raw_spec!r}"
                ' (expected PEP 440, e.g. ">=4.51.3,!=4.52.*")'
            )
            continue
        requirements.append(Requirement(name=name, specifier=spec))
    if len(problems) > before:
        return None
    requirements.sort(key=lambda req: req.name)
    return Manifest(path=path, requirements=tuple(requirements), data=data)
