"""Hardware profiles: TOML files in ``profiles/`` with exact pins for one kind of machine.

A profile file (``profiles/<name>.toml``; keys other than these are errors)::

    name = "cuda130"                 # must equal the file name
    description = "..."
    extends = "llm-stack"            # optional parent; its keys are inherited, ours win
    abstract = false                 # abstract profiles only carry shared pins

    [hardware]
    vendor = "nvidia"                # "nvidia" or "cpu"
    cuda = "13.0"                    # CUDA version of the torch build
    compute_capabilities = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]  # SASS in the build
    ptx = true                       # the build carries PTX for its newest architecture
    min_driver = "580.65.06"         # oldest driver that runs the build

    [target]
    platform = "x86_64-manylinux_2_28"   # uv --python-platform
    python = ["3.11", "3.12"]
    commit_lock = true               # false: no lock in generated/; locked on demand when used

    [pins]                           # exact versions, local labels allowed ("2.5.1+cu121")
    torch = "2.14.1"
    transformers = { version = "4.51.3", override = true, reason = "..." }

    [[indexes]]                      # extra indexes some pins come from
    name = "pytorch-cu121"
    url = "https://download.pytorch.org/whl/cu121"

    [verify]                         # optional: what `gen-constraints verify` imports
    imports = ["torch", "transformers", "peft"]  # default: the pinned stack's top-level modules
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from constraints_gen.errors import InputError
from constraints_gen.hardware import driver_tuple, parse_cc
from constraints_gen.manifest import MANIFEST_NAME, Manifest, parse_manifest
from constraints_gen.names import canonical_name, is_valid_name
from constraints_gen.tomlio import read_toml, type_name

_TOP = {"name", "description", "extends", "abstract", "hardware", "target", "pins", "indexes"}
_TOP |= {"verify"}
_VERIFY = {"imports"}
_HARDWARE = {"vendor", "cuda", "compute_capabilities", "ptx", "min_driver"}
_TARGET = {"platform", "python", "commit_lock"}
_PIN = {"version", "override", "reason"}
_INDEX = {"name", "url"}
VENDORS = ("nvidia", "cpu")


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    name: str  # canonical
    version: str  # normalized full version, local label kept
    override: bool
    reason: str | None
    origin: Path  # the file that set it


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    name: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    description: str
    path: Path
    chain: tuple[Path, ...]  # this file first, then its parents
    abstract: bool
    vendor: str
    cuda: tuple[int, int] | None
    compute_capabilities: tuple[tuple[int, int], ...]
    ptx: bool
    min_driver: str | None
    platform: str
    pythons: tuple[str, ...]
    commit_lock: bool  # False: never locked into generated/ (locked on demand, into the cache)
    pins: tuple[Pin, ...]
    indexes: tuple[Index, ...]
    inputs: tuple[tuple[str, Any], ...]  # (file name, parsed data) of the chain, for fingerprints
    verify_imports: tuple[str, ...] | None = None  # [verify] imports; None: the default modules

    @property
    def cuda_text(self) -> str | None:
        return None if self.cuda is None else f"{self.cuda[0]}.{self.cuda[1]}"

    def pin(self, name: str) -> Pin | None:
        return next((pin for pin in self.pins if pin.name == name), None)

    @property
    def torch_version(self) -> Version | None:
        pin = self.pin("torch")
        return None if pin is None else Version(pin.version)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSet:
    directory: Path
    manifest: Manifest
    profiles: tuple[Profile, ...]  # concrete (non-abstract) profiles, sorted by name

    def get(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.profiles) or "none"
        raise InputError([f"{self.directory}: no profile named {name!r} (known: {known})"])


def load_profiles(directory: Path) -> ProfileSet:
    """Load the manifest and every profile; raise one InputError listing every problem."""
    problems: list[str] = []
    manifest = parse_manifest(directory / MANIFEST_NAME, problems)
    raw: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == MANIFEST_NAME:
            continue
        data = read_toml(path, problems)
        if data is not None and _check_file(path, data, problems):
            raw[path.stem] = (path, data)
    profiles = [
        profile
        for name in sorted(raw)
        if (profile := _resolve(name, raw, problems)) is not None and not profile.abstract
    ]
    if manifest is not None:
        for profile in profiles:
            _check_against_manifest(profile, manifest, problems)
    if problems or manifest is None:
        raise InputError(sorted(dict.fromkeys(problems)))
    return ProfileSet(directory=directory, manifest=manifest, profiles=tuple(profiles))


def _check_file(path: Path, data: dict[str, Any], problems: list[str]) -> bool:
    """Check one file's own keys and value types (not yet merged with its parents)."""
    before = len(problems)

    def bad(key: str, expected: str, value: object = None) -> None:
        got = "" if value is None else f", got {type_name(value)}"
        problems.append(f"{path}: {key}: expected {expected}{got}")

    for key in sorted(set(data) - _TOP):
        problems.append(f"{path}: {key}: unknown key (expected one of {', '.join(sorted(_TOP))})")
    if data.get("name") != path.stem:
        bad("name", f'"{path.stem}" (the file name without .toml)')
    for key in ("description", "extends"):
        if key in data and not isinstance(data[key], str):
            bad(key, "a string", data[key])
    if "abstract" in data and not isinstance(data["abstract"], bool):
        bad("abstract", "true or false", data["abstract"])
    for table, allowed in (("hardware", _HARDWARE), ("target", _TARGET)):
        section = data.get(table, {})
        if not isinstance(section, dict):
            bad(table, "a table", section)
            continue
        for key in sorted(set(section) - allowed):
            problems.append(
                f"{path}: {table}.{key}: unknown key (expected one of {', '.join(sorted(allowed))})"
            )
    _check_hardware(data.get("hardware", {}), bad)
    _check_verify(path, data.get("verify", {}), bad, problems)
    _check_target(data.get("target", {}), bad)
    _check_pins(path, data.get("pins", {}), bad, problems)
    indexes = data.get("indexes", [])
    if not isinstance(indexes, list):
        bad("indexes", "an array of tables [[indexes]]", indexes)
    else:
        for i, index in enumerate(indexes):
            if not isinstance(index, dict) or set(index) != _INDEX:
                bad(f"indexes[{i}]", 'a table with exactly name = "..." and url = "..."')
            elif not all(isinstance(index[k], str) and index[k] for k in _INDEX):
                bad(f"indexes[{i}]", "non-empty strings for name and url")
    return len(problems) == before


def _check_hardware(hw: Any, bad: Any) -> None:
    if not isinstance(hw, dict):
        return
    if "vendor" in hw and hw["vendor"] not in VENDORS:
        bad("hardware.vendor", '"nvidia" or "cpu"' + f" (got {hw['vendor']!r})")
    if "cuda" in hw and not _valid(parse_cc, hw["cuda"]):
        bad("hardware.cuda", f'a CUDA version like "12.8" (got {hw["cuda"]!r})')
    if "min_driver" in hw and not _valid(driver_tuple, hw["min_driver"]):
        bad("hardware.min_driver", f'a driver version like "525.60.13" (got {hw["min_driver"]!r})')
    if "ptx" in hw and not isinstance(hw["ptx"], bool):
        bad("hardware.ptx", "true or false", hw["ptx"])
    ccs = hw.get("compute_capabilities", [])
    if not isinstance(ccs, list):
        bad("hardware.compute_capabilities", 'an array like ["8.0", "9.0"]', ccs)
    else:
        for i, cc in enumerate(ccs):
            if not _valid(parse_cc, cc):
                bad(f"hardware.compute_capabilities[{i}]", f'a string like "9.0" (got {cc!r})')


def _check_verify(path: Path, verify: Any, bad: Any, problems: list[str]) -> None:
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


def _check_target(target: Any, bad: Any) -> None:
    if not isinstance(target, dict):
        return
    if "platform" in target and not isinstance(target["platform"], str):
        bad("target.platform", 'a uv platform like "x86_64-manylinux_2_28"', target["platform"])
    if "commit_lock" in target and not isinstance(target["commit_lock"], bool):
        bad("target.commit_lock", "true or false", target["commit_lock"])
    pythons = target.get("python", [])
    if not isinstance(pythons, list):
        bad("target.python", 'an array like ["3.11", "3.12"]', pythons)
    else:
        for i, version in enumerate(pythons):
            if not _valid(parse_cc, version):
                bad(f"target.python[{i}]", f'a Python version like "3.11" (got {version!r})')


def _check_pins(path: Path, pins: Any, bad: Any, problems: list[str]) -> None:
    if not isinstance(pins, dict):
        bad("pins", 'a table of name = "version"', pins)
        return
    for name, value in pins.items():
        key = f"pins.{name}"
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
        if not _valid(Version, value):
            bad(key, f'an exact version like "2.5.1" or "2.5.1+cu121" (got {value!r})')


def _valid(parse: Any, value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except (ValueError, InvalidVersion):
        return False
    return True


def _resolve(
    name: str, raw: dict[str, tuple[Path, dict[str, Any]]], problems: list[str]
) -> Profile | None:
    """Merge a profile with its parents; report a missing parent or an ``extends`` cycle."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    current: str | None = name
    while current is not None:
        if current not in raw:
            child = chain[-1][0]
            if (child.parent / f"{current}.toml").is_file():
                return None  # the parent exists but is broken: its own problems are reported
            problems.append(f"{child}: extends: no profile named {current!r} in {child.parent}")
            return None
        if any(path.stem == current for path, _ in chain):
            cycle = " -> ".join([p.stem for p, _ in chain] + [current])
            problems.append(f"{raw[name][0]}: extends: cycle {cycle}")
            return None
        chain.append(raw[current])
        current = raw[current][1].get("extends")
    return _merge(chain, problems)


def _merge(chain: list[tuple[Path, dict[str, Any]]], problems: list[str]) -> Profile | None:
    path, own = chain[0]
    hardware: dict[str, Any] = {}
    target: dict[str, Any] = {}
    pins: dict[str, Pin] = {}
    indexes: dict[str, Index] = {}
    imports: list[str] | None = None
    for file, data in reversed(chain):  # parents first, children override
        imports = data.get("verify", {}).get("imports", imports)
        hardware.update(data.get("hardware", {}))
        target.update(data.get("target", {}))
        for raw_name, value in data.get("pins", {}).items():
            table = value if isinstance(value, dict) else {"version": value}
            name = canonical_name(raw_name)
            pins[name] = Pin(
                name=name,
                version=str(Version(table["version"])),
                override=table.get("override", False),
                reason=table.get("reason"),
                origin=file,
            )
        for index in data.get("indexes", []):
            indexes[index["name"]] = Index(name=index["name"], url=index["url"])
    abstract = bool(own.get("abstract", False))
    if not abstract:
        missing = [f"hardware.{k}" for k in ("vendor",) if k not in hardware]
        if hardware.get("vendor") == "nvidia":
            missing += [
                f"hardware.{k}"
                for k in ("cuda", "compute_capabilities", "min_driver")
                if k not in hardware
            ]
        missing += [f"target.{k}" for k in ("platform", "python") if k not in target]
        missing += ["pins.torch"] if "torch" not in pins else []
        for key in missing:
            problems.append(f"{path}: {key}: required (in this file or a parent it extends)")
        if missing:
            return None
    return Profile(
        name=path.stem,
        description=str(own.get("description", "")),
        path=path,
        chain=tuple(file for file, _ in chain),
        abstract=abstract,
        vendor=str(hardware.get("vendor", "")),
        cuda=parse_cc(hardware["cuda"]) if "cuda" in hardware else None,
        compute_capabilities=tuple(
            sorted(parse_cc(cc) for cc in hardware.get("compute_capabilities", []))
        ),
        ptx=bool(hardware.get("ptx", False)),
        min_driver=hardware.get("min_driver"),
        platform=str(target.get("platform", "")),
        pythons=tuple(target.get("python", [])),
        commit_lock=bool(target.get("commit_lock", True)),
        pins=tuple(sorted(pins.values(), key=lambda pin: pin.name)),
        indexes=tuple(indexes.values()),
        # [verify] only says what to check after installing: it does not make a lock stale.
        inputs=tuple(
            (file.name, {k: v for k, v in data.items() if k != "verify"}) for file, data in chain
        ),
        verify_imports=None if imports is None else tuple(imports),
    )


def _check_against_manifest(profile: Profile, manifest: Manifest, problems: list[str]) -> None:
    for pin in profile.pins:
        req = manifest.get(pin.name)
        if req is None or pin.override or req.specifier.contains(pin.version, prereleases=True):
            continue
        problems.append(
            f"{pin.origin}: pins.{pin.name}: {pin.version} is outside the manifest range "
            f"{req.specifier} ({manifest.path}: requirements.{pin.name}); if deliberate, write "
            f'{pin.name} = {{ version = "{pin.version}", override = true }}'
        )
