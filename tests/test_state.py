"""The environment state (constraints_gen/install/state.py): verify costs what changed, and finds
every change exactly as ``verify --full`` does.

Real venvs (uv venv), tiny real wheels, real ``uv pip sync`` and ``uv pip install``. Each case:
a passing verify leaves a state; the environment is changed behind the tool's back; the next
``verify`` (which uses the state) says exactly what ``verify --full`` says, and ``sync`` repairs
what a reinstall repairs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.sync_project import PY, gen, make_venv, scenario_project

from constraints_gen import caches, runner
from constraints_gen.install import state

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

COMMON = ("--profile", "demo", "--root", "proj", "--python", "venv")
SITE = f"venv/lib/python{PY}/site-packages"
PROBE = "$ venv/bin/python -I "  # the probe's command line, shown with -v


@pytest.fixture(autouse=True)
def _own_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv hard-links installed files to its cache: an edit in place must not leak."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def settled(tmp_path: Path) -> Path:
    """The scenario synced, then verified until the state holds (the first verify after uv may
    find identities too recent to keep): the next verify runs no probe."""
    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for _ in range(3):
        again = gen("-v", "verify", *COMMON, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        if "verify: unchanged\n" in again.stderr:
            assert PROBE not in again.stderr  # no probe ran
            return tmp_path / SITE
    raise AssertionError(f"the state never held: {again.stderr}")


def rechecked(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("verify: ")]
    assert lines, stderr
    return lines[-1].removeprefix("verify: ")


def same_as_full(tmp_path: Path, *, hashed: str) -> subprocess.CompletedProcess[str]:
    """The verify that uses the state, checked against ``verify --full``: same exit code, same
    findings. ``hashed``: what the state verify must say it hashed."""
    cheap = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert rechecked(cheap.stderr) == hashed, cheap.stderr
    cheap_json = gen("verify", *COMMON, "--json", cwd=tmp_path)  # no state left after a "no"
    full = gen("-v", "verify", *COMMON, "--full", cwd=tmp_path)
    assert rechecked(full.stderr) == "full"
    assert (cheap.returncode, cheap.stdout) == (full.returncode, full.stdout)
    full_json = gen("verify", *COMMON, "--full", "--json", cwd=tmp_path)
    assert json.loads(cheap_json.stdout) == json.loads(full_json.stdout)
    return cheap


def peft_init_found_and_repaired(tmp_path: Path, site: Path) -> None:
    """The state-based verify finds peft/__init__.py differing from its RECORD (one package
    hashed again), exactly as --full does, and sync reinstalls peft."""
    done = same_as_full(tmp_path, hashed="1 of 3 distributions hashed")
    assert done.returncode == 1
    assert done.stdout == (
        f"files: peft 0.13.2: 1 of 6 files differ from its RECORD ({site}/peft-0.13.2.dist-info):"
        " peft/__init__.py (sha256 differs from RECORD)\n"
    )
    repaired = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert "gen-constraints: reinstalling peft\n" in repaired.stderr


def test_an_unchanged_environment_runs_no_probe_and_full_runs_both(tmp_path: Path) -> None:
    settled(tmp_path)
    cheap = gen("verify", *COMMON, "--json", cwd=tmp_path)
    full = gen("-v", "verify", *COMMON, "--full", "--json", cwd=tmp_path)
    assert (cheap.returncode, full.returncode) == (0, 0)
    assert json.loads(cheap.stdout) == json.loads(full.stdout)  # the same report
    # the metadata (the stack's modules), then the installed stage (hashing) and the runtime
    # probe at once
    assert full.stderr.count(PROBE) == 3


def test_an_edit_in_place_with_size_and_mtime_restored_is_found(tmp_path: Path) -> None:
    site = settled(tmp_path)
    module = site / "peft" / "__init__.py"
    text, before = module.read_text(), module.stat()
    module.write_text(text.replace("0.13.2", "0.13.3"))  # the same size
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime put back
    after = module.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    peft_init_found_and_repaired(tmp_path, site)
    assert module.read_text() == text


def test_a_file_added_to_a_package_folder_is_found(tmp_path: Path) -> None:
    """An ``__init__`` extension module shadows ``__init__.py`` (the import system tries the
    extension suffixes first): a file no RECORD lists, which breaks the import."""
    site = settled(tmp_path)
    (site / "transformers" / "notes.txt").write_text("harmless\n")
    done = same_as_full(tmp_path, hashed="1 of 3 distributions hashed")  # its owner, again
    assert (done.returncode, done.stdout) == (0, "")

    settled_again = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert rechecked(settled_again.stderr) in ("unchanged", "0 of 3 distributions hashed")
    (site / "transformers" / "__init__.so").write_bytes(b"not an ELF file\n")
    done = same_as_full(tmp_path, hashed="1 of 3 distributions hashed")
    assert done.returncode == 1
    assert done.stdout.startswith("import: import peft failed: ImportError: ")
    assert "import: import transformers failed: ImportError: " in done.stdout
    # sync says the same (a reinstall cannot remove a file that no RECORD lists)
    synced = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert synced.returncode == 1
    assert "gen-constraints: import: import transformers failed: ImportError" in synced.stderr


def test_a_package_replaced_behind_the_tools_back_is_found_and_repaired(tmp_path: Path) -> None:
    site = settled(tmp_path)
    subprocess.run(
        [runner.uv_bin(), "pip", "install", "-q", "--python", "venv/bin/python", "--no-index",
         "--find-links", "wheels", "transformers==4.57.3"],
        cwd=tmp_path, check=True,
    )  # fmt: skip
    done = same_as_full(tmp_path, hashed="1 of 3 distributions hashed")  # the new .dist-info
    assert (done.returncode, done.stdout) == (
        1,
        "installed: transformers 4.57.3 is installed, 4.51.3 is locked\n",
    )
    repaired = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert (site / "transformers-4.51.3.dist-info").is_dir()
    again = gen("verify", *COMMON, cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "")


def test_the_verify_after_sync_hashes_what_uv_replaced(tmp_path: Path) -> None:
    site = settled(tmp_path)
    subprocess.run(
        [runner.uv_bin(), "pip", "install", "-q", "--python", "venv/bin/python", "--no-index",
         "--find-links", "wheels", "transformers==4.57.3"],
        cwd=tmp_path, check=True,
    )  # fmt: skip
    done = gen("-v", "sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "~ transformers 4.57.3 -> 4.51.3\n" in done.stdout
    assert (site / "transformers-4.51.3.dist-info").is_dir()
    assert rechecked(done.stderr) == "1 of 3 distributions hashed"  # transformers, as installed
    again = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert again.returncode == 0
    assert rechecked(again.stderr) in ("unchanged", "1 of 3 distributions hashed")  # racy ones


def test_an_edited_record_is_found_and_repaired(tmp_path: Path) -> None:
    site = settled(tmp_path)
    record = site / "peft-0.13.2.dist-info" / "RECORD"
    text = record.read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("peft/__init__.py,")]
    empty = "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"  # the sha256 of no bytes
    path, _, size = line.split(",")
    record.write_text(text.replace(line, f"{path},{empty},{size}"))
    peft_init_found_and_repaired(tmp_path, site)
    assert record.read_text() == text


def test_a_pth_added_to_site_packages_is_found(tmp_path: Path) -> None:
    site = settled(tmp_path)
    (site / "zz-harmless.pth").write_text("# a comment\n")
    done = same_as_full(tmp_path, hashed="0 of 3 distributions hashed")  # the imports ran again
    assert (done.returncode, done.stdout) == (0, "")
    (site / "zz-block.pth").write_text("import sys; sys.modules['peft'] = None\n")
    done = same_as_full(tmp_path, hashed="0 of 3 distributions hashed")
    assert done.returncode == 1
    assert done.stdout == (
        "import: import peft failed: ModuleNotFoundError: import of peft halted;"
        " None in sys.modules\n"
    )
    # sync says the same: no RECORD lists the .pth, so no reinstall removes it
    synced = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert synced.returncode == 1
    assert "gen-constraints: import: import peft failed" in synced.stderr


def test_a_pth_edited_in_place_is_found(tmp_path: Path) -> None:
    """A .pth that no RECORD lists, edited in place (its folder's names do not change)."""
    site = settled(tmp_path)
    pth = site / "zz-local.pth"
    pth.write_text("# nothing yet\n")
    assert gen("verify", *COMMON, cwd=tmp_path).returncode == 0  # the state knows it now
    listed = (site.stat().st_mtime_ns, site.stat().st_ctime_ns)
    with pth.open("r+") as handle:  # the same inode, the same folder entries
        handle.write("import sys; sys.modules['peft'] = None\n")
    assert (site.stat().st_mtime_ns, site.stat().st_ctime_ns) == listed
    done = same_as_full(tmp_path, hashed="0 of 3 distributions hashed")
    assert done.returncode == 1
    assert done.stdout.startswith("import: import peft failed: ModuleNotFoundError")


def _entry(tmp_path: Path) -> Path:
    folder = caches.trusted_dir("verified-env", create=False)
    assert folder is not None
    (entry,) = folder.glob("*.json")
    return entry


def test_a_forged_state_entry_is_a_miss(tmp_path: Path) -> None:
    """An entry edited to vouch for a changed file (its new identity written in) is not believed:
    its seal no longer matches, so verify does the whole work and finds the edit."""
    site = settled(tmp_path)
    module = site / "peft" / "__init__.py"
    module.write_text(module.read_text().replace("0.13.2", "0.13.3"))
    info = module.stat()
    path = _entry(tmp_path)
    data = json.loads(path.read_text())
    (where,) = [w for w in data["value"]["dists"] if w.endswith("peft-0.13.2.dist-info")]
    dist = data["value"]["dists"][where]
    files = [(folder, name) for folder, names in dist["files"] for name in names.split("/")]
    ids: list[int] = []
    for folder, name in files:  # the identities as they are now: the edited file's included
        now = (site / folder / name).lstat()
        ids += (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns)
    assert ("peft", "__init__.py") in files and info.st_size > 0
    dist["ids"] = state.identities_digest(ids)
    assert state._files_same(str(site), dist)  # what the walk finds: a hit, were it believed
    path.write_text(json.dumps(data))
    done = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert rechecked(done.stderr) == "full"
    assert done.returncode == 1
    assert "peft/__init__.py (sha256 differs from RECORD)" in done.stdout


def test_a_malformed_state_entry_is_a_miss(tmp_path: Path) -> None:
    settled(tmp_path)
    _entry(tmp_path).write_text('{"cache": "verified-env", "value": [')
    done = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, rechecked(done.stderr)) == (0, "full")


def test_a_changed_profile_setting_runs_the_probes_again(tmp_path: Path) -> None:
    """The state stands on the profile's verify settings: new imports run the probes (the files
    that kept their identities are not hashed again: their RECORD check does not depend on it)."""
    settled(tmp_path)
    demo = tmp_path / "proj" / "profiles" / "demo.toml"
    demo.write_text(demo.read_text() + '[verify]\nimports = ["peft", "absent"]\n')
    done = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert done.returncode == 1
    assert rechecked(done.stderr) == "0 of 3 distributions hashed"
    assert "import: import absent failed" in done.stdout
    assert PROBE in done.stderr


def test_a_changed_environment_variable_runs_the_probes_not_the_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probes inherit the environment (a package may read any variable at import): one more
    variable and they run again, but no file is hashed again."""
    settled(tmp_path)
    monkeypatch.setenv("CG_JOB_ID", "1234")  # a scheduler's per-job variable
    done = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert rechecked(done.stderr) == "0 of 3 distributions hashed"
    assert PROBE in done.stderr
    again = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert rechecked(again.stderr) == "unchanged"  # the state now stands on the new variable


def test_a_variable_the_import_reads_is_never_served_from_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack whose import fails under a variable (peft, built so, reads ``$CG_BREAK``): the
    state kept without it must not vouch for a run with it; the verdict is ``--full``'s."""
    _, wheels = scenario_project(tmp_path)
    # peft rebuilt so that its import reads the variable, the project locked from these wheels
    from support.sync_project import LINUX, PINS, REQUIREMENTS, make_project
    from support.wheels import build_wheel

    for wheel in wheels.glob("peft-*.whl"):
        wheel.unlink()
    build_wheel(
        wheels,
        "peft",
        "0.13.2",
        requires=["transformers>=4.51"],
        files={
            "peft/__init__.py": "import os, transformers\n"
            "if os.environ.get('CG_BREAK'):\n    raise ImportError('CG_BREAK is set')\n"
        },
    )
    import shutil

    shutil.rmtree(tmp_path / "proj")
    make_project(
        tmp_path / "proj", wheels, requirements=REQUIREMENTS, profiles={"demo": (LINUX, PINS)}
    )
    make_venv(tmp_path / "venv", wheels, [])
    assert gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path).returncode == 0
    for _ in range(3):
        ok = gen("-v", "verify", *COMMON, cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        if rechecked(ok.stderr) == "unchanged":
            break
    assert rechecked(ok.stderr) == "unchanged"
    monkeypatch.setenv("CG_BREAK", "1")
    broken = gen("-v", "verify", *COMMON, cwd=tmp_path)
    assert broken.returncode == 1
    assert rechecked(broken.stderr) == "0 of 3 distributions hashed"
    assert "import peft failed: ImportError: CG_BREAK is set" in broken.stdout
    full = gen("verify", *COMMON, "--full", cwd=tmp_path)
    assert (full.returncode, full.stdout) == (broken.returncode, broken.stdout)


def test_a_script_outside_site_packages_is_kept_by_identity(tmp_path: Path) -> None:
    """RECORD lists a wheel's scripts as ``../../../bin/NAME``: the probe hashed them inside the
    prefix, so their identities are kept like any other file (not "unknown", which would hash
    the whole package again on every verify), and one that changes is seen."""
    site = tmp_path / "lib" / "site-packages"
    (site / "tool").mkdir(parents=True)
    (tmp_path / "bin").mkdir()
    files = {
        "tool/__init__.py": site / "tool" / "__init__.py",
        "../../bin/tool": tmp_path / "bin" / "tool",
    }
    for path in files.values():
        path.write_text("x\n")
    seen: dict[str, Any] = {
        "record": None,
        "folders": [],
        "files": {rel: list(caches.identity(path) or ()) for rel, path in files.items()},
    }
    stored = state.dist_seen("tool", 2, seen, started_ns=1)
    assert stored["unknown"] is True  # every ctime is after a check that started at 1 ns
    stored = state.dist_seen("tool", 2, seen, started_ns=10**19)  # checked later: all kept
    assert stored["name"] == "tool"
    assert stored["unknown"] is False
    assert stored["files"] == [["../../bin", "tool"], ["tool", "__init__.py"]]
    assert state._files_same(str(site), stored)
    (tmp_path / "bin" / "tool").write_text("y\n")
    assert not state._files_same(str(site), stored)
