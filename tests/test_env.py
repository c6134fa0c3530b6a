"""Output a user can use as it is: the emitted constraints and `env` name the indexes their pins
need, and `env`'s pip constraint does not reach the builds of packages outside the lock.

End to end with the real uv and pip against loopback indexes (or a folder) of tiny wheels: a
"pypi" that has only a plain torch, and a "pytorch-cpu" that has the +cpu build, like the
PyTorch CPU index. No network.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.index import serve, write_simple_index
from support.lock_project import gen
from support.wheels import build_wheel

from constraints_gen import runner

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
INDEX = "https://download.pytorch.org/whl/cpu"
PROFILE = f"""\
name = "cpu"
description = "torch +cpu from its own index"

[hardware]
vendor = "cpu"

[target]
platform = "x86_64-manylinux_2_28"
python = ["{PY}"]

[pins]
torch = "2.13.0+cpu"
tinybackend = "2.0"

[[indexes]]
name = "pytorch-cpu"
url = "{INDEX}"
"""
MANIFEST = '[requirements]\ntorch = ">=2"\ntransformers = ">=4"\ntinybackend = ">=1"\n'

#: A PEP 517 backend in one module: enough for pip and uv to build "outside" from its sdist.
BACKEND = """\
import base64, hashlib, os, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = "outside-1.0.dist-info"
    files = {
        "outside/__init__.py": b"",
        info + "/METADATA": b"Metadata-Version: 2.1\\nName: outside\\nVersion: 1.0\\n",
        info + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: tinybackend\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\\n"
    files[info + "/RECORD"] = (record + info + "/RECORD,,\\n").encode()
    name = "outside-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return name
"""


@dataclass(frozen=True, slots=True)
class World:
    root: Path  # the project, locked
    pypi: str  # URL of the "pypi" simple index
    cpu: str  # URL of the "pytorch-cpu" simple index
    cpu_folder: Path  # the same +cpu wheel, as a folder
    wheels: Path  # every "pypi" wheel, as a folder
    sdist: Path  # outside-1.0.tar.gz, built with tinybackend==1.0


def _sdist(dest: Path) -> Path:
    pyproject = textwrap.dedent("""\
        [build-system]
        requires = ["tinybackend==1.0"]
        build-backend = "tinybackend"

        [project]
        name = "outside"
        version = "1.0"
    """).encode()
    path = dest / "outside-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (
            ("outside-1.0/pyproject.toml", pyproject),
            ("outside-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: outside\nVersion: 1.0\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("indexes")
    wheels = tmp / "pypi-wheels"
    build_wheel(wheels, "torch", "2.13.0")
    build_wheel(wheels, "transformers", "4.51.3", requires=["torch>=2"])
    for version in ("1.0", "2.0"):
        build_wheel(wheels, "tinybackend", version, files={"tinybackend.py": BACKEND})
    cpu_folder = tmp / "cpu-wheels"
    build_wheel(cpu_folder, "torch", "2.13.0+cpu")
    write_simple_index(wheels.iterdir(), tmp / "pypi")
    write_simple_index(cpu_folder.iterdir(), tmp / "cpu")
    root = tmp / "proj"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "manifest.toml").write_text(MANIFEST)
    (root / "profiles" / "cpu.toml").write_text(PROFILE)
    with ExitStack() as stack:
        pypi = stack.enter_context(serve(tmp / "pypi")) + "/simple"
        cpu = stack.enter_context(serve(tmp / "cpu")) + "/simple"
        done = gen(
            "lock", "--root", root, "--mirror", f"pypi={pypi}", "--mirror", f"pytorch-cpu={cpu}"
        )
        assert done.returncode == 0, done.stderr
        yield World(root, pypi, cpu, cpu_folder, wheels, _sdist(tmp))


def _clean_env(**extra: str) -> dict[str, str]:
    """No pip.conf, no PIP_*/UV_* of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", **extra}


def _venv(path: Path) -> Path:
    subprocess.run([runner.uv_bin(), "venv", "-q", str(path)], check=True, env=_clean_env())
    return path / "bin" / "python"


def _installed(python: Path) -> dict[str, str]:
    listed = subprocess.run(
        [runner.uv_bin(), "pip", "list", "--python", str(python), "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
    )
    return {entry["name"]: entry["version"] for entry in json.loads(listed.stdout)}


def _uv_install(python: Path, *args: str) -> list[str]:
    return [runner.uv_bin(), "pip", "install", "--no-cache", "--python", str(python), *args]


def _pip_install(python: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-cache-dir",
            "--disable-pip-version-check", *args]  # fmt: skip


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_emitted_constraints_name_the_index_and_the_install_works(
    world: World, tmp_path: Path
) -> None:
    plain = gen("--root", world.root, "--profile", "cpu", env=_clean_env())
    assert plain.returncode == 0, plain.stderr
    assert f"# Index pytorch-cpu: {INDEX}\n--extra-index-url {INDEX}\n" in plain.stdout
    mirrored = gen("--root", world.root, "--profile", "cpu",
                   env=_clean_env(GEN_CONSTRAINTS_MIRRORS=f"pytorch-cpu={world.cpu}"))  # fmt: skip
    assert f"--extra-index-url {world.cpu}\n" in mirrored.stdout
    assert INDEX not in mirrored.stdout.replace(f"# Index pytorch-cpu: {INDEX}", "")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(mirrored.stdout)
    for name, install in (("uv", _uv_install), ("pip", _pip_install)):
        python = _venv(tmp_path / name)
        args = install(python, "--index-url", world.pypi, "-c", str(constraints), "torch",
                       "transformers")  # fmt: skip
        done = _run(args, _clean_env())
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert _installed(python)["torch"] == "2.13.0+cpu", name


def test_a_folder_mirror_becomes_find_links(world: World, tmp_path: Path) -> None:
    env = _clean_env(GEN_CONSTRAINTS_MIRRORS=f"pytorch-cpu={world.cpu_folder}")
    done = gen("--root", world.root, "--profile", "cpu", env=env)
    assert f"--find-links {world.cpu_folder}\n" in done.stdout
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(done.stdout)
    for name, install in (("uv", _uv_install), ("pip", _pip_install)):
        python = _venv(tmp_path / name)
        args = install(python, "--index-url", world.pypi, "-c", str(constraints), "torch")
        installed = _run(args, _clean_env())
        assert installed.returncode == 0, f"{name}: {installed.stderr}"
        assert _installed(python)["torch"] == "2.13.0+cpu", name


@pytest.mark.parametrize("mirror", ["url", "folder"])
def test_env_exports_the_index_for_uv_and_pip(world: World, tmp_path: Path, mirror: str) -> None:
    where = world.cpu if mirror == "url" else str(world.cpu_folder)
    env = _clean_env(GEN_CONSTRAINTS_MIRRORS=f"pytorch-cpu={where}")
    exported = gen("env", "--root", world.root, "--profile", "cpu", env=env)
    assert exported.returncode == 0, exported.stderr
    for name, install in (("uv", _uv_install), ("pip", _pip_install)):
        python = _venv(tmp_path / name)
        command = " ".join(install(python, "--index-url", world.pypi, "torch", "transformers"))
        done = _run(["bash", "-c", f"{exported.stdout}\n{command}"], _clean_env())
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert _installed(python)["torch"] == "2.13.0+cpu", name


def _build_outside(world: World, python: Path, exported: str, installer: str) -> str:
    command = (
        f"{sys.executable} -m pip --python {python} install --no-cache-dir"
        if installer == "pip"
        else f"{runner.uv_bin()} pip install --no-cache --python {python}"
    )
    script = f"{exported}\n{command} --no-index --find-links {world.wheels} {world.sdist}"
    done = _run(["bash", "-c", script], _clean_env())
    return f"{done.returncode}\n{done.stderr}"


def test_env_constraints_do_not_reach_uv_builds(world: World, tmp_path: Path) -> None:
    exported = gen("env", "--root", world.root, "--profile", "cpu", env=_clean_env()).stdout
    assert (
        "tinybackend==2.0" in (world.root / "generated/cpu" / f"py{PY}.constraints.txt").read_text()
    )
    python = _venv(tmp_path / "uv")
    outcome = _build_outside(world, python, exported, "uv")
    assert outcome.startswith("0\n"), outcome
    assert _installed(python)["outside"] == "1.0"


@pytest.mark.network
@pytest.mark.parametrize("pip", ["pip==25.3", "pip==26.1", "pip>=26.2"])
def test_env_constraints_do_not_reach_pip_builds(world: World, tmp_path: Path, pip: str) -> None:
    """With pip 25.3 or later in the active environment, "outside" builds with tinybackend 1.0
    although PIP_CONSTRAINT pins tinybackend 2.0 (these pips come from PyPI: network)."""
    python = _venv(tmp_path / "pip")
    got = _run([*_uv_install(python, pip), "--index-url", "https://pypi.org/simple"], _clean_env())
    assert got.returncode == 0, got.stderr
    env = _clean_env(VIRTUAL_ENV=str(python.parent.parent))
    exported = gen("env", "--root", world.root, "--profile", "cpu", env=env)
    assert exported.returncode == 0 and "note" not in exported.stderr, exported.stderr
    assert ("PIP_USE_FEATURE" in exported.stdout) is (pip != "pip>=26.2")
    script = f"{exported.stdout}\n{python} -m pip install --no-cache-dir --no-index --find-links"
    done = _run(["bash", "-c", f"{script} {world.wheels} {world.sdist}"], _clean_env())
    assert done.returncode == 0, done.stderr
    assert _installed(python)["outside"] == "1.0"


def test_env_notes_that_an_old_pip_constrains_builds(world: World, tmp_path: Path) -> None:
    """The pip these tests run (older than 25.3) applies PIP_CONSTRAINT to the build: it fails,
    which is what `env`'s note says."""
    exported = gen("env", "--root", world.root, "--profile", "cpu", env=_clean_env())
    python = _venv(tmp_path / "old-pip")
    pip_version = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                                 text=True, check=True).stdout.split()[1]  # fmt: skip
    if tuple(int(p) for p in pip_version.split(".")[:2]) >= (25, 3):
        pytest.skip(f"pip {pip_version} has build constraints")
    assert "PIP_USE_FEATURE" not in exported.stdout  # pip < 25.3 rejects the feature name
    outcome = _build_outside(world, python, exported.stdout, "pip")
    assert not outcome.startswith("0\n"), outcome
    assert "tinybackend" in outcome
    major, minor = pip_version.split(".")[:2]
    assert f"gen-constraints: note: pip {major}.{minor}: pip before 25.3" in exported.stderr
