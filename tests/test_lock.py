"""Lock compilation with the real uv against loopback indexes of tiny real wheels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.stack import CU121_PROFILE, Stack, make_project
from support.wheels import sha256_of

from constraints_gen.errors import ConstraintsGenError, InputError, ToolError
from constraints_gen.locks import file as lockfile
from constraints_gen.locks.compile import LockOptions, LockResult, compile_one, export_pylock
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.project import Project

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def lock(root: Path, name: str, stack: Stack, *, upgrade: bool = False) -> LockResult:
    project = Project(root=root, builtin=False)
    profiles = load_profiles(project.profiles_dir)
    options = LockOptions(mirrors={"pytorch-cu121": stack.cu121_url}, upgrade=upgrade)
    return compile_one(project, profiles, profiles.get(name), "3.11", options)


def test_lock_takes_the_local_label_build_from_the_second_index(
    tmp_path: Path, index_env: Stack
) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    result = lock(root, "cu121", index_env)
    assert result.lock_path == root / "generated" / "cu121" / "py3.11.lock.txt"
    assert result.packages == 4
    packages = {p.name: p for p in lockfile.parse_lock(result.lock_path.read_text())}
    assert {name: p.version for name, p in packages.items()} == {
        "huggingface-hub": "0.30.0",
        "peft": "0.13.2",
        "torch": "2.5.1+cu121",
        "transformers": "4.51.3",
    }
    torch_wheel = index_env.wheels["torch==2.5.1+cu121"]
    assert packages["torch"].hashes == (f"sha256:{sha256_of(torch_wheel)}",)
    assert packages["transformers"].hashes == (
        f"sha256:{sha256_of(index_env.wheels['transformers==4.51.3'])}",
    )


def test_generated_files_name_no_index_host_and_carry_the_header(
    tmp_path: Path, index_env: Stack
) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    result = lock(root, "cu121", index_env)
    for path in (result.lock_path, result.constraints_path):
        text = path.read_text()
        assert "127.0.0.1" not in text and "file:" not in text  # mirrors are not written
        if path == result.lock_path:
            assert "http" not in text
        head = text.splitlines()[:5]
        assert head[0] == (
            "# constraints_gen 0.1.0: profile cu121, CPython 3.11, x86_64-manylinux_2_28."
            " Do not edit."
        )
        assert head[1] == "# Regenerate: gen-constraints lock cu121"
        assert re.fullmatch(
            r"# Inputs: cu121\.toml@[0-9a-f]{12} manifest\.toml@[0-9a-f]{12}", head[2]
        )
        assert head[3].startswith("# Fingerprint: sha256:")
        assert re.fullmatch(r"# Integrity: lock format 3, body sha256:[0-9a-f]{64}", head[4])
    body = result.constraints_path.read_text().splitlines()[5:]
    assert body == [
        "# Index pytorch-cu121: https://download.pytorch.org/whl/cu121",
        "huggingface-hub==0.30.0  # dependency of transformers",
        "peft==0.13.2             # manifest range >=0.13",
        "torch==2.5.1+cu121       # profile pin (cu121.toml)",
        "transformers==4.51.3     # profile pin (cu121.toml)",
    ]


def test_relocking_unchanged_inputs_is_byte_identical(tmp_path: Path, index_env: Stack) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    first = lock(root, "cu121", index_env)
    before = first.lock_path.read_bytes(), first.constraints_path.read_bytes()
    again = lock(root, "cu121", index_env, upgrade=True)
    assert not again.changed
    assert (again.lock_path.read_bytes(), again.constraints_path.read_bytes()) == before


def test_unpinned_packages_follow_the_manifest_range(tmp_path: Path, index_env: Stack) -> None:
    profile = CU121_PROFILE.replace('transformers = "4.51.3"\n', "")
    root = make_project(tmp_path, {"cu121": profile})
    result = lock(root, "cu121", index_env)
    text = result.constraints_path.read_text()
    assert "transformers==4.57.3     # manifest range !=4.52.*,>=4.51.3" in text


def test_a_pin_outside_the_manifest_range_needs_an_override(
    tmp_path: Path, index_env: Stack
) -> None:
    pinned = CU121_PROFILE.replace('transformers = "4.51.3"', 'transformers = "4.50.0"')
    root = make_project(tmp_path, {"cu121": pinned})
    with pytest.raises(InputError) as info:
        load_profiles(root / "profiles")
    assert info.value.problems == (
        f"{root / 'profiles' / 'cu121.toml'}: pins.transformers: 4.50.0 is outside the manifest"
        f" range !=4.52.*,>=4.51.3 ({root / 'profiles' / 'manifest.toml'}:"
        ' requirements.transformers); if deliberate, write transformers = { version = "4.50.0",'
        " override = true }",
    )
    overridden = CU121_PROFILE.replace(
        'transformers = "4.51.3"',
        'transformers = { version = "4.50.0", override = true, reason = "regression in 4.51" }',
    )
    make_project(tmp_path, {"cu121": overridden})
    result = lock(root, "cu121", index_env)
    text = result.constraints_path.read_text()
    assert "transformers==4.50.0     # profile override (cu121.toml)" in text


def test_a_pin_without_its_local_label_is_refused(tmp_path: Path, index_env: Stack) -> None:
    # PEP 440: ==2.5.1 also matches 2.5.1+cu121, and uv prefers the labelled build it finds on
    # the first index it searches; exact means the full version string.
    unlabelled = CU121_PROFILE.replace('torch = "2.5.1+cu121"', 'torch = "2.5.1"')
    root = make_project(tmp_path, {"cu121": unlabelled})
    with pytest.raises(ConstraintsGenError) as info:
        lock(root, "cu121", index_env)
    assert info.value.message == (
        "profile cu121, CPython 3.11: the resolution does not match the exact pins:"
        " torch: pinned 2.5.1, resolved 2.5.1+cu121"
    )
    assert not (root / "generated" / "cu121").exists()


def test_a_resolver_failure_names_the_profile_and_shows_uv(
    tmp_path: Path, index_env: Stack
) -> None:
    missing = CU121_PROFILE.replace('transformers = "4.51.3"', 'transformers = "4.99.0"')
    root = make_project(tmp_path, {"cu121": missing})
    with pytest.raises(ToolError) as info:
        lock(root, "cu121", index_env)
    message = info.value.message
    assert message.startswith("profile cu121, CPython 3.11: uv failed with exit code 1\ncommand: ")
    assert "transformers==4.99.0" in message and "unsatisfiable" in message
    assert not (root / "generated" / "cu121").exists()


def test_pylock_export(tmp_path: Path, index_env: Stack) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    profiles = load_profiles(root / "profiles")
    options = LockOptions(mirrors={"pytorch-cu121": index_env.cu121_url})
    path = export_pylock(profiles, profiles.get("cu121"), "3.11", options, tmp_path / "out")
    assert path == tmp_path / "out" / "pylock.cu121.toml"
    data = tomllib.loads(path.read_text())
    versions = {p["name"]: p["version"] for p in data["packages"]}
    assert versions["torch"] == "2.5.1+cu121"
    assert versions["transformers"] == "4.51.3"


def test_pylock_for_several_pythons_writes_one_file_each(tmp_path: Path, index_env: Stack) -> None:
    root = make_project(tmp_path, {"cu121": CU121_PROFILE})
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "lock", "cu121", "--format", "pylock",
         "--python", "3.11", "--python", "3.12", "--output-dir", str(tmp_path / "out"),
         "--mirror", f"pytorch-cu121={index_env.cu121_url}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "pylock.cu121-py311.toml",
        "pylock.cu121-py312.toml",
    ]
    assert (
        done.stderr
        == f"wrote {out / 'pylock.cu121-py311.toml'}\nwrote {out / 'pylock.cu121-py312.toml'}\n"
    )
    data = tomllib.loads((out / "pylock.cu121-py312.toml").read_text())
    assert {p["name"]: p["version"] for p in data["packages"]}["torch"] == "2.5.1+cu121"
    assert not (root / "generated").exists()
