"""The no-op path of sync and verify (constraints_gen/install/noop.py): an environment answer
served from the cache says exactly what the whole path says, and every input it stands on, when
changed, makes it a miss (the whole path runs, and refuses what it refuses).

Real venvs (uv venv), tiny real wheels, real ``uv pip sync``. ``-v`` shows which path ran:
``environment answer: cached`` (served) or ``not cached`` (the whole path), and ``verify:
unchanged`` when the state held.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.sync_project import PY, gen, make_venv, scenario_project

from constraints_gen import caches
from constraints_gen.install import noop

if TYPE_CHECKING:
    from constraints_gen.install.sync import Environment
    from constraints_gen.profiles.model import ProfileSet

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

COMMON = ("--profile", "demo", "--root", "proj", "--python", "venv")
SYNC = ("sync", *COMMON, "--wheelhouse", "wheels")
CACHED = "environment answer: cached\n"
MISSED = "environment answer: not cached\n"
LOCK = f"proj/generated/demo/py{PY}.lock.txt"


@pytest.fixture(autouse=True)
def _own_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def quiet_inputs() -> None:
    """Let every input settle past the clock's margin (caches.racy), so an answer is kept."""
    time.sleep(caches.SETTLE_NS / 1e9 + 0.05)


def settled(tmp_path: Path) -> None:
    """The scenario synced and verified until both the state and the answer hold."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    quiet_inputs()
    assert gen(*SYNC, cwd=tmp_path).returncode == 0
    for _ in range(4):
        again = gen("-v", "verify", *COMMON, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        if CACHED in again.stderr and "verify: unchanged\n" in again.stderr:
            return
        quiet_inputs()
    raise AssertionError(f"the answer never held: {again.stderr}")


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return gen("-v", *args, cwd=tmp_path)


def path_of(done: subprocess.CompletedProcess[str]) -> str:
    """Which path ran: "cached" or "not cached"."""
    assert (CACHED in done.stderr) != (MISSED in done.stderr), done.stderr
    return "cached" if CACHED in done.stderr else "not cached"


def said(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What the user sees on stderr without -v: the lines not prefixed by a debug marker."""
    return [
        line
        for line in done.stderr.splitlines()
        if not line.startswith(("environment answer: ", "verify: ", "$ "))
    ]


def test_a_served_answer_says_exactly_what_the_whole_path_says(tmp_path: Path) -> None:
    settled(tmp_path)
    for args in (("verify", *COMMON), ("verify", *COMMON, "--json"), SYNC, (*SYNC, "--json"),
                 (*SYNC, "--check"), (*SYNC, "--check", "--json")):  # fmt: skip
        served = run(tmp_path, *args)
        assert path_of(served) == "cached", (args, served.stderr)
        whole = uncached(tmp_path, *args, cache=tmp_path / f"elsewhere-{len(args)}-{args[-1]}")
        assert path_of(whole) == "not cached"
        assert (served.returncode, served.stdout) == (whole.returncode, whole.stdout), args
        assert said(served) == said(whole), args
    quiet = gen("-q", "verify", *COMMON, cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PIP_INDEX_URL")}


def uncached(tmp_path: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """The same command with a new user cache (``cache``): the whole path, nothing stored."""
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", "-v", *args],
        cwd=tmp_path,
        env={**_env(), "GEN_CONSTRAINTS_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_full_and_no_deep_never_use_the_answer(tmp_path: Path) -> None:
    settled(tmp_path)
    for args in (("verify", *COMMON, "--full"), ("verify", *COMMON, "--no-deep"),
                 (*SYNC, "--full"), (*SYNC, "--no-deep")):  # fmt: skip
        done = run(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert "verify: unchanged\n" not in done.stderr, args
        assert "verify: full\n" in done.stderr, args


def edit_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    """Change ``path``'s bytes, its size and mtime put back: only the ctime moves."""
    assert len(old) == len(new)
    text, before = path.read_text(), path.stat()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_profile_edited_with_size_and_mtime_restored_is_a_miss(tmp_path: Path) -> None:
    settled(tmp_path)
    profile = tmp_path / "proj/profiles/demo.toml"
    edit_keeping_size_and_mtime(profile, 'transformers = "4.51.3"', 'transformers = "4.57.3"')
    quiet_inputs()
    done = run(tmp_path, *SYNC)
    assert path_of(done) == "not cached"
    # the whole path finds the committed lock stale for the edited profile
    assert f"{LOCK} is stale" in done.stderr or "stale" in done.stderr, done.stderr


def test_a_new_profile_file_is_a_miss(tmp_path: Path) -> None:
    settled(tmp_path)
    (tmp_path / "proj/profiles/other.toml").write_text(
        (tmp_path / "proj/profiles/demo.toml").read_text().replace('"demo"', '"other"')
    )
    assert path_of(run(tmp_path, "verify", *COMMON)) == "not cached"


def test_a_tampered_lock_is_never_served(tmp_path: Path) -> None:
    """The lock's body edited (its seal broken): a miss, and the whole path refuses it."""
    settled(tmp_path)
    lock = tmp_path / LOCK
    edit_keeping_size_and_mtime(lock, "transformers==4.51.3", "transformers==4.57.3")
    for args in (("verify", *COMMON), SYNC, (*SYNC, "--check")):
        done = run(tmp_path, *args)
        assert path_of(done) == "not cached", args
        assert done.returncode == 2, (args, done.stderr)
        assert "sha256" in done.stderr or "edited" in done.stderr, done.stderr


def test_a_lock_with_another_header_is_a_miss(tmp_path: Path) -> None:
    """A lock sealed as well but not the one the answer was stored with (its header differs):
    worked out again."""
    settled(tmp_path)
    lock = tmp_path / LOCK
    lines = lock.read_text().split("\n")
    lines[1] = lines[1] + " "  # the regenerate line: the header is not the stored one
    lock.write_text("\n".join(lines))
    done = run(tmp_path, "verify", *COMMON)
    assert path_of(done) == "not cached"


def test_another_interpreter_or_venv_is_a_miss(tmp_path: Path) -> None:
    settled(tmp_path)
    cfg = tmp_path / "venv/pyvenv.cfg"
    cfg.write_text(cfg.read_text() + "# touched\n")
    assert path_of(run(tmp_path, "verify", *COMMON)) == "not cached"
    quiet_inputs()
    assert path_of(run(tmp_path, "verify", *COMMON)) in ("cached", "not cached")
    # the interpreter a venv links to, replaced by another file
    python = tmp_path / "venv/bin/python"
    real = Path(os.path.realpath(python))
    copy = tmp_path / "python-copy"
    copy.write_bytes(real.read_bytes())
    copy.chmod(0o755)
    python.unlink()
    python.symlink_to(copy)
    done = run(tmp_path, "verify", *COMMON)
    assert path_of(done) == "not cached"
    # the same venv named another way (VIRTUAL_ENV, not --python): its own question
    env = {**_env(), "VIRTUAL_ENV": str(tmp_path / "venv")}
    by_env = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "-v", "verify", "--profile", "demo",
         "--root", "proj"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert path_of(by_env) == "not cached"


def test_other_mirrors_are_a_miss_and_a_mirror_that_lost_wheels_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled(tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for wheel in (tmp_path / "wheels").glob("*.whl"):
        (mirror / wheel.name).write_bytes(wheel.read_bytes())
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pypi={mirror}")
    done = run(tmp_path, "verify", *COMMON)
    assert path_of(done) == "not cached"
    assert done.returncode == 0, done.stderr
    quiet_inputs()
    again = run(tmp_path, "verify", *COMMON)
    if path_of(again) == "not cached":  # the first run's answer may have been racy
        quiet_inputs()
        again = run(tmp_path, "verify", *COMMON)
    assert path_of(again) == "cached"
    for wheel in mirror.glob("transformers-*.whl"):
        wheel.unlink()  # the folder lost the pinned transformers: checked again, refused
    lost = run(tmp_path, "verify", *COMMON)
    assert path_of(lost) == "not cached"
    assert lost.returncode == 2, lost.stderr
    assert "holds no wheel of transformers 4.51.3" in lost.stderr


def test_a_forged_or_malformed_entry_is_a_miss(tmp_path: Path) -> None:
    settled(tmp_path)
    home = Path(os.environ["GEN_CONSTRAINTS_CACHE_DIR"])
    entries = []
    for path in (home / "answers").glob("*.json"):
        data = json.loads(path.read_text())
        if data["key"].get("command") == "verify":
            entries.append((path, data))
    assert len(entries) == 1
    path, data = entries[0]
    data["value"]["packages"] = 99  # believed, it would say 99 packages
    path.write_text(json.dumps(data))
    done = run(tmp_path, "verify", *COMMON)
    assert path_of(done) == "not cached"
    assert "3 packages at their locked versions" in done.stderr
    path.write_text("{not json")
    assert path_of(run(tmp_path, "verify", *COMMON)) == "not cached"


def _resolve(tmp_path: Path, during: Callable[[], None] | None = None) -> noop.Lookup:
    """One verify's lookup and whole path, in this process (``during``: runs while it works)."""
    from constraints_gen.cli.verify import environment

    venv, root = str(tmp_path / "venv"), tmp_path / "proj"
    found = noop.lookup("verify", root=root, hardware_file=None, profile="demo", python=venv)

    def work() -> tuple[ProfileSet, Environment]:
        result = environment(found, None, "demo", venv)
        if during is not None:
            during()
        return result

    if found.hit is None:
        noop.resolve(found, work)
    return found


def test_an_input_changed_at_the_start_or_during_the_work_is_not_stored(tmp_path: Path) -> None:
    """A profile written within the clock's margin of the command's start, or while the
    command works: what was read may not be what the identity stands for, so nothing is kept."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    quiet_inputs()
    assert _resolve(tmp_path).hit is None
    assert _resolve(tmp_path).hit is not None  # stored, then served
    profile = tmp_path / "proj/profiles/demo.toml"
    profile.write_text(profile.read_text() + "\n")  # just now: racy at the next start
    assert _resolve(tmp_path).hit is None
    assert _resolve(tmp_path).hit is None  # the racy run stored nothing
    quiet_inputs()

    def edit() -> None:
        profile.write_text(profile.read_text() + "\n")

    assert _resolve(tmp_path, during=edit).hit is None
    quiet_inputs()
    assert _resolve(tmp_path).hit is None  # nothing was stored while it changed
    assert _resolve(tmp_path).hit is not None


def test_drift_behind_the_tools_back_is_synced_not_served(tmp_path: Path) -> None:
    """The answer holds but uv finds drift (a package replaced with uv pip install): the whole
    sync runs and repairs it; --check reports it, exit 1."""
    settled(tmp_path)
    from constraints_gen import runner

    subprocess.run(
        [runner.uv_bin(), "pip", "install", "-q", "--python", str(tmp_path / "venv/bin/python"),
         "--no-index", "--find-links", str(tmp_path / "wheels"), "transformers==4.57.3"],
        check=True,
    )  # fmt: skip
    check = run(tmp_path, *SYNC, "--check")
    assert path_of(check) == "cached"
    assert check.returncode == 1
    assert check.stdout == "~ transformers 4.57.3 -> 4.51.3\n"
    done = run(tmp_path, *SYNC)
    assert path_of(done) == "cached"
    assert done.returncode == 0, done.stderr
    assert "1 installed, 0 replaced" in done.stderr or "replaced" in done.stderr
    assert "verify: unchanged\n" not in done.stderr
    after = run(tmp_path, "verify", *COMMON, "--json")
    assert json.loads(after.stdout)["verified"] is True


def test_this_machine_detected_is_part_of_the_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --profile and no readout: the machine is detected on every run (once), and the
    answer is keyed on what was detected: another machine (here: another C library) is
    another question, never served the answer of the first."""
    from constraints_gen.detect.hardware import parse_hardware
    from constraints_gen.profiles import choose

    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    quiet_inputs()
    readout: dict[str, Any] = {
        "platform": {"system": "linux", "machine": "x86_64", "os_version": None,
                     "glibc": "2.36", "libc": {"name": "glibc", "version": "2.36"}, "l4t": None},
        "driver_version": None, "cuda_driver_version": None, "gpus": [],
    }  # fmt: skip
    machines = [parse_hardware(json.dumps(readout), "this machine")]
    calls: list[int] = []

    def detected(path: Path | None) -> Any:
        assert path is None
        calls.append(1)
        return machines[-1]

    monkeypatch.setattr(choose, "read_machine", detected)
    monkeypatch.delenv("GEN_CONSTRAINTS_HARDWARE", raising=False)

    def once() -> noop.Lookup:
        from constraints_gen.cli.verify import environment

        venv, root = str(tmp_path / "venv"), tmp_path / "proj"
        found = noop.lookup("verify", root=root, hardware_file=None, profile=None, python=venv)
        if found.hit is None:
            _, env = noop.resolve(found, lambda: environment(found, None, None, venv))
            assert env.profile.name == "demo"
        return found

    assert once().hit is None
    assert len(calls) == 1  # detected once for the lookup and the selection both
    hit = once()
    assert hit.hit is not None and hit.hit.target.profile == "demo"
    assert hit.machine() is machines[-1] and len(calls) == 2  # the GPU check asks no more
    readout["platform"]["machine"] = "aarch64"
    machines.append(parse_hardware(json.dumps(readout), "another machine"))
    venv = str(tmp_path / "venv")
    other = noop.lookup("verify", root=tmp_path / "proj", hardware_file=None, profile=None,
                        python=venv)  # fmt: skip
    assert other.hit is None and other.key is not None  # another machine: another question


def test_detection_on_every_run_and_said_once(tmp_path: Path) -> None:
    """Through the CLI, this machine detected for real (no GPU here): the second run is served,
    and what detection says is said once per run, cached or not."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    quiet_inputs()
    synced = run(tmp_path, "sync", "--root", "proj", "--python", "venv", "--wheelhouse", "wheels")
    assert synced.returncode == 0, synced.stderr
    assert synced.stderr.count("treating this as a CPU machine") == 1
    args = ("verify", "--root", "proj", "--python", "venv")
    first = run(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert path_of(first) == "not cached"
    quiet_inputs()
    for _ in range(3):
        again = run(tmp_path, *args)
        if path_of(again) == "cached":
            break
        quiet_inputs()
    assert path_of(again) == "cached", again.stderr
    assert again.stderr.count("treating this as a CPU machine") == 1
    assert first.stderr.count("treating this as a CPU machine") == 1
    assert said(again) == said(first)
    assert "profile demo" in again.stderr


def test_no_credential_reaches_the_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credentialed mirror URL in the environment: the answer keys on a digest of it, and no
    file of the user cache, no message and no output holds the password."""
    secret = "s3cr3t-pw"
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pypi=https://alice:{secret}@mirror.example/s")
    settled(tmp_path)
    outputs = [run(tmp_path, *args) for args in (("verify", *COMMON, "--json"), (*SYNC, "--json"))]
    assert all(path_of(done) == "cached" for done in outputs)
    for done in outputs:
        assert secret not in done.stdout + done.stderr
    home = Path(os.environ["GEN_CONSTRAINTS_CACHE_DIR"])
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.parent.name == "answers" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
