"""The answer cache of emit and lock --check: served only when every input is unchanged."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import HARDWARE, REPO

H200 = HARDWARE / "h200-real.json"
#: answers stores only what was read from files settled 50 ms before the command started
SETTLE = 0.1

HEAVY = (
    "constraints_gen.profiles.model",
    "tomllib",
    "packaging.specifiers",
    "constraints_gen.locks.emit",
)


def project(tmp_path: Path) -> Path:
    """A copy of the built-in profiles with the locks emit reads for an H200 and a CPU."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "profiles", root / "profiles")
    for name in ("cuda132", "cpu"):
        shutil.copytree(REPO / "generated" / name, root / "generated" / name)
    time.sleep(SETTLE)
    return root


def emit(root: Path, *args: str, hardware: Path = H200) -> tuple[int, str, str, list[str]]:
    return run(["--root", str(root), "--hardware", str(hardware), "--python", "3.11", *args])


def run(argv: list[str]) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr, the heavy modules the process imported)."""
    probe = (
        "import io, sys\nfrom constraints_gen.cli import main\nsys.stdout = io.StringIO()\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as exit:\n"
        f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "    sys.__stdout__.write(repr((exit.code, sys.stdout.getvalue(), heavy)))\n"
    )
    # not measured by coverage: it would import tomllib (its configuration) into the probe
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    code, out, heavy = ast.literal_eval(done.stdout)
    return code, out, done.stderr, heavy


def same_stat_edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same length) and put size and mtime back as they were."""
    assert len(old.encode()) == len(new.encode())
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    time.sleep(SETTLE)


def test_second_emit_is_served_without_loading_the_profiles(tmp_path: Path) -> None:
    root = project(tmp_path)
    first = emit(root)
    second = emit(root)
    assert first[0] == 0, first[2]
    assert first[1] == (root / "generated/cuda132/py3.11.constraints.txt").read_text()
    assert first[3] == list(HEAVY)  # a miss does the whole work
    assert second[:3] == first[:3]  # same text, same messages
    assert second[3] == []  # a hit parses nothing


def test_constraints_edited_with_same_size_and_mtime_are_not_served(tmp_path: Path) -> None:
    root = project(tmp_path)
    constraints = root / "generated/cuda132/py3.11.constraints.txt"
    assert emit(root)[0] == emit(root)[0] == 0
    same_stat_edit(constraints, "torch==2.15.0", "torch==2.14.9")
    code, out, err, heavy = emit(root)  # read again: its body digest refuses the edit
    assert code == 2 and out == "" and "refused" in err
    assert heavy == list(HEAVY)
    same_stat_edit(constraints, "torch==2.14.9", "torch==2.15.0")
    assert emit(root)[0] == 0
    assert emit(root)[3] == []
    lock = root / "generated/cuda132/py3.11.lock.txt"  # an input too: the constraints' lock
    same_stat_edit(lock, "torch==2.15.0", "torch==2.14.8")
    code, _, err, heavy = emit(root)
    assert code == 2 and "refused" in err
    assert heavy == list(HEAVY)


def test_profile_edited_with_same_size_and_mtime_makes_the_lock_stale(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert emit(root, "--strict")[0] == 0
    assert emit(root, "--strict")[3] == []
    profile = root / "profiles" / "cuda132.toml"
    text = profile.read_text(encoding="utf-8")
    pin = next(line for line in text.splitlines() if line.startswith("torch = "))
    edited = pin.replace("2.15.0", "2.14.9")
    assert edited != pin
    same_stat_edit(profile, pin, edited)
    code, _, err, _ = emit(root, "--strict")
    assert code == 1
    assert "is stale" in err
    code, _, err, _ = emit(root)
    assert code == 0 and "warning:" in err and "is stale" in err


def test_readout_edited_with_same_size_and_mtime_selects_again(tmp_path: Path) -> None:
    root = project(tmp_path)
    readout = tmp_path / "machine.json"
    shutil.copyfile(H200, readout)
    assert "torch==2.15.0" in emit(root, hardware=readout)[1]
    assert emit(root, hardware=readout)[3] == []
    cpu = json.dumps({"driver_version": None, "cuda_driver_version": None, "gpus": []})
    h200 = readout.read_text(encoding="utf-8")
    same_stat_edit(readout, h200, cpu.ljust(len(h200)))  # JSON may end in spaces
    code, out, _, _ = emit(root, hardware=readout)
    assert code == 0
    assert "+cpu " in out and "torch==2.15.0" not in out


def test_a_new_profile_file_is_seen(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert emit(root)[0] == emit(root)[0] == 0
    (root / "profiles" / "broken.toml").write_text("name = [\n", encoding="utf-8")
    code, out, err, _ = emit(root)
    assert code == 2
    assert out == ""
    assert "broken.toml" in err


def check(root: Path) -> tuple[int, str, str, list[str]]:
    return run(["lock", "--check", "--root", str(root)])


def test_lock_check_served_when_nothing_changed(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "profiles", root / "profiles")
    shutil.copytree(REPO / "generated", root / "generated")
    time.sleep(SETTLE)
    first, second = check(root), check(root)
    assert first[0] == 0, first[2]
    assert "locks are fresh" in first[2]
    assert first[3] == list(HEAVY[:3])
    assert second[:3] == first[:3]
    assert second[3] == []


def test_lock_check_sees_edits_with_same_size_and_mtime(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "profiles", root / "profiles")
    shutil.copytree(REPO / "generated", root / "generated")
    time.sleep(SETTLE)
    assert check(root)[0] == check(root)[0] == 0
    lock = root / "generated/cuda132/py3.11.lock.txt"
    fingerprint = next(x for x in lock.read_text().splitlines() if x.startswith("# Fingerprint:"))
    digit = fingerprint[-1]
    same_stat_edit(lock, fingerprint, fingerprint[:-1] + ("0" if digit != "0" else "1"))
    code, _, err, heavy = check(root)  # read again: no longer its inputs' lock
    assert code in (1, 2) and "cuda132" in err
    assert heavy == list(HEAVY[:3])
    same_stat_edit(lock, fingerprint[:-1] + ("0" if digit != "0" else "1"), fingerprint)
    assert check(root)[0] == 0
    assert check(root)[3] == []
    profile = root / "profiles" / "cpu.toml"
    pin = next(x for x in profile.read_text().splitlines() if x.startswith("torch = "))
    same_stat_edit(profile, pin, pin.replace("2.", "3.", 1))
    code, _, err, _ = check(root)
    assert code == 1 and "cpu (CPython" in err


def test_lock_check_sees_a_deleted_lock(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "profiles", root / "profiles")
    shutil.copytree(REPO / "generated", root / "generated")
    time.sleep(SETTLE)
    assert check(root)[0] == check(root)[0] == 0
    (root / "generated/cuda132/py3.12.lock.txt").unlink()
    code, _, err, _ = check(root)
    assert code == 1 and "missing" in err
