"""Which wheel files fit a lock's target (CPython X.Y on a uv platform)."""

from __future__ import annotations

import pytest

from constraints_gen.errors import InputError
from constraints_gen.install.targets import target_for


def test_manylinux_ranking() -> None:
    target = target_for("3.11", "x86_64-manylinux_2_28")
    ranks = {
        name: target.rank(f"a-1-{name}.whl")
        for name in (
            "cp311-cp311-manylinux_2_28_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp39-abi3-manylinux_2_28_x86_64",
            "py3-none-any",
            "cp311-cp311-linux_x86_64",
        )
    }
    assert None not in ranks.values()
    assert list(ranks) == sorted(ranks, key=lambda name: ranks[name] or 0)  # best first, as listed
    for name in (
        "cp311-cp311-manylinux_2_34_x86_64",  # needs a newer glibc
        "cp312-cp312-manylinux_2_28_x86_64",
        "cp311-cp311-manylinux_2_28_aarch64",
        "cp311-cp311-macosx_11_0_arm64",
        "cp311-cp311-win_amd64",
    ):
        assert target.rank(f"a-1-{name}.whl") is None, name
    assert target.rank("not-a-wheel.whl") is None


@pytest.mark.parametrize(
    ("platform", "fits", "misfits"),
    [
        ("aarch64-apple-darwin", "cp311-cp311-macosx_11_0_arm64", "cp311-cp311-macosx_14_0_arm64"),
        ("linux", "cp311-cp311-manylinux_2_28_x86_64", "cp311-cp311-manylinux_2_28_aarch64"),
        ("x86_64-unknown-linux-gnu", "cp311-cp311-manylinux1_x86_64", "cp311-cp311-win_amd64"),
        ("x86_64-pc-windows-msvc", "cp311-cp311-win_amd64", "cp311-cp311-linux_x86_64"),
    ],
)
def test_other_platforms(platform: str, fits: str, misfits: str) -> None:
    target = target_for("3.11", platform)
    assert target.rank(f"a-1-{fits}.whl") is not None
    assert target.rank(f"a-1-{misfits}.whl") is None


def test_unknown_platform() -> None:
    with pytest.raises(InputError) as info:
        target_for("3.11", "sparc-solaris")
    assert info.value.message == (
        "target platform 'sparc-solaris': not understood (expected a uv --python-platform such as"
        " x86_64-manylinux_2_28, aarch64-apple-darwin, x86_64-pc-windows-msvc)"
    )


def test_manylinux2014_means_glibc_2_17() -> None:
    """The platform is read where profiles read it (uvplatforms.py): manylinux2014, which a
    profile may name, is glibc 2.17 here too (it was not understood here before)."""
    target = target_for("3.11", "aarch64-manylinux2014")
    assert target.rank("a-1-cp311-cp311-manylinux2014_aarch64.whl") is not None
    assert target.rank("a-1-cp311-cp311-manylinux_2_17_aarch64.whl") is not None
    assert target.rank("a-1-cp311-cp311-manylinux_2_28_aarch64.whl") is None
    assert target.rank("a-1-cp311-cp311-manylinux2014_x86_64.whl") is None
