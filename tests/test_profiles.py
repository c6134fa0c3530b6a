"""Loading profiles: validation with exact problems, inheritance, the manifest, built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from constraints_gen.errors import InputError
from constraints_gen.profiles import ProfileSet, load_profiles

REPO = Path(__file__).resolve().parent.parent

MANIFEST = '[requirements]\ntorch = ">=2.5"\ntransformers = ">=4.51.3,!=4.52.*"\n'
BASE = """\
name = "base"
abstract = true
[target]
platform = "x86_64-manylinux_2_28"
python = ["3.11", "3.12"]
[pins]
transformers = "5.24.0"
peft = "0.21.2"
"""
GPU = """\
name = "gpu"
extends = "base"
[hardware]
vendor = "nvidia"
cuda = "12.8"
compute_capabilities = ["8.0", "7.0"]
min_driver = "525.60.13"
[pins]
torch = "2.10.0"
"""


def write(directory: Path, files: dict[str, str], manifest: str | None = MANIFEST) -> Path:
    directory.mkdir(exist_ok=True)
    if manifest is not None:
        (directory / "manifest.toml").write_text(manifest, encoding="utf-8")
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return directory


def problems(directory: Path) -> tuple[str, ...]:
    with pytest.raises(InputError) as info:
        load_profiles(directory)
    return info.value.problems


def test_valid_set_and_inheritance(tmp_path: Path) -> None:
    # a child of a concrete profile: overrides hardware keys and pins, keeps the rest
    child = (
        'name = "child"\nextends = "gpu"\n[hardware]\ncuda = "12.6"\nptx = true\n'
        '[pins]\ntorch = "2.5.1+cu121"\ntransformers = "4.51.3"\n'
        '[[indexes]]\nname = "pytorch-cu121"\nurl = "https://download.pytorch.org/whl/cu121"\n'
    )
    d = write(tmp_path / "p", {"base": BASE, "gpu": GPU, "child": child})
    profiles = load_profiles(d)
    assert [p.name for p in profiles.profiles] == ["child", "gpu"]  # abstract base not listed
    gpu, kid = profiles.get("gpu"), profiles.get("child")
    assert gpu.cuda == (12, 8) and gpu.cuda_text == "12.8"
    assert gpu.compute_capabilities == ((7, 0), (8, 0))  # sorted
    assert gpu.ptx is False
    assert gpu.chain == (d / "gpu.toml", d / "base.toml")
    assert gpu.pythons == ("3.11", "3.12")
    assert {p.name: p.version for p in gpu.pins} == {
        "peft": "0.21.2",
        "torch": "2.10.0",
        "transformers": "5.24.0",
    }
    assert kid.chain == (d / "child.toml", d / "gpu.toml", d / "base.toml")
    assert kid.cuda == (12, 6) and kid.ptx is True
    assert kid.min_driver == "525.60.13" and kid.platform == "x86_64-manylinux_2_28"
    torch = kid.pin("torch")
    assert torch is not None and torch.version == "2.5.1+cu121"  # local label kept
    assert kid.torch_version is not None and str(kid.torch_version) == "2.5.1+cu121"
    transformers = kid.pin("transformers")
    assert transformers is not None
    assert (transformers.version, transformers.origin) == ("4.51.3", d / "child.toml")
    peft = kid.pin("peft")
    assert peft is not None and peft.origin == d / "base.toml"
    assert [(i.name, i.url) for i in kid.indexes] == [
        ("pytorch-cu121", "https://download.pytorch.org/whl/cu121")
    ]
    assert gpu.indexes == ()


def test_pin_names_and_versions_are_normalized(tmp_path: Path) -> None:
    gpu = GPU + 'Foo_Bar = "1.0"\nbaz = "01.2.0"\n'
    profile = load_profiles(write(tmp_path, {"base": BASE, "gpu": gpu})).get("gpu")
    assert [(p.name, p.version) for p in profile.pins if p.name in ("foo-bar", "baz")] == [
        ("baz", "1.2.0"),
        ("foo-bar", "1.0"),
    ]


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    d = write(tmp_path, {"base": BASE, "gpu": GPU + "oops\n"})
    assert problems(d) == (
        f"{d / 'gpu.toml'}: invalid TOML: Expected '=' after a key in a key/value pair"
        " (at line 10, column 5)",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GPU + "[extra]\n",
            "extra: unknown key (expected one of abstract, description, extends, hardware,"
            " indexes, name, pins, target, verify)",
        ),
        (
            GPU.replace('cuda = "12.8"', 'cuda = "12.8"\narch = "sm_80"'),
            "hardware.arch: unknown key (expected one of compute_capabilities, cuda, min_driver,"
            " ptx, vendor)",
        ),
        (
            GPU.replace('name = "gpu"', 'name = "gpu2"'),
            'name: expected "gpu" (the file name without .toml)',
        ),
        (
            GPU.replace('"2.10.0"', '">=2.10"'),
            'pins.torch: expected an exact version like "2.5.1" or "2.5.1+cu121" (got \'>=2.10\')',
        ),
        (GPU + 'torch_ = { version = "1.0" }\n', "pins.torch_: invalid package name"),
        (
            GPU + 'x = { version = "1.0", why = "?" }\n',
            "pins.x.why: unknown key (expected version, override, reason)",
        ),
        (
            GPU + "x = { override = true }\n",
            'pins.x.version: expected an exact version like "2.5.1" or "2.5.1+cu121" (got None)',
        ),
        (
            GPU.replace('vendor = "nvidia"', 'vendor = "amd"'),
            'hardware.vendor: expected "nvidia" or "cpu" (got \'amd\')',
        ),
        (
            GPU.replace('"525.60.13"', '"r525"'),
            "hardware.min_driver: expected a driver version like \"525.60.13\" (got 'r525')",
        ),
        (
            GPU.replace('"8.0", "7.0"', '"8.0", "sm_70"'),
            "hardware.compute_capabilities[1]: expected a string like \"9.0\" (got 'sm_70')",
        ),
    ],
)
def test_one_file_problem(tmp_path: Path, text: str, expected: str) -> None:
    d = write(tmp_path, {"base": BASE, "gpu": text})
    assert problems(d) == (f"{d / 'gpu.toml'}: {expected}",)


def test_invalid_manifest(tmp_path: Path) -> None:
    manifest = '[requirements]\ntorch = ">>2.5"\n"bad name!" = ">=1"\npeft = 3\n[other]\n'
    d = write(tmp_path, {"base": BASE, "gpu": GPU}, manifest=manifest)
    m = d / "manifest.toml"
    assert problems(d) == (
        f"{m}: other: unknown key (expected only [requirements])",
        f"{m}: requirements.bad name!: invalid package name",
        f"{m}: requirements.peft: expected a specifier string, got an integer",
        f"{m}: requirements.torch: invalid version specifier '>>2.5'"
        ' (expected PEP 440, e.g. ">=4.51.3,!=4.52.*")',
    )


def test_missing_manifest(tmp_path: Path) -> None:
    d = write(tmp_path, {"base": BASE, "gpu": GPU}, manifest=None)
    assert problems(d) == (f"{d / 'manifest.toml'}: cannot read: No such file or directory",)


def test_extends_cycle_and_missing_parent(tmp_path: Path) -> None:
    a = GPU.replace('name = "gpu"', 'name = "a"').replace('extends = "base"', 'extends = "b"')
    b = GPU.replace('name = "gpu"', 'name = "b"').replace('extends = "base"', 'extends = "a"')
    orphan = GPU.replace('name = "gpu"', 'name = "orphan"').replace('"base"', '"nowhere"')
    d = write(tmp_path, {"a": a, "b": b, "orphan": orphan})
    assert problems(d) == (
        f"{d / 'a.toml'}: extends: cycle a -> b -> a",
        f"{d / 'b.toml'}: extends: cycle b -> a -> b",
        f"{d / 'orphan.toml'}: extends: no profile named 'nowhere' in {d}",
    )


def test_required_keys_after_merge(tmp_path: Path) -> None:
    gpu = 'name = "gpu"\nextends = "base"\n[hardware]\nvendor = "nvidia"\n'
    bare = 'name = "bare"\n'
    d = write(tmp_path, {"base": BASE, "gpu": gpu, "bare": bare})
    suffix = "required (in this file or a parent it extends)"
    assert problems(d) == (
        f"{d / 'bare.toml'}: hardware.vendor: {suffix}",
        f"{d / 'bare.toml'}: pins.torch: {suffix}",
        f"{d / 'bare.toml'}: target.platform: {suffix}",
        f"{d / 'bare.toml'}: target.python: {suffix}",
        f"{d / 'gpu.toml'}: hardware.compute_capabilities: {suffix}",
        f"{d / 'gpu.toml'}: hardware.cuda: {suffix}",
        f"{d / 'gpu.toml'}: hardware.min_driver: {suffix}",
        f"{d / 'gpu.toml'}: pins.torch: {suffix}",
    )


def test_pin_outside_manifest_range_names_both_files(tmp_path: Path) -> None:
    base = BASE.replace('transformers = "5.24.0"', 'transformers = "4.52.1"')
    d = write(tmp_path, {"base": base, "gpu": GPU})
    assert problems(d) == (
        f"{d / 'base.toml'}: pins.transformers: 4.52.1 is outside the manifest range"
        f" !=4.52.*,>=4.51.3 ({d / 'manifest.toml'}: requirements.transformers); if deliberate,"
        ' write transformers = { version = "4.52.1", override = true }',
    )


def test_override_pin_outside_the_range_loads(tmp_path: Path) -> None:
    gpu = GPU.replace(
        'torch = "2.10.0"',
        'torch = { version = "2.4.1", override = true, reason = "old cluster" }',
    )
    pin = load_profiles(write(tmp_path, {"base": BASE, "gpu": gpu})).get("gpu").pin("torch")
    assert pin is not None
    assert (pin.version, pin.override, pin.reason) == ("2.4.1", True, "old cluster")


def test_problems_in_several_files_come_in_one_error(tmp_path: Path) -> None:
    manifest = MANIFEST + 'peft = "~=>1"\n'
    cpu = 'name = "cpu"\nextends = "base"\ncolour = "red"\n[hardware]\nvendor = "cpu"\n'
    d = write(
        tmp_path,
        {
            "base": BASE,
            "gpu": GPU.replace('"12.8"', '"twelve"'),
            "cpu": cpu,
            "z": "a = 1\nb = = 2\n",
        },
        manifest=manifest,
    )
    with pytest.raises(InputError) as info:
        load_profiles(d)
    assert info.value.problems == (
        f"{d / 'cpu.toml'}: colour: unknown key (expected one of abstract, description, extends,"
        " hardware, indexes, name, pins, target, verify)",
        f"{d / 'gpu.toml'}: hardware.cuda: expected a CUDA version like \"12.8\" (got 'twelve')",
        f"{d / 'manifest.toml'}: requirements.peft: invalid version specifier '~=>1'"
        ' (expected PEP 440, e.g. ">=4.51.3,!=4.52.*")',
        f"{d / 'z.toml'}: invalid TOML: Invalid value (at line 2, column 5)",
    )
    assert info.value.message.startswith("4 problems:\n  ")


def test_get_unknown_profile(tmp_path: Path) -> None:
    d = write(tmp_path, {"base": BASE, "gpu": GPU})
    with pytest.raises(InputError) as info:
        load_profiles(d).get("nope")
    assert info.value.problems == (f"{d}: no profile named 'nope' (known: gpu)",)


def builtin() -> ProfileSet:
    return load_profiles(REPO / "profiles")


def test_builtin_profiles_load() -> None:
    profiles = builtin()
    names = [p.name for p in profiles.profiles]
    assert {"cpu", "cuda126", "cuda128", "cuda130", "cuda121_ampere"} <= set(names)
    assert "llm-stack" not in names  # abstract
    assert names == sorted(names)
    assert profiles.get("cuda130").min_driver == "580.65.06"
    assert profiles.get("cpu").vendor == "cpu" and profiles.get("cpu").cuda is None
    ampere = profiles.get("cuda121_ampere").pin("torch")
    assert ampere is not None and ampere.version == "2.5.1+cu121"
    with pytest.raises(InputError) as info:
        profiles.get("nope")
    assert info.value.problems == (
        f"{REPO / 'profiles'}: no profile named 'nope' (known: {', '.join(names)})",
    )


def test_a_broken_parent_is_reported_once_not_as_missing(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "manifest.toml").write_text("[requirements]\n")
    (folder / "base.toml").write_text('name = "base"\nabstract = true\ncolour = "red"\n')
    (folder / "child.toml").write_text('name = "child"\nextends = "base"\n')
    with pytest.raises(InputError) as info:
        load_profiles(folder)
    assert info.value.problems == (
        f"{folder / 'base.toml'}: colour: unknown key (expected one of abstract, description,"
        " extends, hardware, indexes, name, pins, target, verify)",
    )
