"""The answer cache of ``wheelhouse check``: an unchanged folder is answered without the check,
and any change to what the answer stands on is checked again (each case must say no)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from support.sync_project import CP, PY, make_project, scenario_project
from support.wheels import build_wheel

from constraints_gen import caches
from constraints_gen.install.checkanswers import CHECKS

#: an input changed within 50 ms of the command's start is not stored (caches.racy)
SETTLE = 0.1
TORCH = f"torch-2.5.1+cu121-{CP}-{CP}-manylinux_2_28_x86_64.whl"
PEFT = "peft-0.13.2-py3-none-any.whl"
TRANSFORMERS = "transformers-4.51.3-py3-none-any.whl"
LOCKED = [PEFT, TORCH, TRANSFORMERS]
CHECK = ("wheelhouse", "check", "--profile", "demo", "--root", "proj", "--wheelhouse", "wh")
#: what only the whole check imports: a hit imports none of them
HEAVY = ("constraints_gen.install.wheelhouse", "constraints_gen.profiles.model", "packaging.tags")
EXACT = f"profile demo, CPython {PY} (x86_64-manylinux_2_28): exact, 3 locked packages\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario project (profile demo, locked by uv) and its wheels, built once."""
    base = tmp_path_factory.mktemp("checkanswers")
    scenario_project(base)
    return base


@pytest.fixture
def here(built: Path, tmp_path: Path) -> Path:
    """A folder holding ``proj`` and ``wh``, a wheelhouse with exactly the locked wheels."""
    shutil.copytree(built / "proj", tmp_path / "proj")
    shutil.copytree(built / "wheels", tmp_path / "wheels")
    (tmp_path / "wh").mkdir()
    for name in LOCKED:
        shutil.copy(built / "wheels" / name, tmp_path / "wh")
    time.sleep(SETTLE)
    return tmp_path


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, command: Sequence[str] = CHECK
) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr, the heavy modules it imported) of the real CLI: ``command``
    and ``args``."""
    argv = [*command, *args]
    probe = (
        "import io, sys\nfrom constraints_gen.cli import main\nsys.stdout = io.StringIO()\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as exit:\n"
        f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "    sys.__stdout__.write(repr((exit.code, sys.stdout.getvalue(), heavy)))\n"
    )
    # not measured by coverage: it would import its own modules into the probe
    base = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**base, **(env or {})},
    )
    code, out, heavy = ast.literal_eval(done.stdout)
    return code, out, done.stderr, heavy


def entries() -> list[Path]:
    folder = caches.cache_dir() / CHECKS.name
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def served(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run the check twice; the second one must be a hit. Its (code, stdout, stderr)."""
    first = run(cwd, *args)
    assert first[0] == 0, first
    second = run(cwd, *args)
    assert second[3] == [], "not served from the answer cache"
    return second[:3]


def missed(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run the check; it must do the whole work. Its (code, stdout, stderr)."""
    code, out, err, heavy = run(cwd, *args)
    assert "constraints_gen.profiles.model" in heavy, "served from the answer cache"
    return code, out, err


def same_stat_write(path: Path, data: bytes) -> None:
    """``data`` (as long as the file) into ``path`` in place, its size and mtime put back."""
    before = path.stat()
    assert len(data) == before.st_size and data != path.read_bytes()
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def same_stat_edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text and len(old) == len(new)
    same_stat_write(path, text.replace(old, new, 1).encode("utf-8"))


# -- served ----------------------------------------------------------------------------------


def test_an_unchanged_folder_is_served_with_the_same_output(here: Path) -> None:
    first = run(here)
    assert first[:3] == (0, EXACT, "") and first[3] == list(HEAVY)
    assert served(here) == first[:3]
    assert len(entries()) == 1
    # JSON: a miss whose sha256s all come from the hash cache prints what the hit prints
    miss = run(here, "--json")
    assert miss[0] == 0 and miss[3] == list(HEAVY)
    hit = run(here, "--json")
    assert hit[3] == []
    assert hit[:3] == miss[:3]
    report = json.loads(hit[1])
    assert (report["ok"], report["hashed"], report["locks"][0]["exact"]) == (True, 0, True)


def test_a_first_run_that_hashed_is_served_with_nothing_hashed(here: Path) -> None:
    miss = run(here, "--json")
    assert json.loads(miss[1])["hashed"] == 3  # read every locked wheel
    hit = run(here, "--json")
    assert hit[3] == []
    assert json.loads(hit[1]) == {**json.loads(miss[1]), "hashed": 0}  # a hit reads none


def test_quiet_is_honoured_and_messages_are_replayed_at_their_level(here: Path) -> None:
    assert run(here, "-q")[:3] == (0, EXACT, "")
    assert served(here, "-q") == (0, EXACT, "")
    assert served(here) == (0, EXACT, "")  # -q is not part of the question
    # what a check said is said again on a hit, each line at its level: an entry sealed by
    # this tool with two messages
    (entry,) = entries()
    data = json.loads(entry.read_text(encoding="utf-8"))
    said = [["info", "gen-constraints: a notice"], ["always", "gen-constraints: warning: w"]]
    CHECKS.put(data["key"], {**data["value"], "messages": said})
    assert run(here)[:3] == (0, EXACT, "gen-constraints: a notice\ngen-constraints: warning: w\n")
    assert run(here, "-q")[:3] == (0, EXACT, "gen-constraints: warning: w\n")


# -- the wheels ------------------------------------------------------------------------------


def test_a_wheel_replaced_with_its_size_and_mtime_put_back_is_checked_again(here: Path) -> None:
    served(here)
    peft = here / "wh" / PEFT
    data = bytearray(peft.read_bytes())
    data[len(data) // 2] ^= 0xFF  # other bytes; only the ctime tells
    same_stat_write(peft, bytes(data))
    code, out, err = missed(here)
    assert code == 1
    assert f"  corrupt: {PEFT} (sha256:" in out
    assert "ERROR: wheelhouse wh cannot install the lock of demo" in err


def test_a_wheel_removed_is_checked_again(here: Path) -> None:
    served(here)
    (here / "wh" / TRANSFORMERS).unlink()
    code, out, _ = missed(here)
    assert code == 1 and "  missing: transformers 4.51.3\n" in out


def test_a_wheel_added_is_checked_again(here: Path) -> None:
    served(here)
    shutil.copy(here / "wheels" / "extra-1.0-py3-none-any.whl", here / "wh")
    code, out, _ = missed(here)  # still exact, but the answer names it
    assert (code, out) == (0, EXACT + "unreferenced: extra-1.0-py3-none-any.whl\n")
    time.sleep(SETTLE)
    assert served(here)[1] == out
    # a wheel of a locked version whose bytes are not the locked ones (another build, under
    # another name that fits the target)
    other = build_wheel(here / "wh", "transformers", "4.51.3", tag="py2.py3-none-any")
    assert other.name == "transformers-4.51.3-py2.py3-none-any.whl"
    code, out, _ = missed(here)
    assert code == 1
    assert f"  corrupt: {other.name} (sha256:" in out
    other.unlink()
    time.sleep(SETTLE)
    served(here)
    # a wheel of a locked package at another version
    shutil.copy(here / "wheels" / "transformers-4.57.3-py3-none-any.whl", here / "wh")
    code, out, _ = missed(here)
    assert code == 1 and "  wrong version: transformers-4.57.3-py3-none-any.whl" in out


def test_a_folder_that_is_not_exact_is_never_stored(here: Path) -> None:
    (here / "wh" / TORCH).unlink()
    first = missed(here)
    assert first[0] == 1 and "  missing: torch 2.5.1+cu121\n" in first[1]
    assert missed(here) == first
    assert entries() == []


# -- the locks and the profiles --------------------------------------------------------------


def test_an_answer_from_a_lock_made_on_demand_is_never_stored(here: Path) -> None:
    """Such a lock lives in the user cache, found by more than the inputs an entry keeps."""
    from constraints_gen.locks.locate import on_demand_dir
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.project import find_project

    profiles = load_profiles(find_project(here / "proj").profiles_dir)
    cached = on_demand_dir(profiles, profiles.get("demo"), PY)
    assert cached is not None
    shutil.copytree(here / "proj/generated/demo", cached)
    shutil.rmtree(here / "proj/generated/demo")
    time.sleep(SETTLE)
    first = missed(here, "--json")
    assert first[0] == 0
    assert json.loads(first[1])["locks"][0]["lock"] == str(cached / f"py{PY}.lock.txt")
    again = missed(here, "--json")
    assert json.loads(again[1]) == {**json.loads(first[1]), "hashed": 0}
    assert missed(here, "--json") == again
    assert entries() == []


def test_a_lock_edited_with_its_size_and_mtime_put_back_is_refused(here: Path) -> None:
    served(here)
    lock = here / "proj" / "generated" / "demo" / f"py{PY}.lock.txt"
    same_stat_edit(lock, "transformers==4.51.3", "transformers==4.51.4")
    code, out, err = missed(here)
    assert code == 2 and out == ""
    assert "refused" in err


def test_constraints_edited_is_refused(here: Path) -> None:
    served(here)
    constraints = here / "proj" / "generated" / "demo" / f"py{PY}.constraints.txt"
    same_stat_edit(constraints, "transformers==4.51.3", "transformers==4.51.4")
    code, _, err = missed(here)
    assert code == 2 and "refused" in err


def test_a_lock_regenerated_for_other_pins_is_checked_again(here: Path, tmp_path: Path) -> None:
    served(here)
    # the same profile locked with transformers 4.57.3: a sealed pair, for the same target
    other = make_project(
        tmp_path / "other",
        here / "wheels",
        requirements={"torch": ">=2.5", "transformers": ">=4.51.3", "peft": ">=0.13"},
        profiles={
            "demo": ("x86_64-manylinux_2_28", {"torch": "2.5.1+cu121", "transformers": "4.57.3"})
        },
    )
    for name in (f"py{PY}.lock.txt", f"py{PY}.constraints.txt"):
        shutil.copy(other / "generated/demo" / name, here / "proj/generated/demo" / name)
    code, out, _ = missed(here)
    assert code == 1
    assert "  missing: transformers 4.57.3\n" in out
    assert "  wrong version: transformers-4.51.3-py3-none-any.whl" in out


def test_a_profile_edited_with_its_size_and_mtime_put_back_is_checked_again(here: Path) -> None:
    served(here)
    other = "3.10" if PY != "3.10" else "3.13"
    same_stat_edit(here / "proj/profiles/demo.toml", f'python = ["{PY}"]', f'python = ["{other}"]')
    code, out, err = missed(here)
    assert (code, out) == (2, "")
    assert f"profile demo has no lock for CPython {other}" in err


def test_a_profile_or_a_config_added_is_checked_again(here: Path) -> None:
    served(here)
    profile = (here / "proj/profiles/demo.toml").read_text(encoding="utf-8")
    (here / "proj/profiles/more.toml").write_text(profile.replace('"demo"', '"more"'))
    assert missed(here)[:2] == (0, EXACT)
    time.sleep(SETTLE)
    served(here)
    (here / "proj/constraints-gen.toml").write_text("[mirrors]\n")
    assert missed(here)[:2] == (0, EXACT)
    time.sleep(SETTLE)
    served(here)
    # a profile file whose suffix is in capitals: Windows' glob reads it (case-insensitive)
    (here / "proj/profiles/LOUD.TOML").write_text(profile.replace('"demo"', '"loud"'))
    assert missed(here)[0] == 0


def test_the_options_and_the_mirrors_are_part_of_the_question(here: Path) -> None:
    served(here)
    assert missed(here, "--python", PY)[:2] == (0, EXACT)
    code, _, _, heavy = run(here, env={"GEN_CONSTRAINTS_MIRRORS": "pypi=/nowhere"})
    assert code == 0 and heavy == list(HEAVY)


def test_a_readout_edited_is_read_again_and_live_detection_is_never_served(here: Path) -> None:
    readout = here / "machine.json"
    cpu: dict[str, object] = {"driver_version": None, "cuda_driver_version": None, "gpus": []}
    readout.write_text(json.dumps(cpu) + " ")
    time.sleep(SETTLE)
    args = ("wheelhouse", "check", "--root", "proj", "--wheelhouse", "wh")
    first = run(here, "--hardware", "machine.json", command=args)  # selects demo
    assert first[:2] == (0, EXACT) and first[3] == list(HEAVY)
    assert run(here, "--hardware", "machine.json", command=args)[3] == []
    same_stat_edit(readout, '"gpus": []} ', '"gpus":  []}')
    assert run(here, "--hardware", "machine.json", command=args)[3] == list(HEAVY)
    live = [run(here, command=args) for _ in range(2)]  # this machine: never cached
    assert [heavy for _, _, _, heavy in live] == [list(HEAVY)] * 2
    assert live[0][:2] == live[1][:2]


# -- the entries -----------------------------------------------------------------------------


def test_a_forged_entry_is_a_miss_not_an_answer(here: Path) -> None:
    served(here)
    (entry,) = entries()
    (here / "wh" / TRANSFORMERS).unlink()
    # the entry made to match the folder as it is now, without this tool's key
    data = json.loads(entry.read_text(encoding="utf-8"))
    value = data["value"]
    gone = str((here / "wh" / TRANSFORMERS).resolve())
    value["folder"] = [name for name in value["folder"] if name != TRANSFORMERS]
    value["wheels"] = [item for item in value["wheels"] if Path(item[0]).resolve() != Path(gone)]
    assert len(value["wheels"]) == 2
    entry.write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = missed(here)
    assert code == 1 and "  missing: transformers 4.51.3\n" in out


@pytest.mark.parametrize(
    "broken",
    ["", "{", "[]", "[" * 100_000 + "]" * 100_000, '{"cache": 1}', "\x00\xff not json"],
)
def test_a_malformed_entry_is_a_miss(here: Path, broken: str) -> None:
    served(here)
    (entry,) = entries()
    entry.write_text(broken, encoding="utf-8", errors="surrogateescape")
    assert missed(here) == (0, EXACT, "")


def test_a_sealed_entry_of_the_wrong_shape_is_a_miss(here: Path) -> None:
    served(here)
    (entry,) = entries()
    data = json.loads(entry.read_text(encoding="utf-8"))
    for value in (
        {**data["value"], "wheels": "all of them"},
        {**data["value"], "pairs": [{"lock": "x"}]},
        {key: v for key, v in data["value"].items() if key != "folder"},
        [data["value"]],
    ):
        CHECKS.put(data["key"], value)  # sealed with this user's key: only its shape is wrong
        assert missed(here) == (0, EXACT, "")


def test_an_entry_whose_lock_identities_are_not_its_pairs_files_is_a_miss(here: Path) -> None:
    """The identities an entry compares must be those of the very files its pairs read."""
    served(here)
    (entry,) = entries()
    data = json.loads(entry.read_text(encoding="utf-8"))
    value = data["value"]
    value["locks"] = value["locks"][::-1]  # the paths no longer follow the pairs
    CHECKS.put(data["key"], value)
    assert missed(here) == (0, EXACT, "")


# -- racy inputs -----------------------------------------------------------------------------


def main_here(cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """The real CLI in this process (it starts at once: no interpreter start-up in between)."""
    from constraints_gen.cli import main

    monkeypatch.chdir(cwd)
    try:
        main([*CHECK, *args])
    except SystemExit as exit:
        assert isinstance(exit.code, int)
        return exit.code
    raise AssertionError("main() returned without an exit code")


@pytest.mark.parametrize("touched", ["wh/" + PEFT, f"proj/generated/demo/py{PY}.lock.txt",
                                     "proj/profiles/demo.toml"])  # fmt: skip
def test_an_input_changed_just_before_the_command_is_not_stored(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], touched: str
) -> None:
    # the margin made wider than what this (loaded) machine may take to start the command,
    # and the other files made older than it: only the touched one is racy
    margin = caches.SETTLE_NS
    monkeypatch.setattr(caches, "SETTLE_NS", 500_000_000)
    time.sleep(0.6)
    os.utime(here / touched)  # its ctime is now: a second change in this clock tick may hide
    assert main_here(here, monkeypatch) == 0
    assert capsys.readouterr().out == EXACT
    assert entries() == []
    monkeypatch.setattr(caches, "SETTLE_NS", margin)
    time.sleep(SETTLE)
    assert main_here(here, monkeypatch) == 0
    assert len(entries()) == 1


def test_a_wheel_changed_while_the_check_runs_is_not_stored(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from constraints_gen.cli import wheelhouse

    whole = wheelhouse._check

    def changing(*args: object, **kwargs: object) -> object:
        result = whole(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(SETTLE)  # not racy by its time: found by its identity only
        same_stat_write(here / "wh" / PEFT, (here / "wh" / PEFT).read_bytes()[::-1])
        return result

    monkeypatch.setattr(wheelhouse, "_check", changing)
    assert main_here(here, monkeypatch) == 0
    assert entries() == []
