"""Loading profiles: validation with exact problems, inheritance, the manifest, built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from constraints_gen.errors import InputError
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet

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
            " indexes, name, pins, platform, target, verify)",
        ),
        (
            GPU.replace('cuda = "12.8"', 'cuda = "12.8"\narch = "sm_80"'),
            "hardware.arch: unknown key (expected one of compute_capabilities, cuda, gfx_targets,"
            " l4t, min_driver, min_macos, ptx, rocm, vendor)",
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
            GPU.replace('vendor = "nvidia"', 'vendor = "nvidias"'),
            'hardware.vendor: expected one of "nvidia", "jetson", "amd", "intel", "apple", "cpu"'
            " (got 'nvidias')",
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
        f"{d / 'bare.toml'}: target.platforms: {suffix}",
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
        " hardware, indexes, name, pins, platform, target, verify)",
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
        " extends, hardware, indexes, name, pins, platform, target, verify)",
    )


MULTI = """\
name = "multi"
extends = "base"
[hardware]
vendor = "nvidia"
cuda = "13.0"
compute_capabilities = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
ptx = true
min_driver = "580.65.06"
[target]
platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]
[pins]
torch = "2.14.1"
[platform.aarch64-manylinux_2_28.hardware]
compute_capabilities = ["8.0", "9.0", "10.0", "11.0", "12.0"]
[platform.aarch64-manylinux_2_28.target]
python = ["3.12"]
[platform.aarch64-manylinux_2_28.pins]
peft = "0.21.3"
"""


def test_one_profile_for_several_platforms(tmp_path: Path) -> None:
    d = write(tmp_path, {"base": BASE, "multi": MULTI})
    multi = load_profiles(d).get("multi")
    assert multi.platforms == ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
    assert multi.platform == "x86_64-manylinux_2_28"  # the first, unless chosen
    x86, arm = multi.views()
    assert x86 == multi and arm == multi.for_platform("aarch64-manylinux_2_28")
    assert x86.compute_capabilities == ((7, 5), (8, 0), (8, 6), (9, 0), (10, 0), (12, 0))
    assert arm.compute_capabilities == ((8, 0), (9, 0), (10, 0), (11, 0), (12, 0))
    assert (x86.cuda, x86.ptx, x86.min_driver) == (arm.cuda, arm.ptx, arm.min_driver)
    assert (x86.pythons, arm.pythons) == (("3.11", "3.12"), ("3.12",))
    x86_peft, arm_peft = x86.pin("peft"), arm.pin("peft")
    assert x86_peft is not None and (x86_peft.version, x86_peft.key) == ("0.21.2", "pins.peft")
    assert arm_peft is not None and arm_peft.version == "0.21.3"
    assert arm_peft.key == "platform.aarch64-manylinux_2_28.pins.peft"
    # each build's fingerprint inputs leave out the platform list and the other platforms' tables
    x86_own, arm_own = dict(x86.inputs)["multi.toml"], dict(arm.inputs)["multi.toml"]
    assert "platform" not in x86_own and "platforms" not in x86_own["target"]
    assert list(arm_own["platform"]) == ["aarch64-manylinux_2_28"]
    # generated/ layout: a folder per platform for a profile with several
    assert (x86.layout_platform, arm.layout_platform) == (
        "x86_64-manylinux_2_28",
        "aarch64-manylinux_2_28",
    )
    with pytest.raises(InputError) as info:
        multi.for_platform("aarch64-apple-darwin")
    assert info.value.problems == (
        f"{d / 'multi.toml'}: target.platforms: profile multi is not for aarch64-apple-darwin"
        " (it is for x86_64-manylinux_2_28, aarch64-manylinux_2_28)",
    )


def test_old_single_platform_key_reads_as_a_one_platform_list(tmp_path: Path) -> None:
    d = write(tmp_path, {"base": BASE, "gpu": GPU})
    gpu = load_profiles(d).get("gpu")
    assert gpu.platforms == ("x86_64-manylinux_2_28",)
    assert gpu.layout_platform is None  # generated/gpu/py3.X.lock.txt, as before
    # a file that uses neither new key is fingerprinted exactly as before (committed locks hold)
    assert dict(gpu.inputs)["base.toml"]["target"]["platform"] == "x86_64-manylinux_2_28"


def test_project_paths_per_platform(tmp_path: Path) -> None:
    from constraints_gen.profiles.project import Project

    project = Project(root=tmp_path, builtin=False)
    assert project.lock_path("cpu", "3.12") == tmp_path / "generated/cpu/py3.12.lock.txt"
    assert project.constraints_path("cpu", "3.12", "aarch64-apple-darwin") == (
        tmp_path / "generated/cpu/aarch64-apple-darwin/py3.12.constraints.txt"
    )


VENDOR_PROFILES = {
    "rocm": (
        'vendor = "amd"\nrocm = "7.1"\ngfx_targets = ["gfx90a", "gfx942", "gfx950"]',
        '["x86_64-manylinux_2_28"]',
    ),
    "xpu": ('vendor = "intel"', '["x86_64-manylinux_2_28", "x86_64-pc-windows-msvc"]'),
    "mps": ('vendor = "apple"\nmin_macos = "14.0"', '["aarch64-apple-darwin"]'),
    "orin": (
        'vendor = "jetson"\ncuda = "12.6"\ncompute_capabilities = ["8.7"]\nl4t = ">=36.4,<37"',
        '["aarch64-manylinux_2_28"]',
    ),
    "cpus": ('vendor = "cpu"', '["x86_64-manylinux_2_28", "aarch64-apple-darwin"]'),
}


def vendor_profile(name: str, hardware: str, platforms: str) -> str:
    return (
        f'name = "{name}"\nextends = "base"\n[hardware]\n{hardware}\n'
        f'[target]\nplatforms = {platforms}\n[pins]\ntorch = "2.14.1"\n'
    )


def test_every_vendor_loads(tmp_path: Path) -> None:
    files = {name: vendor_profile(name, *spec) for name, spec in VENDOR_PROFILES.items()}
    profiles = load_profiles(write(tmp_path, {"base": BASE, **files}))
    rocm = profiles.get("rocm")
    assert (rocm.vendor, rocm.rocm, rocm.gfx_targets) == (
        "amd",
        "7.1",
        ("gfx90a", "gfx942", "gfx950"),
    )
    assert profiles.get("mps").min_macos == (14, 0)
    orin = profiles.get("orin")
    assert (orin.vendor, orin.l4t, orin.cuda, orin.min_driver) == (
        "jetson",
        ">=36.4,<37",
        (12, 6),
        None,
    )
    assert profiles.get("xpu").platforms == ("x86_64-manylinux_2_28", "x86_64-pc-windows-msvc")


@pytest.mark.parametrize(
    ("name", "hardware", "platforms", "expected"),
    [
        (
            "mps",
            'vendor = "apple"\nmin_macos = "14.0"',
            '["x86_64-manylinux_2_28"]',
            "target.platforms: x86_64-manylinux_2_28: apple builds exist for darwin aarch64 only",
        ),
        (
            "rocm",
            'vendor = "amd"\nrocm = "7.1"\ngfx_targets = ["gfx942"]',
            '["x86_64-pc-windows-msvc"]',
            "target.platforms: x86_64-pc-windows-msvc: amd builds exist for linux only",
        ),
        (
            "rocm",
            'vendor = "amd"\nrocm = "7.1"\ngfx_targets = ["gfx942"]\n'
            'compute_capabilities = ["9.0"]',
            '["x86_64-manylinux_2_28"]',
            "hardware.compute_capabilities: applies to vendor nvidia or jetson only"
            " (this profile's vendor is amd)",
        ),
        (
            "rocm",
            'vendor = "amd"\nrocm = "7.1"\ngfx_targets = ["sm_90"]',
            '["x86_64-manylinux_2_28"]',
            "hardware.gfx_targets[0]: expected a string like \"gfx942\" (got 'sm_90')",
        ),
        (
            "rocm",
            'vendor = "amd"\ngfx_targets = ["gfx942"]',
            '["x86_64-manylinux_2_28"]',
            "hardware.rocm: required (in this file or a parent it extends)",
        ),
        (
            "orin",
            'vendor = "jetson"\ncuda = "12.6"\ncompute_capabilities = ["8.7"]\nl4t = "36.4"',
            '["aarch64-manylinux_2_28"]',
            "hardware.l4t: expected a range of L4T releases like \">=36.4,<37\" (got '36.4')",
        ),
        (
            "cpus",
            'vendor = "cpu"',
            '["x86_64-manylinux_2_28", "linux"]',
            "target.platforms[1]: expected one platform per system and machine; 'linux' and"
            " 'x86_64-manylinux_2_28' are both linux x86_64",
        ),
        (
            "cpus",
            'vendor = "cpu"',
            '["x86_64-manylinux_2_28", "x86_64-manylinux_2_28"]',
            "target.platforms[1]: expected one platform per system and machine;"
            " 'x86_64-manylinux_2_28' is listed twice",
        ),
        (
            "cpus",
            'vendor = "cpu"',
            '["riscv64-manylinux_2_28"]',
            "target.platforms[0]: expected a uv --python-platform; 'riscv64-manylinux_2_28' is"
            " machine 'riscv64' is not supported (expected x86_64 or aarch64)",
        ),
        (
            "cpus",
            'vendor = "cpu"',
            '["x86_64-linux-gnu"]',
            "target.platforms[0]: expected a uv --python-platform; 'x86_64-linux-gnu' is not a uv"
            " --python-platform (expected e.g. x86_64-manylinux_2_28, aarch64-manylinux_2_28,"
            " x86_64-pc-windows-msvc, aarch64-apple-darwin)",
        ),
        (
            "cpus",
            'vendor = "cpu"',
            "[]",
            "target.platforms: expected a non-empty array like"
            ' ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]',
        ),
    ],
)
def test_vendor_and_platform_problems(
    tmp_path: Path, name: str, hardware: str, platforms: str, expected: str
) -> None:
    d = write(tmp_path, {"base": BASE, name: vendor_profile(name, hardware, platforms)})
    assert problems(d) == (f"{d / f'{name}.toml'}: {expected}",)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[platform.aarch64-apple-darwin.pins]\ntorch = "2.14.0"\n',
            "platform.aarch64-apple-darwin: not one of this profile's platforms (target.platforms"
            " = ['x86_64-manylinux_2_28', 'aarch64-manylinux_2_28']); add it there or remove the"
            " table",
        ),
        (
            '[platform.x86_64-manylinux_2_28.hardware]\nvendor = "cpu"\n',
            "platform.x86_64-manylinux_2_28.hardware.vendor: a profile is one vendor on every"
            " platform; set hardware.vendor (or write another profile)",
        ),
        (
            '[platform.x86_64-manylinux_2_28.target]\nplatforms = ["linux"]\n',
            "platform.x86_64-manylinux_2_28.target.platforms: unknown key (expected one of"
            " commit_lock, python)",
        ),
        (
            '[platform.arm64.pins]\ntorch = "2.14.0"\n',
            "platform.arm64: not a uv --python-platform (expected e.g. x86_64-manylinux_2_28,"
            " aarch64-manylinux_2_28, x86_64-pc-windows-msvc, aarch64-apple-darwin)",
        ),
        (
            '[platform.aarch64-manylinux_2_28.pins]\ntorch = "2.14.0"\nTorch = "2.14.1"\n',
            "platform.aarch64-manylinux_2_28.pins.torch,"
            " platform.aarch64-manylinux_2_28.pins.Torch: the same package (torch, PEP 503);"
            " keep one",
        ),
    ],
)
def test_per_platform_table_problems(tmp_path: Path, extra: str, expected: str) -> None:
    text = MULTI.replace('[platform.aarch64-manylinux_2_28.pins]\npeft = "0.21.3"\n', "") + extra
    d = write(tmp_path, {"base": BASE, "multi": text})
    assert problems(d) == (f"{d / 'multi.toml'}: {expected}",)


def test_both_platform_keys_in_one_file(tmp_path: Path) -> None:
    text = MULTI.replace("[target]\n", '[target]\nplatform = "x86_64-manylinux_2_28"\n')
    d = write(tmp_path, {"base": BASE, "multi": text})
    assert problems(d) == (
        f"{d / 'multi.toml'}: target.platform: expected only one of target.platform and"
        " target.platforms (platforms replaces platform)",
    )


def test_a_required_key_missing_on_one_platform_names_it(tmp_path: Path) -> None:
    text = MULTI.replace('python = ["3.12"]', "").replace(
        'extends = "base"\n', 'extends = "noplatform"\n'
    )
    parent = BASE.replace('name = "base"', 'name = "noplatform"').replace(
        'python = ["3.11", "3.12"]\n', ""
    )
    d = write(
        tmp_path,
        {
            "noplatform": parent,
            "multi": text.replace(
                "[platform.aarch64-manylinux_2_28.target]\n",
                '[platform.aarch64-manylinux_2_28.target]\npython = ["3.12"]\n',
            ),
        },
    )
    assert problems(d) == (
        f"{d / 'multi.toml'}: target.python: required for platform x86_64-manylinux_2_28 (in"
        " this file, a parent it extends, or [platform.x86_64-manylinux_2_28])",
    )


def test_a_pin_outside_the_range_in_a_platform_table_names_its_key(tmp_path: Path) -> None:
    text = MULTI.replace('peft = "0.21.3"', 'transformers = "4.52.1"')
    d = write(tmp_path, {"base": BASE, "multi": text})
    assert problems(d) == (
        f"{d / 'multi.toml'}: platform.aarch64-manylinux_2_28.pins.transformers: 4.52.1 is"
        f" outside the manifest range !=4.52.*,>=4.51.3 ({d / 'manifest.toml'}:"
        ' requirements.transformers); if deliberate, write transformers = { version = "4.52.1",'
        " override = true }",
    )


def test_verify_imports_are_read_and_not_a_lock_input(tmp_path: Path) -> None:
    gpu = GPU + '[verify]\nimports = ["torch", "torch.cuda"]\n'
    d = write(tmp_path, {"base": BASE, "gpu": gpu})
    profile = load_profiles(d).get("gpu")
    assert profile.verify_imports == ("torch", "torch.cuda")
    assert "verify" not in dict(profile.inputs)["gpu.toml"]
    bad = write(tmp_path / "bad", {"base": BASE, "gpu": GPU + '[verify]\nimports = ["no-pe"]\n'})
    assert problems(bad) == (
        f'{bad / "gpu.toml"}: verify.imports[0]: expected a module name like "torch.cuda"'
        " (got 'no-pe')",
    )
