"""Freshness is decided once (:func:`constraints_gen.locks.file.is_fresh`): ``lock --check``'s
state, emit's stale warning and sync's check give the same answer for the same files. A tiny
project locked with the real uv (offline, folders of tiny wheels), then edited."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import get_args

import pytest
from support.lock_project import PYTHON, edit, gen, make_project

from constraints_gen.locks import file as lockfile
from constraints_gen.locks.emit import emit
from constraints_gen.locks.freshness import (
    CORRUPT,
    FRESH,
    MISSING,
    ON_DEMAND,
    STALE,
    State,
    target_state,
)
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.needs import VENDOR_KEYS as _VENDOR_KEYS
from constraints_gen.profiles.needs import VENDOR_PLATFORMS as _VENDOR_PLATFORMS
from constraints_gen.profiles.needs import VENDORS, ProfileVendor
from constraints_gen.profiles.project import Project


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("fresh") / "proj")
    done = gen("lock", "alpha", "--root", root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "proj"))


def answers(root: Path) -> tuple[str, bool, bool, bool, tuple[str, ...]]:
    """(lock --check's state, emit's stale, is_fresh, sync's lock_is_fresh, the reasons)."""
    project = Project(root=root, builtin=False)
    profiles = load_profiles(project.profiles_dir)
    alpha = profiles.get("alpha")
    state = target_state(project, profiles, alpha, PYTHON)
    emitted = emit(project, profiles, alpha, python=PYTHON)
    lock_path = project.lock_path("alpha", PYTHON)
    header = lockfile.read_lock_file(lock_path).header
    expected = lockfile.fingerprint(alpha, profiles.manifest, PYTHON)
    return (
        state.state,
        emitted.stale,
        lockfile.is_fresh(header, alpha, profiles.manifest, PYTHON),
        lockfile.lock_is_fresh(lock_path, expected),
        state.reasons,
    )


def test_a_just_locked_target_is_fresh_everywhere(root: Path) -> None:
    assert answers(root) == (FRESH, False, True, True, ())


def test_a_comment_is_not_an_input(root: Path) -> None:
    edit(root / "profiles" / "base.toml", "# shared pins", "# shared pins, reviewed")
    assert answers(root) == (FRESH, False, True, True, ())


def test_a_changed_parent_is_stale_everywhere(root: Path) -> None:
    edit(root / "profiles" / "base.toml", 'tinylib = "1.0"', 'tinylib = "1.1"')
    assert answers(root) == (STALE, True, False, False, ("parent profile base.toml changed",))


def test_a_changed_manifest_is_stale_everywhere(root: Path) -> None:
    edit(root / "profiles" / "manifest.toml", 'tinylib = ">=1"', 'tinylib = ">=1.0"')
    assert answers(root) == (STALE, True, False, False, ("manifest manifest.toml changed",))


def test_the_states_are_the_literal_type() -> None:
    assert get_args(State) == (FRESH, STALE, MISSING, CORRUPT, ON_DEMAND)


def test_every_vendor_has_its_keys_and_platforms() -> None:
    """mypy checks that the tables' keys are vendors; this, that no vendor is left out."""
    assert VENDORS == get_args(ProfileVendor) == tuple(_VENDOR_KEYS) == tuple(_VENDOR_PLATFORMS)
