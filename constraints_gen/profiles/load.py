"""Loading hardware profiles: TOML files in ``profiles/`` with exact pins for one kind of machine.

A profile file (``profiles/<name>.toml``; keys other than these are errors)::

    name = "cuda130"                 # must equal the file name: letters, digits, . _ -
    description = "..."
    extends = "llm-stack"            # optional parent profile; its keys are inherited, ours win
    abstract = false                 # abstract profiles only carry shared pins

    [hardware]
    vendor = "nvidia"                # nvidia, jetson, amd, intel, apple or cpu (see below)
    cuda = "13.0"                    # CUDA version of the torch build
    compute_capabilities = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]  # SASS in the build
    ptx = true                       # the build carries PTX for its newest architecture
    min_driver = "580.65.06"         # oldest driver that runs the build

    [target]
    platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]  # uv --python-platform names
    python = ["3.11", "3.12"]
    commit_lock = true               # false: no lock in generated/; locked on demand when used

    [pins]                           # exact versions, local labels allowed ("2.5.1+cu121")
    torch = "2.14.1"
    transformers = { version = "4.51.3", override = true, reason = "..." }
    bitsandbytes = false             # not in this build (no wheels for its platform): drops
                                     # the parent's pin and the manifest's range

    [[indexes]]                      # extra indexes some pins come from
    name = "pytorch-cu121"
    url = "https://download.pytorch.org/whl/cu121"

    [verify]                         # optional: what `gen-constraints verify` imports
    imports = ["torch", "transformers", "peft"]  # default: the pinned stack's top-level modules

    # Where one platform's build differs: [platform.<uv platform>.hardware|target|pins|indexes]
    [platform.aarch64-manylinux_2_28.hardware]
    compute_capabilities = ["8.0", "9.0", "10.0", "11.0", "12.0"]

Hardware keys per vendor (required / optional; any other hardware key is an error):

- ``nvidia``: ``cuda``, ``compute_capabilities``, ``min_driver`` / ``ptx``. Not for macOS.
- ``jetson`` (NVIDIA Jetson, its own kind: PyPI's aarch64 builds do not run on JetPack 6):
  ``cuda``, ``compute_capabilities``, ``l4t`` (a PEP 440 range of L4T releases, e.g.
  ``">=36.4,<37"``) / ``ptx``. Linux aarch64 only. No ``min_driver``: the driver comes with L4T.
- ``amd`` (ROCm): ``rocm`` (``"7.1"``), ``gfx_targets`` (``["gfx90a", "gfx942"]``: a ROCm build
  runs only on a target it lists, no fallback). Linux only.
- ``intel`` (XPU build): none. Linux and Windows.
- ``apple`` (MPS): ``min_macos``. macOS (``*-apple-darwin``) only.
- ``cpu``: none.
- ``min_macos`` (``"14.0"``, the oldest macOS the build runs on: the wheels' tag, or for a GPU build
  its backend's floor when newer: MPS needs macOS 13 from torch 2.5, 14 from 2.9, though the
  wheels install on 11) is allowed for every vendor and applies to macOS platforms only; uv
  resolves a macOS profile for that version.

Platforms: ``target.platforms`` lists the uv ``--python-platform`` names the profile is for (one
per system and machine; see :mod:`constraints_gen.uvplatforms`). The older single key
``target.platform = "x86_64-manylinux_2_28"`` is still read and means ``platforms = [that]``; one
file may not set both. The nearest file in the ``extends`` chain that sets either one decides.

Per-platform tables: ``[platform.<name>.hardware]`` (every hardware key but ``vendor``: a
profile is one kind of hardware), ``[platform.<name>.target]`` (``python``, ``commit_lock``),
``[platform.<name>.pins]`` and ``[[platform.<name>.indexes]]``. For platform P the values are
merged file by file, parents first; within a file its ``[platform.P...]`` tables win over its
plain ones. A profile's own file may only name platforms the profile is for; a parent may carry
tables for more platforms (a menu its children choose from).

Where each step is: one file's keys and values are checked in
:mod:`~constraints_gen.profiles.schema` (the hardware keys beside their types, in
:mod:`~constraints_gen.profiles.needs`), parsed into layers and merged along ``extends`` in
:mod:`~constraints_gen.profiles.layers`, into the types of :mod:`~constraints_gen.profiles.model`;
this module reads the folder and checks each profile's pins against the manifest.

Each platform of a profile is one *build*: :meth:`Profile.for_platform` gives the profile as seen
on that platform. Its lock's fingerprint covers only what that build reads (the other platforms'
tables and the platform list are left out), so adding a platform leaves the others' locks fresh.

``generated/`` layout: a profile for one platform keeps ``generated/<name>/py3.X.lock.txt``
(and ``py3.X.constraints.txt``), as before; a profile for several platforms writes
``generated/<name>/<platform>/py3.X.lock.txt`` for each (:meth:`Profile.layout_platform`).
"""

from __future__ import annotations

from pathlib import Path

from constraints_gen.errors import InputError
from constraints_gen.profiles.layers import ProfileFile, parse_file, resolve
from constraints_gen.profiles.manifest import MANIFEST_NAME, Manifest, parse_manifest
from constraints_gen.profiles.model import Profile, ProfileSet
from constraints_gen.profiles.schema import SAFE_NAME, check_file
from constraints_gen.tomlio import read_toml


def load_profiles(directory: Path) -> ProfileSet:
    """Load the manifest and every profile; raise one InputError listing every problem."""
    problems: list[str] = []
    manifest = parse_manifest(directory / MANIFEST_NAME, problems)
    raw: dict[str, ProfileFile] = {}
    broken: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        if path.name == MANIFEST_NAME:
            continue
        if SAFE_NAME.match(path.stem) is None or not path.stem.isascii():
            problems.append(
                f"{path}: {path.stem!r} is not a safe profile name (ASCII letters, digits, '.',"
                " '_', '-', starting with a letter or digit): rename the file and its name key"
            )
            broken.add(path.stem)
            continue
        data = read_toml(path, problems)
        if data is not None and check_file(path, data, problems):
            raw[path.stem] = parse_file(path, data)
        else:
            broken.add(path.stem)
    profiles = [
        profile
        for name in sorted(raw)
        if (profile := resolve(name, raw, broken, problems)) is not None
    ]
    if manifest is not None:
        for profile in profiles:
            for view in profile.views():
                _check_against_manifest(view, manifest, problems)
    if problems or manifest is None:
        raise InputError(sorted(dict.fromkeys(problems)))
    return ProfileSet(directory=directory, manifest=manifest, profiles=tuple(profiles))


def _check_against_manifest(profile: Profile, manifest: Manifest, problems: list[str]) -> None:
    for pin in profile.pins:
        req = manifest.get(pin.name)
        if req is None or pin.override or req.specifier.contains(pin.version, prereleases=True):
            continue
        problems.append(
            f"{pin.origin}: {pin.key or 'pins.' + pin.name}: {pin.version} is outside the"
            " manifest range "
            f"{req.specifier} ({manifest.path}: requirements.{pin.name}); if deliberate, write "
            f'{pin.name} = {{ version = "{pin.version}", override = true }}'
        )
