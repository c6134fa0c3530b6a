"""Both shipped hooks (.pre-commit-hooks.yaml), run by the real pre-commit in a temporary git
repository that uses this checkout as the hook repository (``pre-commit try-repo``).

The hook environment is installed once per session by pre-commit's own pip, with the pip
configuration the test environment was installed with; locking then runs offline, from folders of
tiny wheels committed in the temporary repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from support.project import PYTHON, edit, make_project

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


@pytest.fixture
def repo(tmp_path: Path, pre_commit_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    monkeypatch.setenv("HOME", str(tmp_path))  # no user git configuration
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    root = make_project(tmp_path / "repo")
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
    result = subprocess.run(
        [PRE_COMMIT, "try-repo", REPO, hook_id, "--all-files", "--color", "never"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout
    report = out[out.rindex("=" * 79) + 80 :] if "=" * 79 in out else out + result.stderr
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
