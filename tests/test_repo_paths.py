"""No committed file outside tests/ names an absolute path of the machine it was built on.

What users get (the package, its profiles and locks, the README, the project configuration) must
work on their machine; a path such as ``/opt/wheels`` (this build machine's folder of wheels) made
the ``cpu`` profile's emitted constraints unusable in a fresh clone (issue 24). Counted as a build
machine's: ``/opt/``, ``/work/``, ``/root``, ``/home/<user>``, ``/Users/<user>``, ``/tmp/``,
``/var/tmp/``, ``/mnt/``, ``/farm/``, ``/old_root/``, also as ``file://`` URLs, and wherever this
checkout and the current home folder are. ``/srv/...`` examples are not (no such folder is part of
any machine here; the help's examples use it as "your server"). Tests may name such paths (they
build them in temporary folders or feed them as input); the exceptions below say why each is fine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

_ROOTS = r"opt|work|root|tmp|var/tmp|mnt|farm|old_root|home/[^/\s]+|Users/[^/\s]+"
#: an absolute path under one of those folders: at the start of a word or after file://
_PATH = re.compile(
    rf"(?:(?<=file://)|(?<![\w.~$/:\\-]))/(?:{_ROOTS})(?=[/\s\"'`)\],;:]|$)[^\s\"'`)\],;]*"
)

#: (file, path) -> why it is not a build machine's path users would get
ALLOWED = {
    ("README.md", "/opt/wheels"): (
        'the section "How this repository\'s own cpu lock was made" says where the build machine'
        " keeps the torch wheel: a statement about that machine, not configuration"
    ),
    (".ci/run", "/opt/wheels"): (
        "the CI script describes the build machine: it exports the mirror its jobs may use"
    ),
    ("constraints_gen/cli/sync.py", "/opt/venv"): (
        "an example target environment in the help (tests/test_help.py runs it against a"
        " temporary venv)"
    ),
    ("constraints_gen/cli/verify.py", "/opt/venv"): "the same example, in verify's help",
}


def machine_paths(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The absolute paths of a build machine that ``text`` names (each once, in order), and any
    occurrence of the folders in ``extra`` (this checkout, the home folder)."""
    found = [match.group().rstrip(".") for match in _PATH.finditer(text)]
    found += [folder for folder in extra if folder in text]
    return list(dict.fromkeys(found))


def offending(repo: Path, allowed: dict[tuple[str, str], str]) -> list[str]:
    """``FILE: PATH`` for every path of :func:`machine_paths` in a file that git tracks outside
    tests/, except ``allowed`` ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True
    ).stdout.decode()
    extra = tuple(str(p) for p in {repo.resolve(), Path.home().resolve()} if len(p.parts) > 2)
    problems = []
    for name in sorted(filter(None, listed.split("\0"))):
        if name.startswith("tests/") or not (repo / name).is_file():
            continue
        try:
            text = (repo / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:  # not text: nothing a user reads as a path
            continue
        for path in machine_paths(text, extra):
            if (name, path) not in allowed:
                problems.append(f"{name}: {path}")
    return problems


def test_no_committed_file_outside_tests_names_a_build_machine_path() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout (an sdist): nothing is committed here")
    assert offending(REPO, ALLOWED) == []


def test_every_exception_is_still_needed() -> None:
    """An exception whose path is gone from its file is removed, not kept as a silent allowance."""
    for name, path in ALLOWED:
        assert path in machine_paths((REPO / name).read_text(encoding="utf-8")), (name, path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--find-links /opt/wheels\n", ["/opt/wheels"]),
        ('pytorch-cpu = "/opt/wheels"', ["/opt/wheels"]),
        ("extra-index-url = file:///opt/pypi/simple", ["/opt/pypi/simple"]),
        ("see /work/main/README.md.", ["/work/main/README.md"]),
        ("cache in /root/.cache/uv", ["/root/.cache/uv"]),
        ("HOME=/root", ["/root"]),
        ("(/home/alice/wheels)", ["/home/alice/wheels"]),
        ("/Users/bob/x and /tmp/pytest-1/a", ["/Users/bob/x", "/tmp/pytest-1/a"]),
        ("~/.netrc, ./tmp/x, a/opt/b, https://host/opt/wheels", []),
        ("--root DIR; project.root / 'x'; /srv/wheels; /optional", []),
    ],
)
def test_what_counts_as_a_build_machine_path(text: str, expected: list[str]) -> None:
    assert machine_paths(text) == expected


def test_a_committed_build_machine_path_fails_the_scan(tmp_path: Path) -> None:
    """The scan itself, on a real git repository: the forged config fails it, tests/ and an
    allowed (file, path) do not, and an uncommitted file is not read."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "constraints-gen.toml").write_text('[mirrors]\npytorch-cpu = "/opt/wheels"\n')
    (repo / "README.md").write_text("made with --mirror pytorch-cpu=/opt/wheels\n")
    (repo / "tests" / "test_x.py").write_text('FOLDER = "/opt/wheels"\n')
    (repo / "data.bin").write_bytes(b"\xff\xfe/opt/wheels")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    (repo / "notes.txt").write_text("/work/scratch\n")  # not committed
    allowed = {("README.md", "/opt/wheels"): "documented"}
    assert offending(repo, allowed) == ["constraints-gen.toml: /opt/wheels"]
    assert offending(repo, {}) == ["README.md: /opt/wheels", "constraints-gen.toml: /opt/wheels"]
