"""The repair flow for a profile locked on demand (``target.commit_lock = false``, like the built-in
``cuda121_ampere``), end to end against the loopback stand-in of PyPI and of the PyTorch cu121
index (which serves ``torch 2.5.1+cu121``): the seed's state (a stale transformers wheel in the
wheelhouse, wrong versions installed) to exact, with no tip that leads to `lock`, which refuses
such a profile; then `verify` is green, a package's deleted file makes it fail, and `sync`
repairs it.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.stack import CU121_PROFILE, Stack, make_project
from support.sync_project import PY, gen, make_venv

from constraints_gen.install.wheelhouse import FOLDER_LOCK

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the profile targets x86_64-manylinux_2_28",
)

ON_DEMAND = CU121_PROFILE.replace('python = ["3.11"]', f'python = ["{PY}"]\ncommit_lock = false')
SYNC = ("--profile", "cu121", "--root", "proj", "--python", "venv", "--wheelhouse", "wh")
HOUSE = ("--profile", "cu121", "--wheelhouse", "wh", "--root", "proj")
DRIFT = "~ torch 2.5.1 -> 2.5.1+cu121\n~ transformers 4.57.3 -> 4.51.3\n"
WHERE = f"profile cu121, CPython {PY}, venv/bin/python"
STALE = "transformers-4.57.3-py3-none-any.whl"


@pytest.fixture(autouse=True)
def _own_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv hard-links installed files to its cache: keep this test's damage to itself."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def test_on_demand_profile_from_the_seeds_state_to_exact(tmp_path: Path, index_env: Stack) -> None:
    root = make_project(tmp_path / "proj", {"cu121": ON_DEMAND})
    (root / "constraints-gen.toml").write_text(
        f'[mirrors]\npytorch-cu121 = "{index_env.cu121_url}"\n'
    )
    (tmp_path / "wh").mkdir()
    shutil.copy(index_env.wheels["transformers==4.57.3"], tmp_path / "wh")
    built = index_env.wheels["torch==2.5.1"].parent
    installed = ["torch==2.5.1", "transformers==4.57.3", "peft==0.13.2", "huggingface-hub==0.30.0"]
    make_venv(tmp_path / "venv", built, installed)

    refused = gen("lock", "cu121", "--root", "proj", cwd=tmp_path)
    assert refused.returncode == 2  # so no tip below may lead there

    unlocked = gen("wheelhouse", "check", *HOUSE, cwd=tmp_path)  # reads, never resolves
    assert (unlocked.returncode, unlocked.stdout) == (2, "")
    assert unlocked.stderr == (
        f"ERROR: profile cu121 has no lock for CPython {PY}"
        f" (proj/generated/cu121/py{PY}.lock.txt is missing)\n"
        f"TIP: lock it on demand and fetch its wheels: gen-constraints wheelhouse fill"
        f" --profile cu121 --python {PY}\n"
    )

    # drift before any wheel is there: locked on demand (a notice), drift first, then the
    # wheels the folder lacks and the command that fetches them
    check = gen("sync", "--check", *SYNC, cwd=tmp_path)
    assert (check.returncode, check.stdout) == (1, DRIFT), check.stderr
    notice, *rest = check.stderr.splitlines()
    assert notice.startswith(
        f"gen-constraints: profile cu121 has no committed lock for CPython {PY}; locking it into "
    )
    assert rest == [
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 0 to remove",
        f"gen-constraints: wheelhouse wh lacks 4 wheels of profile cu121 (CPython {PY}):"
        " huggingface-hub==0.30.0, peft==0.13.2, torch==2.5.1+cu121, transformers==4.51.3",
        f"TIP: fill it: gen-constraints wheelhouse fill --profile cu121 --python {PY}"
        " --wheelhouse wh --root proj",
    ]
    assert not (root / "generated").exists()  # the lock went to the user cache

    house = gen("wheelhouse", "check", *HOUSE, cwd=tmp_path)  # the cached lock, now
    assert house.returncode == 1
    assert f"  wrong version: {STALE} (transformers 4.57.3; locked 4.51.3)\n" in house.stdout
    assert house.stderr.endswith(
        f"TIP: fill it: gen-constraints wheelhouse fill --prune {' '.join(HOUSE)}\n"
    )

    fill = gen("wheelhouse", "fill", "--prune", *HOUSE, cwd=tmp_path)  # the tip, as it is
    assert fill.returncode == 0, fill.stderr
    assert "locking it into" not in fill.stderr  # the cached lock again
    assert fill.stderr.startswith(f"removed {STALE} (wrong version)\n")
    assert "\nfetched torch-2.5.1+cu121-py3-none-any.whl (" in fill.stderr
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == [
        FOLDER_LOCK,
        "huggingface_hub-0.30.0-py3-none-any.whl",
        "peft-0.13.2-py3-none-any.whl",
        "torch-2.5.1+cu121-py3-none-any.whl",
        "transformers-4.51.3-py3-none-any.whl",
    ]
    exact = gen("wheelhouse", "check", *HOUSE, cwd=tmp_path)
    assert (exact.returncode, exact.stderr) == (0, "")
    assert exact.stdout == (
        f"profile cu121, CPython {PY} (x86_64-manylinux_2_28): exact, 4 locked packages\n"
    )

    check = gen("sync", "--check", *SYNC, cwd=tmp_path)
    assert (check.returncode, check.stdout) == (1, DRIFT)
    assert check.stderr == (
        f"gen-constraints: drift ({WHERE}): 0 to install, 2 to replace, 0 to remove\n"
    )
    done = gen("sync", *SYNC, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, DRIFT), done.stderr
    clean = gen("sync", "--check", *SYNC, cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, "")
    assert clean.stderr == f"gen-constraints: in sync ({WHERE}, 4 packages)\n"
    verify = ("verify", "--profile", "cu121", "--root", "proj", "--python", "venv")
    verified = gen(*verify, cwd=tmp_path)
    assert (verified.returncode, verified.stdout) == (0, ""), verified.stderr
    site = tmp_path / f"venv/lib/python{PY}/site-packages"
    (site / "transformers" / "__init__.py").unlink()  # a package left half-written
    broken = gen(*verify, cwd=tmp_path)
    assert broken.returncode == 1
    assert "transformers/__init__.py (missing)" in broken.stdout
    repaired = gen("sync", *SYNC, cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert "gen-constraints: reinstalling transformers\n" in repaired.stderr
    assert gen(*verify, cwd=tmp_path).returncode == 0
    versions = subprocess.run(
        [tmp_path / "venv/bin/python", "-c",
         "import torch, transformers; print(torch.__version__, transformers.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert versions.stdout == "2.5.1+cu121 4.51.3\n"


def test_fill_of_an_on_demand_profile_with_the_mirror_flag(
    tmp_path: Path, index_env: Stack
) -> None:
    make_project(tmp_path / "proj", {"cu121": ON_DEMAND})
    fill = gen("wheelhouse", "fill", *HOUSE, "--mirror", f"pytorch-cu121={index_env.cu121_url}",
               "--json", cwd=tmp_path)  # fmt: skip
    assert fill.returncode == 0, fill.stderr
    assert "locking it into" in fill.stderr
    assert "torch-2.5.1+cu121-py3-none-any.whl" in fill.stdout
    assert not (tmp_path / "proj" / "generated").exists()
