"""Projects the benchmarks run on: a copy of the built-in profiles, and synthetic ones."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

from constraints_gen.locks import file as lockfile
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import builtin_root

REPO = Path(__file__).resolve().parent.parent
HARDWARE = REPO / "tests" / "data" / "hardware" / "h200-real.json"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

#: The manifest edit of the re-lock benchmark: same range, different text, so every lock is stale
#: and the resolution is unchanged.
MANIFEST_EDIT = ('datasets = ">=2.14"', 'datasets = ">=2.14.0"')


def copy_builtin(dest: Path) -> Path:
    """profiles/, generated/ (and constraints-gen.toml, if any) of the built-in set, into
    ``dest``."""
    root = builtin_root()
    for name in ("profiles", "generated"):
        shutil.copytree(root / name, dest / name, ignore=shutil.ignore_patterns(".lock", ".*.tmp"))
    if (root / "constraints-gen.toml").is_file():
        shutil.copyfile(root / "constraints-gen.toml", dest / "constraints-gen.toml")
    return dest


def toggle_manifest(root: Path) -> None:
    """Flip the manifest between two spellings of one range (a change the fingerprint sees)."""
    path = root / "profiles" / "manifest.toml"
    text = path.read_text(encoding="utf-8")
    old, new = MANIFEST_EDIT
    text = text.replace(new, old) if new in text else text.replace(old, new)
    path.write_text(text, encoding="utf-8")


_PROFILE = """\
name = "{name}"
description = "synthetic profile {i}"

[hardware]
vendor = "nvidia"
cuda = "12.{minor}"
compute_capabilities = ["8.0", "9.0"]
min_driver = "525.60.13"

[target]
platform = "x86_64-manylinux_2_28"
python = ["{python}"]

[pins]
torch = "2.{i}.0"
pkg-000 = "1.0.0"
"""


def synthetic(dest: Path, profiles: int, packages: int) -> Path:
    """``profiles`` profiles, each with a fresh committed lock of ``packages`` packages."""
    folder = dest / "profiles"
    folder.mkdir(parents=True)
    requirements = "".join(f'pkg-{j:03d} = ">=1"\n' for j in range(0, packages, 10))
    (folder / "manifest.toml").write_text(
        f'[requirements]\ntorch = ">=2"\n{requirements}', encoding="utf-8"
    )
    for i in range(profiles):
        name = f"p{i:03d}"
        text = _PROFILE.format(name=name, i=i, minor=i % 9, python=PYTHON)
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    loaded = load_profiles(folder)
    names = ["torch", *(f"pkg-{j:03d}" for j in range(packages - 1))]
    for profile in loaded.profiles:
        torch = profile.pin("torch")
        assert torch is not None
        head = lockfile.header(profile, loaded.manifest, PYTHON, f"lock {profile.name}")
        body = "".join(
            f"{pkg}=={torch.version if pkg == 'torch' else '1.0.0'} \\\n"
            f"    --hash=sha256:{j:064x}\n    # via -r manifest.in\n"
            for j, pkg in enumerate(names)
        )
        packs = lockfile.parse_lock(body)
        out = dest / "generated" / profile.name
        out.mkdir(parents=True)
        (out / f"py{PYTHON}.lock.txt").write_text(lockfile.seal(head, body), encoding="utf-8")
        constraints = lockfile.render_constraints(packs, profile, loaded.manifest, head)
        (out / f"py{PYTHON}.constraints.txt").write_text(constraints, encoding="utf-8")
    return dest


def big_wheelhouse(dest: Path, count: int, size: int) -> tuple[Path, Path]:
    """(project root, wheelhouse): profile ``big`` locks ``count`` wheels of ``size`` bytes."""
    from support.sync_project import make_project
    from support.wheels import build_wheel

    folder = dest / "wheelhouse"
    names = ["torch", *(f"pkg{i:03d}" for i in range(count - 1))]
    for i, name in enumerate(names):
        payload = random.Random(i).randbytes(size).hex()[:size]  # incompressible text
        build_wheel(folder, name, "1.0", files={f"{name}/data.txt": payload})
    root = make_project(
        dest / "proj",
        folder,
        requirements=dict.fromkeys(names, ">=1"),
        profiles={"big": ("x86_64-manylinux_2_28", {"torch": "1.0"})},
    )
    return root, folder


#: The readouts a synthetic fleet is made of: the real H200 (tests/data/hardware/h200-real.json,
#: read with NVML on a real machine) for most nodes, and every other machine of
#: tests/data/hardware (NVIDIA generations and drivers, Jetson, AMD, Intel, Apple, Windows, CPU:
#: the platforms the built-in profiles cover, some that fit nothing) for the rest.
FLEET_READOUTS = REPO / "tests" / "data" / "hardware"


def fleet(dest: Path, nodes: int, seed: int = 19) -> Path:
    """A JSON-lines file of ``nodes`` readouts, each with its own host name and GPU UUIDs: half
    are the real H200 at one of 8 driver releases of the R580 branch, the others drawn from the
    variety above, so that a fleet has a few dozen distinct readout shapes, as a mixed cluster
    does."""
    rng = random.Random(seed)
    h200 = _readout(HARDWARE)
    others = [_readout(p) for p in sorted(FLEET_READOUTS.glob("*.json")) if p != HARDWARE]
    lines = []
    for n in range(nodes):
        if n % 2 == 0:
            base = {**h200, "driver_version": f"580.{65 + 8 * rng.randrange(8)}.06"}
        else:
            base = rng.choice(others)
        gpus = [{**gpu, "uuid": f"GPU-{n:08x}-{gpu['index']}"} if "uuid" in gpu else gpu
                for gpu in base["gpus"]]  # fmt: skip
        lines.append(json.dumps({"host": f"node{n:05d}", **base, "gpus": gpus}))
    path = dest / f"fleet-{nodes}.jsonl"
    dest.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _readout(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_") and k != "torch_on_that_machine"}
