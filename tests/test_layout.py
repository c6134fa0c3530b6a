"""The package reads as the pipeline: stages over shared leaves, and no stage imports a higher one.

Every module's imports are read with :mod:`ast` (module level, inside functions, and under
``TYPE_CHECKING``), so a lazy import cannot hide an upward edge (issue 11 section 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import constraints_gen

PACKAGE = Path(constraints_gen.__file__).resolve().parent
NAME = "constraints_gen"

#: Lowest first; a module may import its own stage and the ones before it, never a later one.
STAGES = ("detect", "profiles", "locks", "install", "cli")
#: The shared leaves: they import no stage at all.
LEAVES = (
    "errors",
    "runner",
    "reporter",
    "fsutil",
    "background",
    "caches",
    "tomlio",
    "names",
    "uvplatforms",
    "redact",
    "userdirs",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    """0 for the package and its shared leaves, then 1 + the stage's position in STAGES."""
    parts = module.split(".")
    if parts[0] != NAME:
        raise ValueError(f"{module}: not in {NAME}")
    if len(parts) == 1 or parts[1] in LEAVES:
        return 0
    if parts[1] == "__main__":  # the ``python -m constraints_gen`` entry: the CLI's own
        return 1 + STAGES.index("cli")
    if parts[1] not in STAGES:
        raise ValueError(f"{module}: neither a stage {STAGES} nor a shared leaf {LEAVES}")
    return 1 + STAGES.index(parts[1])


def imported(module: str, source: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import of this package in ``source``, wherever it stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # ``from constraints_gen import runner`` imports the submodule, not the package.
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return [
        (line, name)
        for line, name in found
        if name == NAME or (name.startswith(NAME + ".") and _is_module(name))
    ]


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Each import in ``source`` of a higher stage than ``module``'s, as 'line: module'."""
    own = rank(module)
    return [
        f"{module}:{line}: imports {name} (a higher stage)"
        for line, name in imported(module, source, is_package=is_package)
        if rank(name) > own
    ]


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_stage_or_a_shared_leaf() -> None:
    for path in modules():
        rank(module_name(path))  # raises for a module outside the layout
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} == (
        set(STAGES)
    )


def test_no_stage_imports_a_higher_one() -> None:
    problems = [
        problem
        for path in modules()
        for problem in upward(
            module_name(path), path.read_text(), is_package=path.name == "__init__.py"
        )
    ]
    assert problems == []


def test_the_stage_packages_import_nothing_eagerly() -> None:
    """Importing a stage's module loads its package first: it must cost nothing (emit's budget)."""
    for stage in ("detect", "profiles", "locks", "install"):
        tree = ast.parse((PACKAGE / stage / "__init__.py").read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


SNEAKY = """
from __future__ import annotations
from typing import TYPE_CHECKING
from constraints_gen import errors, runner
from constraints_gen.detect.hardware import Hardware
if TYPE_CHECKING:
    from constraints_gen.install.sync import Drift
def lazy():
    import constraints_gen.cli.core
    from constraints_gen.locks import file as lockfile
    from . import emit
"""


def test_an_upward_import_is_reported_wherever_it_hides() -> None:
    assert upward("constraints_gen.profiles.model", SNEAKY) == [
        "constraints_gen.profiles.model:7: imports constraints_gen.install.sync (a higher stage)",
        "constraints_gen.profiles.model:9: imports constraints_gen.cli.core (a higher stage)",
        "constraints_gen.profiles.model:10: imports constraints_gen.locks (a higher stage)",
        "constraints_gen.profiles.model:10: imports constraints_gen.locks.file (a higher stage)",
    ]
    # The same source one stage up (install) has the cli import and nothing else; relative
    # imports resolve against the module's own package.
    assert upward("constraints_gen.install.fill", SNEAKY) == [
        "constraints_gen.install.fill:9: imports constraints_gen.cli.core (a higher stage)"
    ]
    assert imported("constraints_gen.locks.refresh", "from . import emit\n") == [
        (1, "constraints_gen.locks"),
        (1, "constraints_gen.locks.emit"),
    ]


def test_a_shared_leaf_imports_no_stage() -> None:
    source = "def f():\n    from constraints_gen.detect import hardware\n"
    assert upward("constraints_gen.runner", source) == [
        "constraints_gen.runner:2: imports constraints_gen.detect (a higher stage)",
        "constraints_gen.runner:2: imports constraints_gen.detect.hardware (a higher stage)",
    ]


def test_a_module_outside_the_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="neither a stage"):
        rank("constraints_gen.helpers")
