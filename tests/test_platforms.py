"""Platform- and vendor-aware selection, on a small profile set written in tmp_path.

Builds, as their sources give them: aarch64 CUDA 13 builds carry sm_80 sm_90 sm_100 sm_110 sm_120
(the compiled arch list of PyPI's torch aarch64 wheels), x86_64's 7.5 8.0 8.6 9.0 10.0 12.0; the
ROCm 7.1 build lists gfx900 ... gfx1201 plus gfx950 (uv crates/uv-torch/src/backend.rs); torch 2.12+
ships only macosx_14_0 arm64 wheels; Jetson Orin (8.7) on JetPack 6 needs the jp6/cu126 builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from constraints_gen.detect.hardware import Hardware, parse_hardware
from constraints_gen.errors import NoFitError
from constraints_gen.locks import file as lockfile
from constraints_gen.locks.emit import emit, platform_matches
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import ProfileSet
from constraints_gen.profiles.project import Project
from constraints_gen.profiles.select import evaluate, require_fit, select

COMMON = '[pins]\ntorch = "{torch}"\n'
PROFILES = {
    "cuda130": """\
[hardware]
vendor = "nvidia"
cuda = "13.0"
compute_capabilities = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
ptx = true
min_driver = "580.65.06"
[target]
platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]
python = ["3.12"]
[pins]
torch = "2.14.1"
[platform.aarch64-manylinux_2_28.hardware]
compute_capabilities = ["8.0", "9.0", "10.0", "11.0", "12.0"]
""",
    "win_cu128": """\
[hardware]
vendor = "nvidia"
cuda = "12.8"
compute_capabilities = ["6.1", "7.0", "7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
min_driver = "528.33"
[target]
platforms = ["x86_64-pc-windows-msvc"]
python = ["3.12"]
[pins]
torch = "2.10.0+cu128"
""",
    "rocm71": """\
[hardware]
vendor = "amd"
rocm = "7.1"
gfx_targets = ["gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx950", "gfx1100", "gfx1101",
               "gfx1102", "gfx1200", "gfx1201"]
[target]
platform = "x86_64-manylinux_2_28"
python = ["3.12"]
[pins]
torch = "2.13.0+rocm7.1"
""",
    "xpu": """\
[hardware]
vendor = "intel"
[target]
platforms = ["x86_64-manylinux_2_28", "x86_64-pc-windows-msvc"]
python = ["3.12"]
[pins]
torch = "2.13.0+xpu"
""",
    "mps": """\
[hardware]
vendor = "apple"
min_macos = "14.0"
[target]
platforms = ["aarch64-apple-darwin"]
python = ["3.12"]
[pins]
torch = "2.14.1"
""",
    "mps_legacy": """\
[hardware]
vendor = "apple"
min_macos = "11.0"
[target]
platforms = ["aarch64-apple-darwin"]
python = ["3.12"]
[pins]
torch = "2.11.0"
""",
    "jetson_jp6": """\
[hardware]
vendor = "jetson"
cuda = "12.6"
compute_capabilities = ["8.7"]
l4t = ">=36.4,<37"
[target]
platforms = ["aarch64-manylinux_2_28"]
python = ["3.10"]
[pins]
torch = "2.8.0"
""",
    "cpu": """\
[hardware]
vendor = "cpu"
[target]
platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28", "x86_64-pc-windows-msvc"]
python = ["3.12"]
[pins]
torch = "2.14.1"
""",
}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> ProfileSet:
    return load_profiles(write_set(tmp_path_factory.mktemp("root") / "profiles"))


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text("[requirements]\n", encoding="utf-8")
    for name, body in PROFILES.items():
        (folder / f"{name}.toml").write_text(f'name = "{name}"\n{body}', encoding="utf-8")
    return folder


def hw(system: str, machine: str, gpus: list[dict[str, object]], **extra: object) -> Hardware:
    platform: dict[str, object] = {"system": system, "machine": machine}
    driver = extra.pop("driver", None)
    platform.update(extra)
    nvidia = any(gpu.get("vendor", "nvidia") == "nvidia" for gpu in gpus)
    data = {
        "platform": platform,
        "driver_version": driver if nvidia else None,
        "cuda_driver_version": ("13.0" if str(driver).startswith("58") else "12.8")
        if nvidia and driver
        else None,
        "gpus": [{"index": i, **gpu} for i, gpu in enumerate(gpus)],
    }
    return parse_hardware(json.dumps(data), "test")


def nv(name: str, cc: str) -> dict[str, object]:
    return {"vendor": "nvidia", "name": name, "compute_capability": cc}


def amd(name: str, gfx: str) -> dict[str, object]:
    return {"vendor": "amd", "name": name, "gfx": gfx}


ARC: dict[str, object] = {"vendor": "intel", "name": "Intel Arc A770", "pci_id": "8086:56a0"}
MACHINES = {
    "gh200": hw(
        "linux", "aarch64", [nv("NVIDIA GH200 480GB", "9.0")], glibc="2.39", driver="580.95.05"
    ),
    "dgx-spark": hw(
        "linux", "aarch64", [nv("NVIDIA GB10", "12.1")], glibc="2.39", driver="580.95.05"
    ),
    "gb200-r570": hw(
        "linux", "aarch64", [nv("NVIDIA GB200", "10.0")], glibc="2.39", driver="570.172.08"
    ),
    "orin-jp62": hw("linux", "aarch64", [nv("Orin", "8.7")], glibc="2.35", l4t="36.4.3"),
    "thor-jp7": hw("linux", "aarch64", [nv("Thor", "11.0")], glibc="2.39", l4t="38.2.0"),
    "win-rtx4090": hw(
        "windows",
        "x86_64",
        [nv("NVIDIA GeForce RTX 4090", "8.9")],
        os_version="10.0.26100",
        driver="581.57",
    ),
    "win-gtx1080": hw(
        "windows",
        "x86_64",
        [nv("NVIDIA GeForce GTX 1080", "6.1")],
        os_version="10.0.26100",
        driver="581.57",
    ),
    "win-laptop": hw("windows", "x86_64", [], os_version="10.0.22631"),
    "m3-macos14": hw(
        "darwin", "aarch64", [{"vendor": "apple", "name": "Apple M3 Max"}], os_version="14.5"
    ),
    "m1-macos13": hw(
        "darwin", "aarch64", [{"vendor": "apple", "name": "Apple M1"}], os_version="13.6.1"
    ),
    "mi300x": hw("linux", "x86_64", [amd("AMD Instinct MI300X", "gfx942")], glibc="2.35"),
    "mi355x": hw("linux", "x86_64", [amd("AMD Instinct MI355X", "gfx950")], glibc="2.35"),
    "rx7900xtx": hw("linux", "x86_64", [amd("AMD Radeon RX 7900 XTX", "gfx1100")], glibc="2.39"),
    "radeon-680m": hw("linux", "x86_64", [amd("AMD Radeon 680M", "gfx1035")], glibc="2.39"),
    "arc-a770": hw("linux", "x86_64", [ARC], glibc="2.39"),
    "graviton": hw("linux", "aarch64", [], glibc="2.34"),
    "h100-mi300x": hw(
        "linux",
        "x86_64",
        [nv("NVIDIA H100", "9.0"), amd("AMD Instinct MI300X", "gfx942")],
        glibc="2.35",
        driver="580.95.05",
    ),
    "old-glibc": hw(
        "linux", "x86_64", [nv("NVIDIA H100", "9.0")], glibc="2.17", driver="580.95.05"
    ),
    # Alpine: musl, no glibc (libc as packaging.tags reads it: musllinux_1_2)
    "alpine-cpu": hw("linux", "x86_64", [], libc={"name": "musl", "version": "1.2"}),
    "alpine-h100": hw(
        "linux",
        "x86_64",
        [nv("NVIDIA H100", "9.0")],
        libc={"name": "musl", "version": "1.2"},
        driver="580.95.05",
    ),
    # a readout that could not read the C library: unknown, assumed glibc
    "libc-unknown": hw("linux", "x86_64", [], glibc=None),
}

CASES = [
    ("gh200", "cuda130", "aarch64-manylinux_2_28"),
    ("dgx-spark", "cuda130", "aarch64-manylinux_2_28"),  # 12.1 runs the sm_120 code
    ("orin-jp62", "jetson_jp6", "aarch64-manylinux_2_28"),
    ("win-rtx4090", "win_cu128", "x86_64-pc-windows-msvc"),
    ("win-gtx1080", "win_cu128", "x86_64-pc-windows-msvc"),
    ("win-laptop", "cpu", "x86_64-pc-windows-msvc"),
    ("m3-macos14", "mps", "aarch64-apple-darwin"),
    ("m1-macos13", "mps_legacy", "aarch64-apple-darwin"),
    ("mi300x", "rocm71", "x86_64-manylinux_2_28"),
    ("mi355x", "rocm71", "x86_64-manylinux_2_28"),
    ("rx7900xtx", "rocm71", "x86_64-manylinux_2_28"),
    ("arc-a770", "xpu", "x86_64-manylinux_2_28"),
    ("graviton", "cpu", "aarch64-manylinux_2_28"),
    ("h100-mi300x", "cuda130", "x86_64-manylinux_2_28"),
]


@pytest.mark.parametrize(("machine", "expected", "platform"), CASES)
def test_each_kind_selects_its_build(
    profiles: ProfileSet, machine: str, expected: str, platform: str
) -> None:
    chosen = require_fit(select(profiles, MACHINES[machine]))
    assert (chosen.name, chosen.platform) == (expected, platform)


def test_aarch64_build_has_its_own_arch_list(profiles: ProfileSet) -> None:
    verdict = evaluate(profiles.get("cuda130"), MACHINES["gh200"])
    assert verdict.fits
    assert verdict.profile.compute_capabilities == ((8, 0), (9, 0), (10, 0), (11, 0), (12, 0))
    assert verdict.reasons == (
        "platform aarch64-manylinux_2_28: glibc 2.39 >= 2.28",
        "driver 580.95.05 >= 580.65.06 for the CUDA 13.0 build",
        "GPU 0 NVIDIA GH200 480GB (compute capability 9.0): runs the build's sm_90 code",
    )


@pytest.mark.parametrize(
    ("machine", "profile", "reasons"),
    [
        (
            "m3-macos14",
            "cuda130",
            (
                "built for x86_64-manylinux_2_28, aarch64-manylinux_2_28; this machine is darwin"
                " aarch64",
            ),
        ),
        (
            "m1-macos13",
            "mps",
            (
                "platform aarch64-apple-darwin: macOS 13.6.1 is older than 14.0, the oldest the"
                " build runs on (MPS's own floor for this torch)",
            ),
        ),
        (
            "orin-jp62",
            "cuda130",
            (
                "platform aarch64-manylinux_2_28: glibc 2.35 >= 2.28",
                "a Jetson (L4T 36.4.3): needs a jetson build; PyPI's aarch64 CUDA builds do not"
                " run on JetPack",
            ),
        ),
        (
            "thor-jp7",
            "jetson_jp6",
            (
                "platform aarch64-manylinux_2_28: glibc 2.39 >= 2.28",
                "L4T 38.2.0 is outside the build's range >=36.4,<37",
                "GPU 0 Thor (compute capability 11.0): the build has no kernels for it (built for"
                " 8.7)",
            ),
        ),
        (
            "gh200",
            "jetson_jp6",
            (
                "platform aarch64-manylinux_2_28: glibc 2.39 >= 2.28",
                "not a Jetson (no L4T release): a Jetson build",
                "GPU 0 NVIDIA GH200 480GB (compute capability 9.0): the build has no kernels for"
                " it (built for 8.7)",
            ),
        ),
        (
            "radeon-680m",
            "rocm71",
            (
                "platform x86_64-manylinux_2_28: glibc 2.39 >= 2.28",
                "GPU 0 AMD Radeon 680M (gfx1035): the ROCm 7.1 build has no kernels for it (built"
                " for gfx900 gfx906 gfx908 gfx90a gfx942 gfx950 gfx1100 gfx1101 gfx1102 gfx1200"
                " gfx1201); ROCm builds have no fallback",
            ),
        ),
        (
            "old-glibc",
            "cuda130",
            ("platform x86_64-manylinux_2_28: glibc 2.17 is older than the 2.28 its wheels need",),
        ),
        (
            "h100-mi300x",
            "rocm71",
            (
                "platform x86_64-manylinux_2_28: glibc 2.35 >= 2.28",
                "GPU 1 AMD Instinct MI300X (gfx942): runs the ROCm 7.1 build's gfx942 code",
                "ignores GPU 0 NVIDIA H100 (NVIDIA): this is a amd build",
            ),
        ),
        (
            "arc-a770",
            "cuda130",
            ("platform x86_64-manylinux_2_28: glibc 2.39 >= 2.28", "no NVIDIA GPU visible"),
        ),
        (
            "m3-macos14",
            "cpu",
            (
                "built for x86_64-manylinux_2_28, aarch64-manylinux_2_28, x86_64-pc-windows-msvc;"
                " this machine is darwin aarch64",
            ),
        ),
    ],
)
def test_reasons(
    profiles: ProfileSet, machine: str, profile: str, reasons: tuple[str, ...]
) -> None:
    verdict = evaluate(profiles.get(profile), MACHINES[machine])
    assert verdict.reasons == reasons
    assert verdict.fits is (profile == "rocm71" and machine == "h100-mi300x")


def test_mixed_vendors_prefer_nvidia_and_say_what_is_ignored(profiles: ProfileSet) -> None:
    selection = select(profiles, MACHINES["h100-mi300x"])
    fits = [(v.profile.name, v.served) for v in selection.verdicts if v.fits]
    assert fits == [("cuda130", 1), ("rocm71", 1)]  # same count served: vendor order
    assert selection.verdicts[0].reasons[-1] == (
        "ignores GPU 1 AMD Instinct MI300X (AMD): this is a nvidia build"
    )


def test_gpu_build_over_cpu_build_and_cpu_only_on_gpu_less_machines(
    profiles: ProfileSet,
) -> None:
    graviton = select(profiles, MACHINES["graviton"])
    assert [v.profile.name for v in graviton.verdicts if v.fits] == ["cpu"]
    gh200 = select(profiles, MACHINES["gh200"])
    assert [v.profile.name for v in gh200.verdicts if v.fits] == ["cuda130"]


@pytest.mark.parametrize(
    ("machine", "first_line", "tip"),
    [
        (
            "radeon-680m",
            "no profile fits this machine (AMD Radeon 680M gfx1035; linux x86_64, glibc 2.39):",
            "use a CPU build explicitly: --profile cpu",
        ),
        (
            "gb200-r570",
            "no profile fits this machine (driver 570.172.08, CUDA 12.8, NVIDIA GB200 10.0;"
            " linux aarch64, glibc 2.39):",
            "driver >= 580.65.06 runs 2.14.1 (profile cuda130); or use a CPU"
            " build explicitly: --profile cpu",
        ),
        (
            "thor-jp7",
            "no profile fits this machine (Thor 11.0; linux aarch64, glibc 2.39, L4T 38.2.0):",
            "use a CPU build explicitly: --profile cpu",
        ),
    ],
)
def test_no_fit_says_why_and_what_would_fit(
    profiles: ProfileSet, machine: str, first_line: str, tip: str
) -> None:
    with pytest.raises(NoFitError) as info:
        require_fit(select(profiles, MACHINES[machine]))
    assert info.value.message.splitlines()[0] == first_line
    assert info.value.tip == tip
    assert info.value.exit_code == 1


MUSL = (
    "platform x86_64-manylinux_2_28: this machine's C library is musl 1.2; its manylinux wheels"
    " need glibc 2.28 or newer and do not install on musl"
)


@pytest.mark.parametrize("machine", ["alpine-cpu", "alpine-h100"])
def test_musl_gets_no_manylinux_build(profiles: ProfileSet, machine: str) -> None:
    selection = select(profiles, MACHINES[machine])
    assert selection.chosen is None
    for name in ("cpu", "cuda130", "rocm71"):
        verdict = evaluate(profiles.get(name), MACHINES[machine])
        assert (verdict.fits, verdict.reasons) == (False, (MUSL,))
    with pytest.raises(NoFitError) as info:
        require_fit(selection)
    assert info.value.message.splitlines()[0].endswith("linux x86_64, musl 1.2):")
    assert f"  cpu: {MUSL}" in info.value.message.splitlines()
    assert info.value.tip == "run on a glibc Linux (a Debian or Ubuntu image, not Alpine)"


def test_an_unknown_libc_is_assumed_glibc_and_says_so(profiles: ProfileSet) -> None:
    selection = select(profiles, MACHINES["libc-unknown"])
    assert selection.chosen is not None and selection.chosen.name == "cpu"
    assert selection.verdicts[0].reasons[0] == (
        "platform x86_64-manylinux_2_28: glibc unknown, assumed >= 2.28"
    )


def test_named_profile_is_seen_on_the_machines_platform(profiles: ProfileSet) -> None:
    chosen = select(profiles, MACHINES["graviton"], name="cuda130").chosen
    assert chosen is not None and chosen.platform == "aarch64-manylinux_2_28"


def test_explain_json_build_keys(tmp_path: Path) -> None:
    write_set(tmp_path / "profiles")
    (tmp_path / "gh200.json").write_text(json.dumps(MACHINES["gh200"].to_json()), encoding="utf-8")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "constraints_gen", "explain", "--root", str(tmp_path)),
            *("--hardware", str(tmp_path / "gh200.json"), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["selected"] == "cuda130"
    assert data["hardware"]["platform"]["machine"] == "aarch64"
    by_name = {p["name"]: p for p in data["profiles"]}
    assert by_name["cuda130"]["build"] == {
        "vendor": "nvidia",
        "torch": "2.14.1",
        "cuda": "13.0",
        "rocm": None,
        "archs": ["8.0", "9.0", "10.0", "11.0", "12.0"],
        "ptx": True,
        "tegra": False,
        "l4t": None,
        "min_driver": "580.65.06",
        "min_macos": None,
        "platform": "aarch64-manylinux_2_28",
        "platforms": ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"],
    }
    assert by_name["rocm71"]["build"]["archs"][:2] == ["gfx900", "gfx906"]
    assert by_name["rocm71"]["build"]["rocm"] == "7.1"
    assert by_name["jetson_jp6"]["build"]["tegra"] is True
    assert by_name["mps"]["build"]["min_macos"] == "14.0"
    assert by_name["mps"]["reasons"] == [
        "built for aarch64-apple-darwin; this machine is linux aarch64"
    ]


def test_no_fit_exits_1_from_the_cli(tmp_path: Path) -> None:
    write_set(tmp_path / "profiles")
    machine = json.dumps(MACHINES["radeon-680m"].to_json())
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"GEN_CONSTRAINTS_HARDWARE": machine, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "ERROR: no profile fits this machine (AMD Radeon 680M gfx1035;" in done.stderr
    assert "rocm71: platform x86_64-manylinux_2_28: glibc 2.39 >= 2.28; GPU 0" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(
    not platform_matches("x86_64-manylinux_2_28"), reason="emits this Linux x86_64 machine's build"
)
def test_emit_reads_this_platforms_lock_of_a_multi_platform_profile(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "manifest.toml").write_text("[requirements]\n", encoding="utf-8")
    (folder / "c.toml").write_text(
        'name = "c"\n[hardware]\nvendor = "cpu"\n[target]\n'
        'platforms = ["aarch64-manylinux_2_28", "x86_64-manylinux_2_28"]\npython = ["3.12"]\n'
        '[pins]\ntorch = "2.14.1"\n[platform.x86_64-manylinux_2_28.pins]\ntorch = "2.14.0"\n',
        encoding="utf-8",
    )
    profiles = load_profiles(folder)
    project = Project(root=tmp_path, builtin=False)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for view in profiles.get("c").views():
        path = project.constraints_path("c", python, view.layout_platform)
        path.parent.mkdir(parents=True)
        head = lockfile.header(view, profiles.manifest, python, "gen-constraints lock c")
        body = f"torch=={view.pin('torch').version}\n"  # type: ignore[union-attr]
        path.write_text(lockfile.seal(head, body), encoding="utf-8")
        lock = project.lock_path("c", python, view.layout_platform)
        lock.write_text(lockfile.seal(head, body), encoding="utf-8")
    result = emit(project, profiles, profiles.get("c"), strict=True)
    assert result.path == tmp_path / f"generated/c/x86_64-manylinux_2_28/py{python}.constraints.txt"
    assert result.text.endswith("torch==2.14.0\n") and not result.stale
    assert result.profile.platform == "x86_64-manylinux_2_28"
    # naming another machine's Python keeps the profile's first platform (its own lock)
    other = emit(project, profiles, profiles.get("c"), python=python, strict=True)
    assert other.text.endswith("torch==2.14.1\n")


def test_lock_and_check_each_platform_of_a_profile(tmp_path: Path) -> None:
    """Real uv, tiny pure-Python wheels: one profile locked for three platforms, each into its
    own folder; a table for one platform makes only that platform's lock stale."""
    from support.lock_project import PYTHON, edit, gen, make_project

    root = make_project(tmp_path / "proj")
    assert gen("lock", "--root", root, "gamma").returncode == 0
    gamma = root / "profiles" / "gamma.toml"
    platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28", "aarch64-apple-darwin"]
    edit(gamma, 'platform = "x86_64-manylinux_2_28"', f"platforms = {json.dumps(platforms)}")
    edit(gamma, 'torch = "2.0.0"', 'torch = "2.0.0"\ntinylib = "1.0"')
    with gamma.open("a", encoding="utf-8") as handle:
        handle.write('\n[platform.aarch64-manylinux_2_28.pins]\ntinylib = "1.1"\n')
    check = gen("lock", "--check", "--root", root, "gamma")
    assert check.returncode == 1
    assert check.stderr.splitlines()[0] == (
        f"gamma [x86_64-manylinux_2_28] (CPython {PYTHON}): missing: no generated/gamma/"
        f"x86_64-manylinux_2_28/py{PYTHON}.lock.txt; generated/gamma/py{PYTHON}.lock.txt is"
        " from when the profile had one platform: a profile for several keeps each one's locks"
        " in generated/gamma/<platform>/ (lock it, then delete the old files)"
    )
    assert gen("lock", "--root", root, "gamma").returncode == 0
    assert gen("lock", "--check", "--root", root, "gamma").returncode == 0
    versions = {}
    for platform in platforms:
        text = (root / "generated" / "gamma" / platform / f"py{PYTHON}.lock.txt").read_text()
        assert text.splitlines()[0].endswith(f"CPython {PYTHON}, {platform}. Do not edit.")
        versions[platform] = [line for line in text.splitlines() if line.startswith("tinylib==")]
    assert versions == {
        "x86_64-manylinux_2_28": ["tinylib==1.0 \\"],
        "aarch64-manylinux_2_28": ["tinylib==1.1 \\"],
        "aarch64-apple-darwin": ["tinylib==1.0 \\"],
    }
    edit(gamma, 'tinylib = "1.1"', 'tinylib = "1.0"')  # the aarch64 table only
    check = gen("lock", "--check", "--root", root, "gamma")
    assert check.returncode == 1
    assert check.stderr.splitlines()[:-2] == [
        f"gamma [aarch64-manylinux_2_28] (CPython {PYTHON}): stale: profile gamma.toml changed"
    ]
