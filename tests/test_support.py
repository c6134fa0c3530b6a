"""Prove the wheel/index fixtures work with the real ``uv`` binary (no network).

Observed uv behaviour with local version labels (see
``test_local_label_from_second_index``): the constraint ``torch==2.5.1+cu121``
selects the local-label wheel from the extra index, and ``uv pip compile``
prints the pin verbatim as ``torch==2.5.1+cu121``.  A bare ``torch==2.5.1``
also resolves to ``2.5.1+cu121`` (PEP 440: ``==`` without a local label
matches local versions, and ``2.5.1+cu121`` sorts above ``2.5.1``).  Outside
this test, uv 0.13.9 also resolved ``torch==2.5.1+cu121`` with the default
``first-index`` strategy: uv consults ``--extra-index-url`` *before*
``--index-url``, so the extra index wins the first-index race.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.index import serve, write_simple_index
from support.wheels import build_wheel, sha256_of
from uv import find_uv_bin

UV = find_uv_bin()
PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
if not Path(PYTHON).exists():
    PYTHON = sys.executable


@pytest.fixture
def uv_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "CONDA_"))
    }
    env.update(
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        NO_COLOR="1",
    )
    return env


def run_uv(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [UV, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"uv {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def compile_(env: dict[str, str], tmp_path: Path, req: str, *index_args: str) -> str:
    req_file = tmp_path / "requirements.in"
    req_file.write_text(req)
    cmd = ["pip", "compile", "--no-config", "--generate-hashes", "--no-header", "--python"]
    return run_uv(env, *cmd, PYTHON, *index_args, str(req_file), cwd=tmp_path)


def test_wheel_installs_and_imports(tmp_path: Path, uv_env: dict[str, str]) -> None:
    dist = tmp_path / "dist"
    wheel = build_wheel(dist, "My.Pkg_name", "1.2.3", requires_python=">=3.8")
    assert wheel.name == "my_pkg_name-1.2.3-py3-none-any.whl"
    venv = tmp_path / "venv"
    run_uv(uv_env, "venv", "--no-config", "--python", PYTHON, str(venv))
    vpy = venv / "bin" / "python"
    cmd = ["pip", "install", "--no-config", "--offline", "--no-index", "--find-links"]
    run_uv(uv_env, *cmd, str(dist), "--python", str(vpy), "my-pkg-name==1.2.3")
    out = subprocess.run(
        [str(vpy), "-c", "import my_pkg_name; print(my_pkg_name.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        env=uv_env,
    )
    assert out.stdout.strip() == "1.2.3"


def test_filenames_and_determinism(tmp_path: Path) -> None:
    w1 = build_wheel(tmp_path / "one", "a", "1.0", requires=["b>=1"])
    w2 = build_wheel(tmp_path / "two", "a", "1.0", requires=["b>=1"])
    assert sha256_of(w1) == sha256_of(w2)
    assert w1.read_bytes() == w2.read_bytes()
    w3 = build_wheel(tmp_path / "three", "a", "1.0", requires=["b>=2"])
    assert sha256_of(w3) != sha256_of(w1)
    tag = "cp311-cp311-manylinux_2_28_x86_64"
    plat = build_wheel(tmp_path, "Torch", "2.5.1+cu121", tag=tag)
    assert plat.name == f"torch-2.5.1+cu121-{tag}.whl"


def test_compile_resolves_with_hashes(tmp_path: Path, uv_env: dict[str, str]) -> None:
    dist = tmp_path / "dist"
    a = build_wheel(dist, "a", "1.0", requires=["b>=1"], requires_python=">=3.8")
    b_old = build_wheel(dist, "b", "0.9")
    b = build_wheel(dist, "b", "1.1")
    simple = write_simple_index([a, b_old, b], tmp_path / "repo")
    page = (simple / "b" / "index.html").read_text()
    assert f'href="../../files/{b.name}#sha256={sha256_of(b)}"' in page
    assert 'data-requires-python="&gt;=3.8"' in (simple / "a" / "index.html").read_text()
    with serve(tmp_path / "repo") as url:
        out = compile_(uv_env, tmp_path, "a\n", "--index-url", f"{url}/simple")
    assert "a==1.0 \\\n" in out
    assert "b==1.1 \\\n" in out
    assert f"--hash=sha256:{sha256_of(a)}" in out
    assert f"--hash=sha256:{sha256_of(b)}" in out
    assert sha256_of(b_old) not in out


def test_local_label_from_second_index(tmp_path: Path, uv_env: dict[str, str]) -> None:
    plain = build_wheel(tmp_path / "d1", "torch", "2.5.1")
    local = build_wheel(tmp_path / "d2", "torch", "2.5.1+cu121")
    write_simple_index([plain], tmp_path / "pypi")
    write_simple_index([local], tmp_path / "cu121")
    (tmp_path / "constraints.txt").write_text("torch==2.5.1+cu121\n")
    with serve(tmp_path / "pypi") as first, serve(tmp_path / "cu121") as second:
        args = ["--index-url", f"{first}/simple", "--extra-index-url", f"{second}/simple"]
        args += ["--index-strategy", "unsafe-best-match"]
        out = compile_(uv_env, tmp_path, "torch\n", *args, "-c", "constraints.txt")
        bare = compile_(uv_env, tmp_path, "torch==2.5.1\n", *args)
    digest = sha256_of(local)
    assert out.splitlines() == [
        "torch==2.5.1+cu121 \\",
        f"    --hash=sha256:{digest}",
        "    # via",
        "    #   -c constraints.txt",
        "    #   -r requirements.in",
    ]
    assert bare.splitlines()[:2] == ["torch==2.5.1+cu121 \\", f"    --hash=sha256:{digest}"]
    assert sha256_of(plain) not in out + bare
