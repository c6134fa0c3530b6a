"""A folder mirror that cannot serve is exit 2 in every command that would use it (never a line in
the output), naming the folder, where it was set and the index it stands in for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import uv
from conftest import REPO
from support.lock_project import PYTHON, gen, make_project
from support.wheels import build_wheel

from constraints_gen.profiles.config import served_pins
from constraints_gen.profiles.load import load_profiles

INDEX = "index pytorch-test (https://download.pytorch.org/whl/test)"
TIP = "TIP: put the pinned wheels in that folder, or drop the mirror to use the index itself\n"

#: every command that uses the mirrors of profile beta (emit, env, lock, fill, sync)
COMMANDS = {
    "emit": ["--profile", "beta"],
    "env": ["env", "--profile", "beta"],
    "lock": ["lock", "beta", "--force"],
    "lock-pylock": ["lock", "beta", "--format", "pylock", "--output-dir", "out"],
    "fill": ["wheelhouse", "fill", "--profile", "beta", "--wheelhouse", "wh"],
    "sync": ["sync", "--profile", "beta", "--python", "venv", "--wheelhouse", "wh"],
}


def locked_project(tmp_path: Path) -> Path:
    """The tiny project (beta's torch 2.1.0+cpu from pytorch-test, mirrored by its
    constraints-gen.toml to the folder torchwheels), locked, with an empty venv."""
    root = make_project(tmp_path / "proj")
    done = gen("lock", cwd=root)
    assert done.returncode == 0, done.stderr
    subprocess.run(
        [uv.find_uv_bin(), "venv", "-q", "--python", PYTHON, str(root / "venv")],
        check=True,
        capture_output=True,
    )
    return root


def state(root: Path) -> dict[str, bytes | None]:
    """Every file of the project (the venv's too), with its bytes (folders: None)."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
        if "__pycache__" not in path.parts
    }


def missing(root: Path) -> str:
    shutil.rmtree(root / "torchwheels")
    return "no such folder"


def lacking(root: Path) -> str:
    """The folder is there, but holds torch with another local label only."""
    shutil.rmtree(root / "torchwheels")
    build_wheel(root / "torchwheels", "torch", "2.1.0+cu121")
    build_wheel(root / "torchwheels", "tinydep", "1.0")
    return "holds no wheel of torch 2.1.0+cpu (pinned by profile beta)"


@pytest.mark.parametrize("fault", [missing, lacking])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_mirror_folder_that_cannot_serve_is_exit_2_and_writes_nothing(
    tmp_path: Path, command: str, fault: object
) -> None:
    root = locked_project(tmp_path)
    assert callable(fault)
    problem = fault(root)
    before = state(root)
    done = gen(*COMMANDS[command], cwd=root)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    config = root / "constraints-gen.toml"
    folder = (root / "torchwheels").resolve()
    assert done.stderr.endswith(
        f"ERROR: mirror {folder} (set by {config}: mirrors.pytorch-test) for {INDEX}: {problem}\n"
        + TIP
    )
    assert "Traceback" not in done.stderr
    assert state(root) == before  # no lock, wheelhouse, pylock or package written


def test_the_same_folder_with_the_pinned_wheel_is_printed_as_find_links(tmp_path: Path) -> None:
    """The yes beside the noes above: the check refuses only a folder that cannot serve."""
    root = locked_project(tmp_path)
    done = gen("--profile", "beta", cwd=root)
    assert done.returncode == 0, done.stderr
    index = "# Index pytorch-test: https://download.pytorch.org/whl/test\n"
    assert f"{index}--find-links {(root / 'torchwheels').resolve()}\n" in done.stdout
    done = gen("wheelhouse", "fill", "--profile", "beta", "--wheelhouse", "wh", cwd=root)
    assert done.returncode == 0, done.stderr


GONE = {"GEN_CONSTRAINTS_MIRRORS": "pytorch-test=gone"}


@pytest.mark.parametrize(
    ("args", "env", "origin"),
    [
        (["lock", "beta", "--force", "--mirror", "pytorch-test=gone"], {}, "--mirror"),
        (
            ["wheelhouse", "fill", "--profile", "beta", "--mirror", "pytorch-test=gone"],
            {},
            "--mirror",
        ),
        (["--profile", "beta"], GONE, "$GEN_CONSTRAINTS_MIRRORS"),
        (["env", "--profile", "beta"], GONE, "$GEN_CONSTRAINTS_MIRRORS"),
        (["sync", "--profile", "beta", "--python", "venv"], GONE, "$GEN_CONSTRAINTS_MIRRORS"),
    ],
)
def test_the_message_names_the_variable_or_option_that_set_the_mirror(
    tmp_path: Path, args: list[str], env: dict[str, str], origin: str
) -> None:
    root = locked_project(tmp_path)
    before = state(root)
    done = gen(*args, cwd=root, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    gone = root.resolve() / "gone"
    assert f"ERROR: mirror {gone} (set by {origin}) for {INDEX}: no such folder\n" in done.stderr
    assert state(root) == before


def test_a_default_index_folder_without_the_pins_is_refused(tmp_path: Path) -> None:
    """The pypi mirror of a profile without indexes must hold every pin (here torch 2.0.0)."""
    root = locked_project(tmp_path)
    for wheel in (root / "wheels").glob("torch-*.whl"):
        wheel.unlink()
    before = state(root)
    done = gen("lock", "alpha", "--force", cwd=root)
    assert done.returncode == 2, done.stderr
    config = root / "constraints-gen.toml"
    assert done.stderr.endswith(
        f"ERROR: mirror {(root / 'wheels').resolve()} (set by {config}: mirrors.pypi) for the"
        " default index (pypi): holds no wheel of torch 2.0.0 (pinned by profile alpha)\n" + TIP
    )
    assert state(root) == before


def test_a_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    root = locked_project(tmp_path)
    (root / "afile").write_text("x")
    done = gen("--profile", "beta", cwd=root, env={"GEN_CONSTRAINTS_MIRRORS": "pytorch-test=afile"})
    assert done.returncode == 2
    assert f"mirror {root.resolve() / 'afile'} (set by $GEN_CONSTRAINTS_MIRRORS)" in done.stderr
    assert done.stderr.splitlines()[0].endswith(": not a folder")


def test_the_pins_each_builtin_index_must_serve() -> None:
    """A local label (2.13.0+cpu) never comes from PyPI: the profile's one index serves it; with
    no label to tell (jetson_jp6's torch 2.8.0), the folder must hold at least one pin."""
    profiles = load_profiles(REPO / "profiles")

    def served(profile: str, index: str) -> tuple[list[str], bool]:
        pins, every = served_pins(profiles.get(profile), index)
        return [f"{pin.name}=={pin.version}" for pin in pins], every

    assert served("cpu", "pytorch-cpu") == (["torch==2.13.0+cpu"], True)
    assert served("cuda121_ampere", "pytorch-cu121") == (["torch==2.5.1+cu121"], True)
    jetson, every = served("jetson_jp6", "jetson-jp6-cu126")
    assert "torch==2.8.0" in jetson and not every
    pypi, every = served("cuda130", "pypi")  # no index of its own: PyPI serves every pin
    assert "torch==2.14.1" in pypi and "transformers==5.24.0" in pypi and every
    pypi, every = served("cpu", "pypi")
    assert "torch==2.13.0+cpu" not in pypi and "peft==0.21.2" in pypi and not every


def test_lock_check_stays_offline_and_green_with_the_ci_mirror_variable(tmp_path: Path) -> None:
    """.ci/run exports the build machine's mirror; `lock --check` reads no mirror, so a folder
    missing on this machine changes nothing (and --mirror given to it is still refused)."""
    env = {"GEN_CONSTRAINTS_MIRRORS": f"pytorch-cpu={tmp_path / 'absent'}"}
    done = gen("lock", "--check", cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("locks are fresh\n")
    done = gen("lock", "--check", "--mirror", f"pytorch-cpu={tmp_path}", cwd=REPO)
    assert done.returncode == 2
    assert "--check takes only profile names" in done.stderr


def test_lock_of_every_profile_writes_nothing_when_a_later_mirror_cannot_serve(
    tmp_path: Path,
) -> None:
    """alpha's uv run starts while beta's pair is still to be read (refresh.py); beta's mirror
    is then refused: exit 2, and alpha's run is waited for and thrown away, nothing written."""
    root = locked_project(tmp_path)
    problem = missing(root)
    before = state(root)
    temp = tmp_path / "temp"
    temp.mkdir()
    done = gen("--verbose", "lock", "--force", cwd=root, env={"TMPDIR": str(temp)})
    assert done.returncode == 2, done.stderr
    folder = (root / "torchwheels").resolve()
    assert done.stderr.endswith(
        f"ERROR: mirror {folder} (set by {root / 'constraints-gen.toml'}: mirrors.pytorch-test)"
        f" for {INDEX}: {problem}\n" + TIP
    )
    runs = [line for line in done.stderr.splitlines() if " pip compile " in line]
    # alpha's at most (started before beta was read, unless the refusal cancelled it first);
    # never beta's, whose mirror was refused
    assert len(runs) <= 1 and all(str(folder) not in run for run in runs)
    assert state(root) == before
    assert list(temp.iterdir()) == []  # alpha's folder of uv inputs is removed
