"""A tiny LLM-stack stand-in: real wheels on two loopback indexes, and project folders for it.

Index "pypi": torch 2.5.1 (plain), transformers 4.50.0 / 4.51.3 / 4.57.3, huggingface-hub 0.30.0,
peft 0.13.2. Index "cu121": torch 2.5.1+cu121 only, like the PyTorch index (label kept).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .index import serve, write_simple_index
from .wheels import build_wheel

PYPI_WHEELS = (
    ("torch", "2.5.1", ()),
    ("huggingface-hub", "0.30.0", ()),
    ("transformers", "4.50.0", ("huggingface-hub>=0.30",)),
    ("transformers", "4.51.3", ("huggingface-hub>=0.30",)),
    ("transformers", "4.57.3", ("huggingface-hub>=0.30",)),
    ("peft", "0.13.2", ("torch>=1.13", "transformers")),
)

MANIFEST = """\
[requirements]
torch = ">=2.5"
transformers = ">=4.51.3,!=4.52.*"
peft = ">=0.13"
"""

CU121_PROFILE = """\
name = "cu121"
description = "torch 2.5.1+cu121 from a second index"

[hardware]
vendor = "nvidia"
cuda = "12.1"
compute_capabilities = ["8.0", "8.6", "9.0"]
min_driver = "525.60.13"

[target]
platform = "x86_64-manylinux_2_28"
python = ["3.11"]

[pins]
torch = "2.5.1+cu121"
transformers = "4.51.3"

[[indexes]]
name = "pytorch-cu121"
url = "https://download.pytorch.org/whl/cu121"
"""


@dataclass(frozen=True, slots=True)
class Stack:
    pypi_url: str  # .../simple
    cu121_url: str
    wheels: Mapping[str, Path]  # "name==version" -> wheel file


@contextmanager
def served_stack(tmp: Path) -> Iterator[Stack]:
    wheels: dict[str, Path] = {}
    for name, version, requires in PYPI_WHEELS:
        wheels[f"{name}=={version}"] = build_wheel(tmp / "built", name, version, requires=requires)
    local = build_wheel(tmp / "built-cu121", "torch", "2.5.1+cu121")
    wheels["torch==2.5.1+cu121"] = local
    write_simple_index(
        [w for key, w in wheels.items() if key != "torch==2.5.1+cu121"], tmp / "pypi"
    )
    write_simple_index([local], tmp / "cu121")
    with ExitStack() as stack:
        pypi = stack.enter_context(serve(tmp / "pypi"))
        cu121 = stack.enter_context(serve(tmp / "cu121"))
        yield Stack(pypi_url=f"{pypi}/simple", cu121_url=f"{cu121}/simple", wheels=wheels)


def make_project(root: Path, profiles: Mapping[str, str], manifest: str = MANIFEST) -> Path:
    """Write ``root/profiles/`` with the manifest and the given profile texts (name -> TOML)."""
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(textwrap.dedent(manifest), encoding="utf-8")
    for name, text in profiles.items():
        (folder / f"{name}.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return root
