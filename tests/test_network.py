"""The incident with real wheels from PyPI (opt-in: ``pytest -m network`` or ``--run-network``).

transformers 4.51.3 and 4.57.3, peft 0.13.2 and their real dependencies come from PyPI; only torch
is a tiny local stand-in (``2.5.1+cu121`` and ``+cu124``), so transformers and peft are checked by
their metadata, not imported (both import torch's classes); their native dependencies (tokenizers,
safetensors) are imported. Downloads about 40 MB.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from support.sync_project import PY, TORCH_TAG, gen, make_project
from support.wheels import build_wheel

from constraints_gen import runner
from constraints_gen.install.index import PYPI, Source, download, list_files

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
        reason="the profile targets x86_64-manylinux_2_28",
    ),
]
COMMON = ("--profile", "demo", "--root", "proj")


def test_incident_with_real_wheels(tmp_path: Path) -> None:
    torch = tmp_path / "torch"
    for label in ("cu121", "cu124"):
        build_wheel(torch, "torch", f"2.5.1+{label}", tag=TORCH_TAG)
    make_project(
        tmp_path / "proj",
        torch,
        requirements={"torch": ">=2.5", "transformers": ">=4.51.3,!=4.52.*", "peft": ">=0.13"},
        profiles={
            "demo": (
                "x86_64-manylinux_2_28",
                {"torch": "2.5.1+cu121", "transformers": "4.51.3", "peft": "0.13.2"},
            )
        },
        index=PYPI,
    )
    fill = gen("wheelhouse", "fill", *COMMON, "--wheelhouse", "wh", "--find-links", torch,
               "--index-url", PYPI, cwd=tmp_path)  # fmt: skip
    assert fill.returncode == 0, fill.stderr
    stale = next(
        f
        for f in list_files(Source(location=PYPI, kind="index"), "transformers")
        if f.filename == "transformers-4.57.3-py3-none-any.whl"
    )
    assert stale.sha256 is not None
    download(stale, tmp_path / "wh", {stale.sha256})

    uv = runner.uv_bin()
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", venv / "bin/python", "--find-links", torch,
         "transformers==4.57.3", "peft==0.13.2", "torch==2.5.1+cu124"],
        check=True,
    )  # fmt: skip
    sync = (*COMMON, "--python", "venv", "--wheelhouse", "wh")

    check = gen("sync", "--check", "--json", *sync, cwd=tmp_path)
    assert check.returncode == 1, check.stderr
    changes = {c["name"]: c for c in json.loads(check.stdout)["changes"]}
    assert changes["transformers"] == {
        "name": "transformers", "action": "replace", "installed": "4.57.3", "locked": "4.51.3",
    }  # fmt: skip
    assert changes["torch"]["installed"] == "2.5.1+cu124"

    house = gen("wheelhouse", "check", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert house.returncode == 0, house.stderr
    assert (
        "  wrong version: transformers-4.57.3-py3-none-any.whl"
        " (transformers 4.57.3; locked 4.51.3)\n"
    ) in house.stdout

    done = gen("sync", *sync, cwd=tmp_path)  # offline, from the wheelhouse
    assert done.returncode == 0, done.stderr
    clean = gen("sync", "--check", *sync, cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, "")
    pruned = gen("wheelhouse", "prune", *COMMON, "--wheelhouse", "wh", cwd=tmp_path)
    assert pruned.stdout == "transformers-4.57.3-py3-none-any.whl\n"

    shown = subprocess.run(
        [venv / "bin/python", "-c", "import tokenizers, safetensors, importlib.metadata as m;"
         " print(*(m.version(n) for n in ('transformers', 'peft', 'torch')))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout == "4.51.3 0.13.2 2.5.1+cu121\n"
    assert PY in (tmp_path / "proj/generated/demo" / f"py{PY}.lock.txt").name
