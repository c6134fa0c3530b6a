"""ARCHITECTURE.md stays a whole and true map, and the rules it states that no other test keeps
hold: every path it names exists, every module of the package is named in it, and only
``runner.py`` starts programs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import constraints_gen

PACKAGE = Path(constraints_gen.__file__).resolve().parent
REPO = PACKAGE.parent
MAP = REPO / "ARCHITECTURE.md"
#: Files the map names that live in a user's project, not in this repository.
USER_FILES = {"constraints-gen.toml"}
_TOKEN = re.compile(r"`([^`\s]+)`")


def named_paths(text: str) -> set[str]:
    """The paths a Markdown text names: code spans with a ``/`` or a .py, .md or .toml ending."""
    return {
        token
        for token in _TOKEN.findall(text)
        if ("/" in token or token.endswith((".py", ".md", ".toml"))) and "*" not in token
    }


def missing(text: str, repo: Path = REPO) -> list[str]:
    """Named paths that exist neither from the repository root nor from the package folder
    (the map names a stage's modules as ``detect/machine.py``)."""
    package = repo / PACKAGE.name
    return sorted(
        path
        for path in named_paths(text) - USER_FILES
        if not (repo / path).exists() and not (package / path).exists()
    )


def unnamed(text: str, package: Path = PACKAGE) -> list[str]:
    """Modules of the package the text names neither by their path from the repository root nor
    from the package folder."""
    names = named_paths(text)
    out = []
    for module in sorted(package.rglob("*.py")):
        inner = module.relative_to(package).as_posix()
        if inner not in names and f"{package.name}/{inner}" not in names:
            out.append(f"{package.name}/{inner}")
    return out


def imports_subprocess(source: str) -> bool:
    """Whether ``source`` imports :mod:`subprocess` anywhere (in functions too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "subprocess" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "subprocess":
            return True
    return False


def test_every_path_the_map_names_exists() -> None:
    assert missing(MAP.read_text(encoding="utf-8")) == []


def test_every_module_is_on_the_map() -> None:
    assert unnamed(MAP.read_text(encoding="utf-8")) == []


def test_the_readme_links_the_map() -> None:
    assert "(ARCHITECTURE.md)" in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_wrong_path_or_a_module_left_out_is_caught(tmp_path: Path) -> None:
    text = "The cache: `constraints_gen/cli/answer.py`; the loader: `profiles/load.py`."
    assert missing(text) == ["constraints_gen/cli/answer.py"]
    package = tmp_path / "constraints_gen"
    (package / "locks").mkdir(parents=True)
    for name in ("__init__.py", "locks/__init__.py", "locks/emit.py"):
        (package / name).write_text("")
    named = "`constraints_gen/__init__.py`, `locks/__init__.py`"
    assert unnamed(named, package) == ["constraints_gen/locks/emit.py"]


def test_only_the_runner_starts_programs() -> None:
    """Every external program goes through runner.py (logged, captured, errors with a hint)."""
    offenders = [
        module.relative_to(REPO).as_posix()
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.name != "runner.py" and imports_subprocess(module.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_a_hidden_subprocess_import_is_caught() -> None:
    assert imports_subprocess("def f():\n    from subprocess import run\n    run(['uv'])\n")
    assert imports_subprocess("import os, subprocess\n")
    assert not imports_subprocess("import runner\nsubprocess_like = 1\n")
