"""The build table (profiles/builds/torch.toml) and the profiles generated from it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from constraints_gen.detect.hardware import Gpu, Hardware, Platform
from constraints_gen.errors import InputError, ProfilesOutOfStep
from constraints_gen.profiles.builds import TABLE, candidates, load_builds
from constraints_gen.profiles.generate import generate

REPO = Path(__file__).resolve().parent.parent


def copy_profiles(tmp_path: Path) -> Path:
    target = tmp_path / "profiles"
    shutil.copytree(REPO / "profiles", target)
    return target


def test_the_committed_profiles_are_in_step_with_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "profiles", "generate", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("12 profiles in step with the build table\n")


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path)
    outcome = generate(profiles, check=False)
    assert outcome.written == ()
    for path in sorted(profiles.glob("*.toml")):
        assert path.read_text() == (REPO / "profiles" / path.name).read_text()


def test_an_edited_hardware_table_is_out_of_step_and_regenerated(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path)
    path = profiles / "pt_cu126.toml"
    original = path.read_text()
    path.write_text(original.replace('"5.0", "6.0", ', '"6.0", '))
    with pytest.raises(ProfilesOutOfStep) as info:
        generate(profiles, check=True)
    assert str(info.value) == (
        f"{path}: hardware: not the build table's 2.14.1+cu126 row"
        " (run: gen-constraints profiles generate)"
    )
    assert info.value.exit_code == 1
    assert generate(profiles, check=False).written == (path,)
    assert path.read_text() == original


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'torch = "2.14.1+cu126"',
            'torch = "2.14.0+cu126"',
            "pins.torch is '2.14.0+cu126'; the build table says '2.14.1+cu126'",
        ),
        (
            'url = "https://download.pytorch.org/whl/cu126"',
            'url = "https://download.pytorch.org/whl/cu130"',
            "indexes: none is https://download.pytorch.org/whl/cu126, where the table's build"
            " lives",
        ),
        (
            'python = ["3.11", "3.12", "3.13", "3.14"]',
            'python = ["3.9", "3.11"]',
            "target.python: 3.9 not among the build's Pythons (3.10, 3.11, 3.12, 3.13, 3.14)",
        ),
    ],
)
def test_a_hand_written_part_that_disagrees_is_refused(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    profiles = copy_profiles(tmp_path)
    path = profiles / "pt_cu126.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(ProfilesOutOfStep) as info:
        generate(profiles, check=True)
    assert str(info.value) == f"{path}: {problem}"


def test_a_glibc_older_than_the_wheels_is_refused(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path)
    path = profiles / "pt_cu126.toml"
    text = path.read_text().replace("[target]\n", '[target]\nplatform = "x86_64-manylinux_2_17"\n')
    path.write_text(text)
    with pytest.raises(ProfilesOutOfStep) as info:
        generate(profiles, check=True)
    assert str(info.value) == (
        f"{path}: target.platforms (x86_64-manylinux_2_17): older than glibc 2.28, the build's"
        " wheels' floor"
    )


def test_a_bad_row_names_its_key(tmp_path: Path) -> None:
    profiles = copy_profiles(tmp_path)
    table = profiles / TABLE
    text = table.read_text()
    text = text.replace(
        'archs = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]', 'archs = ["sm_75"]', 1
    )
    table.write_text(text.replace('min_driver = "580.65.06"', 'mindriver = "580.65.06"', 1))
    with pytest.raises(InputError) as info:
        load_builds(table)
    assert info.value.problems == (
        f"{table}: build[0].mindriver: unknown key",
        f"{table}: build[0].min_driver: missing",
    )
    table.write_text(text)  # the arch list alone
    with pytest.raises(InputError) as info:
        load_builds(table)
    assert info.value.problems == (
        f'{table}: build[0].archs: expected a non-empty list of compute capabilities "X.Y",'
        " got ['sm_75']",
    )


def machine(driver: str, *ccs: tuple[int, int], glibc: str = "2.35") -> Hardware:
    gpus = tuple(Gpu(index=i, name=f"GPU{i}", compute_capability=cc) for i, cc in enumerate(ccs))
    platform = Platform(system="linux", machine="x86_64", glibc=glibc)
    return Hardware(driver_version=driver, cuda_driver_version="12.8", gpus=gpus, platform=platform)


def test_candidates_newest_first() -> None:
    a100 = [b.torch for b in candidates(machine("570.133.20", (8, 0)))]
    assert a100 == [
        "2.14.1+cu126", "2.11.0+cu128", "2.10.0", "2.7.1", "2.7.1+cu118", "2.6.0", "2.5.1+cu121",
    ]  # fmt: skip
    assert [b.torch for b in candidates(machine("580.65.06", (6, 1)))][:1] == ["2.14.1+cu126"]
    assert [b.torch for b in candidates(machine("580.65.06", (9, 0)), torch="<2.12")][:1] == [
        "2.11.0+cu128"
    ]
    # no: a glibc below every manylinux_2_28 build, a driver below every floor, a Kepler GPU
    assert [b.torch for b in candidates(machine("570.133.20", (8, 0), glibc="2.17"))] == ["2.6.0"]
    assert candidates(machine("440.33.01", (8, 0))) == ()
    assert candidates(machine("580.65.06", (3, 7))) == ()
    windows = Platform(system="windows", machine="x86_64")
    rtx4090 = Gpu(index=0, name="RTX 4090", compute_capability=(8, 9))
    hw = Hardware(driver_version="566.36", cuda_driver_version="12.7", gpus=(rtx4090,),
                  platform=windows)  # fmt: skip
    assert [b.torch for b in candidates(hw)] == ["2.14.1+cu126", "2.11.0+cu128"]
