"""``gen-constraints profiles newer``: newer torch releases on a profile's index (loopback
stand-ins of PyPI and of the PyTorch cu126 index, real wheels built here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.index import serve, write_simple_index
from support.wheels import build_wheel

from constraints_gen.install.newer import newer_wheels, serves_all_of, staleness
from constraints_gen.profiles.builds import load_builds
from constraints_gen.profiles.load import load_profiles

REPO = Path(__file__).resolve().parent.parent
L228 = "manylinux_2_28_x86_64"


def gen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def torch_index(tmp_path: Path, name: str, versions: dict[str, str]) -> Path:
    """``version -> wheel tag`` as a static index."""
    wheels = tmp_path / f"{name}-wheels"
    for version, tag in versions.items():
        build_wheel(wheels, "torch", version, tag=tag)
    return write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / name)


def test_newer_same_variant_releases_on_each_index(tmp_path: Path) -> None:
    torch_index(
        tmp_path,
        "pypi",
        {
            "2.15.0": f"cp311-cp311-{L228}",
            "2.16.0": f"cp312-cp312-{L228}",
            "2.17.0rc1": f"cp312-cp312-{L228}",  # a pre-release: no
            "2.18.0": "cp312-cp312-win_amd64",  # no Linux wheel: no
            "2.19.0": f"cp39-cp39-{L228}",  # no CPython the profile locks: no
        },
    )
    torch_index(
        tmp_path,
        "cu126",
        {
            "2.14.1+cu126": f"cp311-cp311-{L228}",
            "2.15.0+cu126": f"cp313-cp313-{L228}",
            "2.16.0+cu130": f"cp313-cp313-{L228}",  # another variant: no
            "2.16.0+cu126": "cp313-cp313-manylinux_2_34_x86_64",  # needs glibc 2.34: no
        },
    )
    with serve(tmp_path / "pypi") as pypi, serve(tmp_path / "cu126") as cu126:
        env = {"UV_DEFAULT_INDEX": f"{pypi}/simple"}
        mirror = f"pytorch-cu126={cu126}/simple"
        done = gen("profiles", "newer", "cuda132", "pt_cu126", "--mirror", mirror, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"cuda132: pins 2.15.0; on {pypi}/simple: 2.16.0\n"
            f"pt_cu126: pins 2.14.1+cu126; on {cu126}/simple: 2.15.0+cu126\n"
        )
        failed = gen(
            "profiles", "newer", "pt_cu126", "--mirror", mirror, "--fail", "--json", env=env
        )
    assert failed.returncode == 1
    assert failed.stderr == "ERROR: a newer torch is published for pt_cu126\n"
    assert json.loads(failed.stdout)["profiles"] == [
        {
            "profile": "pt_cu126",
            "pinned": "2.14.1+cu126",
            "index": f"{cu126}/simple",
            "newer": ["2.15.0+cu126"],
            "superseded_by": [],
        }
    ]


def test_nothing_newer_and_superseded_rows(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"  # a mirror folder of wheels (find-links)
    build_wheel(folder, "torch", "2.7.1", tag=f"cp311-cp311-{L228}")
    found = staleness(REPO / "profiles", {"pypi": str(folder)}, ("cuda126", "cuda132"))
    assert [(s.profile, s.newer, s.superseded_by) for s in found] == [
        ("cuda132", (), ()),
        ("cuda126", (), ("pt_cu126 (2.14.1+cu126)",)),
    ]


def test_serves_all_of_says_no_where_an_older_build_still_wins() -> None:
    table = load_builds(REPO / "profiles" / "builds" / "torch.toml")
    row = {b.profile: b for b in table.builds}
    assert serves_all_of(row["pt_cu126"], row["cuda126"])  # same archs and floor, newer
    assert not serves_all_of(row["cuda132"], row["pt_cu126"])  # no Pascal, needs R580
    assert not serves_all_of(row["pt_cu126"], row["pt_cu118"])  # needs R525, not R450
    assert not serves_all_of(row["pt_cu126"], row["cuda124_glibc217"])  # glibc 2.28 > 2.17
    assert not serves_all_of(row["pt_cu126"], row["win_cu126"])  # another system


def test_legacy_manylinux_tags_count_by_their_glibc() -> None:
    table = load_builds(REPO / "profiles" / "builds" / "torch.toml")
    build = next(b for b in table.builds if b.profile == "cuda124_glibc217")
    profile = load_profiles(REPO / "profiles").get("cuda124_glibc217")
    names = [
        "torch-2.6.1-cp311-cp311-manylinux2014_x86_64.whl",
        "torch-2.6.2-cp311-cp311-manylinux_2_24_x86_64.whl",  # above 2.17: no
        "torch-2.6.3-cp311-cp311-manylinux_2_17_aarch64.whl",  # another machine: no
        "not-a-wheel.tar.gz",
    ]
    assert newer_wheels(names, build, profile) == ("2.6.1",)
