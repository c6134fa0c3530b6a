"""The resolver backends: one interface, a registry by name, and no import cycle in the locks
stage (issue 11 section 3). Their locks are tested end to end in test_lock and test_piptools."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click
import pytest
from test_layout import imported, module_name, modules

from constraints_gen.cli.lock import lock_cmd
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.locks.compile import RESOLVERS, UvResolver, resolver_for
from constraints_gen.locks.piptools import PipToolsResolver
from constraints_gen.locks.resolver import RESOLVER_NAMES, LockOptions
from constraints_gen.profiles.load import load_profiles
from constraints_gen.uvplatforms import running_python

PROFILES = Path(__file__).resolve().parents[1] / "profiles"


def test_every_backend_is_registered_under_its_name() -> None:
    assert RESOLVER_NAMES == ("uv", "pip-tools")
    assert tuple(RESOLVERS) == RESOLVER_NAMES
    assert [backend.name for backend in RESOLVERS.values()] == list(RESOLVER_NAMES)
    assert isinstance(resolver_for("uv"), UvResolver)
    assert isinstance(resolver_for("pip-tools"), PipToolsResolver)
    (option,) = [p for p in lock_cmd.params if p.name == "resolver"]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == RESOLVER_NAMES


def test_each_backend_gives_its_own_command_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UV_CONSTRAINT", "/elsewhere/c.txt")
    profile = load_profiles(PROFILES).get("cpu")
    options = LockOptions(find_links=("/wheels",))
    uv_args = resolver_for("uv").compile_args(profile, "3.12", options)
    assert uv_args[1:3] == ["pip", "compile"]
    assert uv_args[uv_args.index("--python-version") + 1] == "3.12"
    assert uv_args[-2:] == ["--find-links", "/wheels"]
    assert resolver_for("uv").env(profile, options)["UV_CONSTRAINT"] == ""
    pt_args = resolver_for("pip-tools").compile_args(profile, running_python(), options)
    assert pt_args[1:4] == ["-m", "piptools", "compile"]
    assert pt_args[-2:] == ["--find-links", "/wheels"]
    pt_env = resolver_for("pip-tools").env(profile, options)
    assert pt_env["PIP_CONFIG_FILE"] == os.devnull and "UV_CONSTRAINT" not in pt_env
    with pytest.raises(ConstraintsGenError, match="--offline is not supported"):
        resolver_for("pip-tools").compile_args(profile, running_python(), LockOptions(offline=True))


def test_only_pip_tools_refuses_a_target_it_cannot_lock() -> None:
    profile = load_profiles(PROFILES).get("cpu")
    resolver_for("uv").check([(profile, "3.99")])  # uv locks any Python from here
    with pytest.raises(ConstraintsGenError, match=r"cannot lock: cpu \(CPython 3\.99, "):
        resolver_for("pip-tools").check([(profile, "3.99")])


def cycles(graph: Mapping[str, set[str]]) -> list[str]:
    """The modules that reach themselves through imports, sorted."""
    found = []
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        if start in seen:
            found.append(start)
    return sorted(found)


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in modules():
        name = module_name(path)
        source = path.read_text()
        graph[name] = {
            other
            for _, other in imported(name, source, is_package=path.name == "__init__.py")
            if other != name
        }
    return graph


def test_no_import_cycle_below_the_cli() -> None:
    """Every import counts, lazy ones too: compile and piptools no longer import each other."""
    graph = import_graph()
    assert "constraints_gen.locks.piptools" in graph["constraints_gen.locks.compile"]
    assert [name for name in cycles(graph) if not name.startswith("constraints_gen.cli")] == []


def test_a_cycle_is_found_even_through_a_lazy_import() -> None:
    """The cycle main had: compile imported piptools lazily, piptools imported compile."""
    graph = import_graph()
    sneaky = "def lazy():\n    from constraints_gen.locks.compile import LockOptions\n"
    graph["constraints_gen.locks.piptools"] |= {
        name for _, name in imported("constraints_gen.locks.piptools", sneaky)
    }
    assert [name for name in cycles(graph) if not name.startswith("constraints_gen.cli")] == [
        "constraints_gen.locks.compile",
        "constraints_gen.locks.piptools",
    ]
