"""Shell completion values: profile names and Python versions of the project being completed.

click drives completion itself (``_GEN_CONSTRAINTS_COMPLETE=bash_source gen-constraints``, see
README "Shell completion"); these callbacks give it the values click cannot know. They run on
every TAB, so they stay cheap (one parse of the profiles folder) and never raise: a broken
project, an unreadable folder or a half-typed ``--root`` yields no completions, not a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import click
from click.shell_completion import CompletionItem

from constraints_gen.reporter import REPORT


def _given(ctx: click.Context, name: str) -> object:
    """The value of option ``name`` in ``ctx`` or a parent (given before a subcommand)."""
    for current in _chain(ctx):
        value = current.params.get(name)
        if value:
            return value
    return None


def _chain(ctx: click.Context | None) -> Iterable[click.Context]:
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


def _profiles(ctx: click.Context) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, target Pythons) of each selectable profile of the project found as the command
    would find it (--root, $GEN_CONSTRAINTS_ROOT, the current directory upward, else the
    built-in profiles); nothing when that project cannot be read."""
    from constraints_gen.profiles import project as projects
    from constraints_gen.profiles.load import load_profiles

    root = _given(ctx, "root") or os.environ.get("GEN_CONSTRAINTS_ROOT") or None
    try:
        with REPORT.capture(silent=True):  # no message on the terminal mid-command-line
            found = projects.find_project(Path(str(root)) if root else None)
            profiles = load_profiles(found.profiles_dir)
    except Exception:  # completion must never break the shell: no values instead
        return ()
    return tuple((p.name, p.pythons) for p in profiles.profiles)


def profile_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The profiles of the project whose names start with ``incomplete``."""
    return [CompletionItem(name) for name, _ in _profiles(ctx) if name.startswith(incomplete)]


def python_versions(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The target Pythons (X.Y) of the profile(s) already named, else of every profile."""
    named = _given(ctx, "profile") or _given(ctx, "names")  # emit's NAME, else several
    wanted = {named} if isinstance(named, str) else set(cast(Iterable[str], named or ())) or None
    versions = {
        version
        for name, pythons in _profiles(ctx)
        if wanted is None or name in wanted
        for version in pythons
    }
    ordered = sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()))
    return [CompletionItem(v) for v in ordered if v.startswith(incomplete)]


def interpreter_paths(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """``--python PATH`` (an interpreter or a venv folder): the shell completes file names."""
    return [CompletionItem(incomplete, type="file")]


def folders(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``--wheelhouse DIR|URL``: the shell completes folder names (a URL is typed)."""
    return [CompletionItem(incomplete, type="dir")]
