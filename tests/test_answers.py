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

import pytest
from conftest import HARDWARE, REPO
from support.owners import give_away
from support.wheels import build_wheel

from constraints_gen import caches
from constraints_gen.locks import file as lockfile

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
    time.sleep(SETTLE)  # an input changed just before the command is not stored (racy)
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


def test_a_mirror_folder_is_checked_again_on_a_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache may save work, never a check: the cpu answer names the mirror folder as
    --find-links; once the folder loses the pinned wheel, or is gone, emit is exit 2 again."""
    root = project(tmp_path)
    wheels = tmp_path / "wheels"
    torch = build_wheel(wheels, "torch", "2.13.0+cpu", tag="cp311-cp311-manylinux_2_28_x86_64")
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pytorch-cpu={wheels}")
    time.sleep(SETTLE)
    first = emit(root, hardware=HARDWARE / "cpu.json")
    assert first[0] == 0, first[2]
    assert f"--find-links {wheels}\n" in first[1]
    second = emit(root, hardware=HARDWARE / "cpu.json")
    assert second[:2] == first[:2] and second[3] == []  # a hit: no profile loaded
    refused = (
        f"ERROR: mirror {wheels} (set by $GEN_CONSTRAINTS_MIRRORS) for index pytorch-cpu"
        " (https://download.pytorch.org/whl/cpu): "
    )
    torch.rename(wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl.away")
    lost = emit(root, hardware=HARDWARE / "cpu.json")
    assert lost[:2] == (2, "")
    assert refused + "holds no wheel of torch 2.13.0+cpu (pinned by profile cpu)\n" in lost[2]
    shutil.rmtree(wheels)
    gone = emit(root, hardware=HARDWARE / "cpu.json")
    assert gone[:2] == (2, "")
    assert refused + "no such folder\n" in gone[2]


# -- a cache saves work, never a check (issue 16) --------------------------------------------------


def _emit_key(root: Path) -> dict[str, object]:
    """The key emit(root) stores its answer under (as cli/core.py makes it)."""
    from constraints_gen.locks import answers
    from constraints_gen.profiles.project import find_project

    found = answers.emit_key(
        find_project(root), hardware=H200, profile=None, python="3.11", strict=False,
        hardware_env=None,
    )  # fmt: skip
    assert found is not None
    return found[0]


def _entry(key: object) -> Path:
    from constraints_gen.locks import answers

    folder = caches.trusted_dir("answers")
    assert folder is not None
    return answers.ANSWERS._file(folder, caches.canonical(key))


def _head(path: Path) -> str:
    return "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:5])


def test_a_replaced_stored_value_is_not_served(tmp_path: Path) -> None:
    from constraints_gen.locks import answers

    root = project(tmp_path)
    good = emit(root)
    assert emit(root)[3] == []  # served
    key = _emit_key(root)
    stored = json.loads(_entry(key).read_text())
    cpu = {"profile": "cpu", "python": "3.11", "platform": "x86_64-manylinux_2_28",
           "layout": None,
           "lock_head": _head(root / "generated/cpu/py3.11.lock.txt"),
           "constraints_head": _head(root / "generated/cpu/py3.11.constraints.txt")}  # fmt: skip
    stored["value"]["pair"] = cpu  # another profile's answer, edited into the file
    _entry(key).write_text(json.dumps(stored))
    assert emit(root)[:3] == good[:3]  # not sealed by the tool: worked out again
    # sealed as the tool seals: the pair must still be the one the files and question name
    value = answers.ANSWERS.get(key, lambda value: True)
    assert value is not None and value["pair"]["profile"] == "cuda132"
    for pair in (
        {**value["pair"], "lock_head": cpu["lock_head"]},  # cuda130's files, cpu's header
        {**value["pair"], "constraints_head": cpu["constraints_head"]},
        {**value["pair"], "python": "3.12"},  # not the CPython asked for
        {**cpu, "constraints_head": value["pair"]["constraints_head"]},
    ):
        answers.ANSWERS.put(key, {**value, "pair": pair})
        code, out, err, heavy = emit(root)
        assert (code, out) == good[:2], err
        assert heavy == list(HEAVY)
    named = _emit_key(root) | {"profile": "cuda132", "readout": None}
    answers.ANSWERS.put(named, {**value, "pair": cpu})  # --profile cuda132 answered with cpu
    code, out, _, _ = emit(root, "--profile", "cuda132")
    assert code == 0 and out == good[1]


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")
@pytest.mark.parametrize("spoil", ["mode-0777", "another-uid"])
def test_an_answers_folder_others_control_is_ignored_with_one_notice(
    tmp_path: Path, spoil: str
) -> None:
    root = project(tmp_path)
    good = emit(root)
    assert emit(root)[3] == []
    folder = caches.cache_dir() / "answers"
    if spoil == "mode-0777":
        folder.chmod(0o777)
        why = "group or others can write it (mode 0777)"
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another uid needs root")
        give_away(folder)
        why = f"it is owned by uid 12345, not by you (uid {os.geteuid()})"
    for _ in range(2):
        code, out, err, heavy = emit(root)
        assert (code, out) == good[:2]
        assert heavy == list(HEAVY)  # nothing served from there
        assert err.count(f"warning: {folder}: not used as a cache: {why};") == 1, err
    code, _, err, heavy = check(root)  # lock --check as well: it works everything out
    assert code == 1 and "missing" in err and heavy == list(HEAVY[:3])
    assert err.count(f"warning: {folder}: not used as a cache: {why};") == 1, err


def test_lock_check_never_says_fresh_for_a_tampered_lock(tmp_path: Path) -> None:
    from constraints_gen.locks import answers
    from constraints_gen.profiles.project import find_project

    root = tmp_path / "project"
    shutil.copytree(REPO / "profiles", root / "profiles")
    shutil.copytree(REPO / "generated", root / "generated")
    time.sleep(SETTLE)
    assert check(root)[0] == check(root)[0] == 0
    key = answers.check_key(find_project(root), (), ())
    assert answers.ANSWERS.get(key, lambda value: True) is not None  # the entry is there
    lock = root / "generated/cuda130/py3.11.lock.txt"
    same_stat_edit(lock, "torch==2.14.1", "torch==2.14.8")  # the body no longer its digest
    code, _, err, heavy = check(root)
    assert code == 2 and f"{lock}: its body does not match the digest" in err
    assert heavy == list(HEAVY[:3])
    # resealed: the body digest recomputed, and the entry rewritten to name the new header
    text = lock.read_text(encoding="utf-8")
    head, body = "".join(text.splitlines(True)[:4]), "".join(text.splitlines(True)[5:])
    lock.write_text(lockfile.seal(head, body), encoding="utf-8")
    entry = _entry(key)
    stored = json.loads(entry.read_text())
    for pair in stored["value"]["pairs"]:
        if pair["profile"] == "cuda130" and pair["python"] == "3.11":
            pair["lock_head"] = _head(lock)
    entry.write_text(json.dumps(stored))
    time.sleep(SETTLE)
    code, _, err, _ = check(root)
    assert code == 2 and f"{lock} and" in err and "disagree" in err
    assert "fresh" not in err


#: Answers of the wrong shape, sealed as the tool seals them: each must be a miss (the command
#: works it out), never a traceback.
def _malformed(value: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    pair = value["pair"]
    assert isinstance(pair, dict)
    return [
        ("int-for-list", {**value, "inputs": 3}),
        ("two-tuple-pair", {**value, "pair": ["cuda130", "3.11"]}),
        ("bytes-for-text", {**value, "pair": {**pair, "constraints_head": list(b"# x")}}),
        ("none-for-path", {**value, "inputs": [[None, None]]}),
        ("short-identity", {**value, "inputs": [[p, [1, 2]] for p, _ in value["inputs"]]}),  # type: ignore[attr-defined]
        ("options-not-pairs", {**value, "options": [["# Index x: y"]]}),
        ("messages-none", {**value, "messages": None}),
        ("no-pair", {k: v for k, v in value.items() if k != "pair"}),
        ("deeply-nested", {**value, "messages": json.loads("[" * 500 + "]" * 500)}),
    ]


def test_malformed_answers_are_misses(tmp_path: Path) -> None:
    from constraints_gen.locks import answers

    root = project(tmp_path)
    good = emit(root)
    key = _emit_key(root)
    value = answers.ANSWERS.get(key, lambda value: True)
    assert value is not None
    for case, bad in _malformed(value):
        answers.ANSWERS.put(key, bad)
        code, out, err, heavy = emit(root)
        assert (code, out) == good[:2], (case, err)
        assert "Traceback" not in err and heavy == list(HEAVY), case
    _entry(key).write_bytes(b"[" * 100_000 + b"]" * 100_000)  # deeper than the parser goes
    code, out, err, _ = emit(root)
    assert (code, out) == good[:2] and "Traceback" not in err
    _entry(key).write_bytes(__import__("marshal").dumps((key, (), ("evil", (), "x"))))
    code, out, err, _ = emit(root)
    assert (code, out) == good[:2] and "Traceback" not in err


def test_mirror_credentials_are_never_written_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    args = ("--profile", "cpu")
    secret = "https://user:s3cret@mirror.example/simple"
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pytorch-cpu={secret}")
    first, second = emit(root, *args), emit(root, *args)
    assert first[0] == 0, first[2]
    # emit prints the mirror without its credentials (uv and pip read them from ~/.netrc)
    assert "--extra-index-url https://mirror.example/simple\n" in first[1]
    assert "s3cret" not in first[1] + first[2]
    assert second[:2] == first[:2]
    plain = "https://mirror.example/simple"  # no credentials: cached, the key holds a digest
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pytorch-cpu={plain}")
    assert emit(root, *args)[0] == 0
    hit = emit(root, *args)
    assert f"--extra-index-url {plain}\n" in hit[1] and hit[3] == []
    keys = [json.loads(p.read_text())["key"] for p in (caches.cache_dir() / "answers").iterdir()]
    assert plain not in json.dumps(keys) and "s3cret" not in json.dumps(keys)
    written = [p.read_bytes() for p in caches.cache_dir().rglob("*") if p.is_file()]
    assert written and not any(b"s3cret" in data for data in written)
