"""The shipped hooks (.pre-commit-hooks.yaml), run by the real pre-commit in a temporary git
repository whose .pre-commit-config.yaml uses this checkout as the hook repository (a snapshot of
its working tree, committed once per session, as ``pre-commit try-repo`` does for every call).

The hook environment is installed once per session by pre-commit's own pip, offline
(``PIP_NO_INDEX``): its find-links folder holds wheels of this checkout's build and runtime
requirements, packed again from the test environment's own installed copies (support.repack), so
the suite passes with the network cut. Locking then runs offline too, from folders of tiny wheels
committed in the temporary repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from support.lock_project import PYTHON, edit, make_project
from support.repack import closure, repack, requirements_of
from support.sync_project import PY
from test_uvproject import PROJECT, profiles_root
from test_uvproject import indexes as indexes  # the fixture, by name

from constraints_gen.locks.uvproject import WriteOptions, write
from constraints_gen.profiles.load import load_profiles

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def offline_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What pip needs to install this checkout as a hook, from this environment, no index."""
    folder = tmp_path_factory.mktemp("hook-wheels")
    for name in closure(requirements_of(REPO / "pyproject.toml")):
        repack(name, folder)
    return folder


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout's tracked and untracked (not ignored) files, committed in a new repo."""
    snapshot = tmp_path_factory.mktemp("hook-repo")
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, snapshot / name)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=snapshot, env=env, check=True)
    return snapshot, git(snapshot, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(
    tmp_path: Path,
    pre_commit_home: Path,
    hook_repo: tuple[Path, str],
    offline_wheels: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(offline_wheels))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    root = make_project(tmp_path / "repo")
    hooks = "".join(
        f"  - id: {hook_id}\n    stages: [manual]\n" if manual else f"  - id: {hook_id}\n"
        for hook_id, manual in (
            ("gen-constraints-lock", False),
            ("gen-constraints-check", True),
            ("gen-constraints-uv-project-check", True),
        )
    )
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo[0]}\n  rev: {hook_repo[1]}\n  hooks:\n{hooks}"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "profiles")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def hook(root: Path, hook_id: str) -> tuple[int, list[str]]:
    """Run one hook of this checkout on every file; return pre-commit's code and its report."""
    stage = ["--hook-stage", "manual"] if hook_id != "gen-constraints-lock" else []
    result = subprocess.run(
        [PRE_COMMIT, "run", hook_id, "--all-files", "--color", "never", *stage],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    report = result.stdout + result.stderr
    lines = [line.rstrip() for line in report.splitlines() if not line.startswith("[INFO]")]
    while lines and not lines[-1]:
        lines.pop()
    return result.returncode, lines


def status(report: list[str]) -> str:
    return report[0].rsplit(".", 1)[-1]


def test_check_hook_then_lock_hook(repo: Path) -> None:
    code, report = hook(repo, "gen-constraints-check")
    assert (code, status(report)) == (1, "Failed")
    assert report[1:] == [
        "- hook id: gen-constraints-check",
        "- exit code: 1",
        "",
        *(f"{n} (CPython {PYTHON}): missing: no generated/{n}/py{PYTHON}.lock.txt"
          for n in ("alpha", "beta", "gamma")),
        "ERROR: 3 of 3 locks are stale or missing",
        "TIP: refresh them: gen-constraints lock alpha beta gamma",
    ]  # fmt: skip

    code, report = hook(repo, "gen-constraints-lock")  # writes the locks, so it fails
    assert (code, status(report)) == (1, "Failed")
    assert report[-1] == f"ERROR: 3 lock(s) changed under {repo}/generated; review and commit them"
    git(repo, "add", "-A")
    assert hook(repo, "gen-constraints-lock")[0] == 0
    code, report = hook(repo, "gen-constraints-check")
    assert (code, status(report), report[1:]) == (0, "Passed", [])
    git(repo, "commit", "-q", "-m", "locks")
    assert git(repo, "status", "--porcelain") == ""


def test_editing_a_parent_profile(repo: Path) -> None:
    assert hook(repo, "gen-constraints-lock")[0] == 1
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "locks")
    edit(repo / "profiles" / "base.toml", 'tinylib = "1.0"', 'tinylib = "1.1"')
    git(repo, "add", "-A")

    code, report = hook(repo, "gen-constraints-check")
    assert (code, status(report)) == (1, "Failed")
    assert report[4:6] == [
        f"alpha (CPython {PYTHON}): stale: parent profile base.toml changed",
        f"beta (CPython {PYTHON}): stale: parent profile base.toml changed",
    ]
    code, report = hook(repo, "gen-constraints-lock")
    assert (code, status(report)) == (1, "Failed")
    assert report[1:4] == [
        "- hook id: gen-constraints-lock",
        "- exit code: 1",
        "- files were modified by this hook",
    ]
    changed = git(repo, "diff", "--name-only").split()
    assert changed == [
        f"generated/{n}/py{PYTHON}.{kind}.txt"
        for n in ("alpha", "beta")
        for kind in ("constraints", "lock")
    ]
    assert "tinylib==1.1 " in (repo / "generated" / "alpha" / f"py{PYTHON}.lock.txt").read_text()
    git(repo, "add", "-A")
    assert hook(repo, "gen-constraints-check")[0] == 0
    assert os.listdir(repo / "generated" / "alpha") == os.listdir(repo / "generated" / "gamma")


def test_uv_project_check_hook(
    repo: Path, indexes: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A uv project beside its profiles: the hook passes on a fresh block and fails on one
    edited by hand, naming it."""
    monkeypatch.setenv("UV_DEFAULT_INDEX", indexes["pypi"])
    shutil.rmtree(repo / "profiles")
    profiles_root(repo, indexes)
    path = repo / "pyproject.toml"
    path.write_text(PROJECT.format(py=PY, deps='"torch>=2.12"'))
    profiles = load_profiles(repo / "profiles")
    write(path, [profiles.get("cuda126"), profiles.get("cpu")], WriteOptions())
    git(repo, "add", "-A")
    code, report = hook(repo, "gen-constraints-uv-project-check")
    assert (code, status(report)) == (0, "Passed"), report
    edit(path, "torch==2.13.0+cpu", "torch==2.12.0+cpu")
    code, report = hook(repo, "gen-constraints-uv-project-check")
    assert (code, status(report)) == (1, "Failed")
    assert report[2] == "- exit code: 2"
    assert report[-1] == "gen-constraints: edited: pyproject.toml"
