"""The hardware JSON form: parsing, validation with key paths, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from constraints_gen.detect.hardware import CPU, Gpu, Hardware, load_hardware, parse_hardware
from constraints_gen.errors import InputError

HARDWARE = Path(__file__).parent / "data" / "hardware"
H200 = HARDWARE / "h200-real.json"
ORIGIN = "hw.json"


def problems_of(data: Any) -> tuple[str, ...]:
    with pytest.raises(InputError) as info:
        parse_hardware(json.dumps(data), ORIGIN)
    return info.value.problems


def good_gpu(**changes: Any) -> dict[str, Any]:
    gpu: dict[str, Any] = {"index": 0, "name": "NVIDIA H200", "compute_capability": "9.0"}
    gpu.update(changes)
    return gpu


def machine(*gpus: Any) -> dict[str, Any]:
    return {"driver_version": "580.159.04", "cuda_driver_version": "13.0", "gpus": list(gpus)}


def test_real_h200_readout() -> None:
    hw = load_hardware(H200)
    assert hw.driver_version == "580.159.04"
    assert hw.cuda_driver_version == "13.0"
    assert hw.source == str(H200)
    assert not hw.is_cpu
    assert hw.gpus == (
        Gpu(
            index=0,
            name="NVIDIA H200",
            compute_capability=(9, 0),
            memory_mib=143771,
            uuid="GPU-64e490f7-0be7-acdb-c82d-da3343bbd06c",
            mig_enabled=False,
        ),
    )
    assert hw.gpus[0].cc == "9.0"
    assert hw.describe() == (
        f"linux x86_64 ({H200})\n"
        "NVIDIA driver 580.159.04, CUDA driver 13.0\n"
        "  GPU 0: NVIDIA H200, compute capability 9.0, 143771 MiB"
    )


def test_cpu_form() -> None:
    hw = parse_hardware('{"driver_version": null, "cuda_driver_version": null, "gpus": []}', "x")
    assert hw.is_cpu
    assert hw == Hardware(driver_version=None, cuda_driver_version=None, gpus=(), source="x")
    assert hw.describe() == "linux x86_64 (x)\nCPU machine: no GPU"
    assert CPU.to_json() == {
        "platform": {
            "system": "linux",
            "machine": "x86_64",
            "os_version": None,
            "glibc": None,
            "libc": None,
            "l4t": None,
        },
        "driver_version": None,
        "cuda_driver_version": None,
        "gpus": [],
    }


def test_unknown_keys_are_ignored() -> None:
    data = machine(good_gpu(pci_device_id="0x233510de", fan="quiet"))
    data["_comment"] = "anything"
    data["torch_on_that_machine"] = {"x": 1}
    hw = parse_hardware(json.dumps(data), ORIGIN)
    assert hw.gpus == (Gpu(index=0, name="NVIDIA H200", compute_capability=(9, 0)),)


def test_optional_gpu_keys_default() -> None:
    gpu = parse_hardware(json.dumps(machine(good_gpu())), ORIGIN).gpus[0]
    assert (gpu.memory_mib, gpu.uuid, gpu.mig_enabled) == (None, None, False)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"cuda_driver_version": None, "gpus": []},
            'driver_version: expected a driver version string like "580.159.04", or null (missing)',
        ),
        (
            {"driver_version": "580.1.1.1", "cuda_driver_version": None, "gpus": []},
            "driver_version: expected a driver version string like \"580.159.04\", got '580.1.1.1'",
        ),
        (
            {"driver_version": 580, "cuda_driver_version": None, "gpus": []},
            'driver_version: expected a driver version string like "580.159.04", got 580',
        ),
        (
            {"driver_version": None, "gpus": []},
            'cuda_driver_version: expected a CUDA version like "13.0", or null (missing)',
        ),
        (
            {"driver_version": None, "cuda_driver_version": "13", "gpus": []},
            "cuda_driver_version: expected a CUDA version like \"13.0\", got '13'",
        ),
        (
            {"driver_version": None, "cuda_driver_version": None},
            "gpus: expected a list of GPU objects (missing)",
        ),
        (
            {"driver_version": None, "cuda_driver_version": None, "gpus": {}},
            "gpus: expected a list of GPU objects",
        ),
        (machine("H200"), "gpus[0]: expected a GPU object"),
        (
            machine({"name": "A", "compute_capability": "8.0"}),
            "gpus[0].index: expected a non-negative integer (missing)",
        ),
        (machine(good_gpu(index=-1)), "gpus[0].index: expected a non-negative integer"),
        (machine(good_gpu(index=True)), "gpus[0].index: expected a non-negative integer"),
        (machine(good_gpu(name="")), "gpus[0].name: expected a GPU name string"),
        (
            machine({"index": 0, "compute_capability": "8.0"}),
            "gpus[0].name: expected a GPU name string (missing)",
        ),
        (
            machine({"index": 0, "name": "A"}),
            'gpus[0].compute_capability: expected a string like "9.0" (missing)',
        ),
        (
            machine(good_gpu(compute_capability=9.0)),
            'gpus[0].compute_capability: expected a string like "9.0" (got 9.0)',
        ),
        (
            machine(good_gpu(compute_capability="sm_90")),
            "gpus[0].compute_capability: expected a string like \"9.0\" (got 'sm_90')",
        ),
        (
            machine(good_gpu(memory_mib="80GB")),
            "gpus[0].memory_mib: expected an integer or null, got '80GB'",
        ),
        (
            machine(good_gpu(memory_mib=False)),
            "gpus[0].memory_mib: expected an integer or null, got False",
        ),
        (machine(good_gpu(uuid=7)), "gpus[0].uuid: expected a string or null, got 7"),
        (
            machine(good_gpu(mig_enabled="no")),
            "gpus[0].mig_enabled: expected true or false, got 'no'",
        ),
        (
            {"driver_version": None, "cuda_driver_version": None, "gpus": [good_gpu()]},
            "driver_version, cuda_driver_version: expected strings when NVIDIA GPUs are listed"
            " (null means no NVIDIA GPU, or a Jetson with platform.l4t set)",
        ),
    ],
)
def test_each_problem_names_its_key_path(data: Any, expected: str) -> None:
    assert problems_of(data) == (f"{ORIGIN}: {expected}",)


def test_all_problems_are_reported_at_once() -> None:
    data = {
        "driver_version": "r580",
        "gpus": [
            good_gpu(),
            {"index": 1, "name": 5, "compute_capability": "9"},
            good_gpu(index=2, mig_enabled=None),
        ],
    }
    problems = problems_of(data)
    assert problems == (
        f"{ORIGIN}: driver_version: expected a driver version string like"
        " \"580.159.04\", got 'r580'",
        f'{ORIGIN}: cuda_driver_version: expected a CUDA version like "13.0", or null (missing)',
        f"{ORIGIN}: gpus[1].name: expected a GPU name string",
        f"{ORIGIN}: gpus[1].compute_capability: expected a string like \"9.0\" (got '9')",
        f"{ORIGIN}: gpus[2].mig_enabled: expected true or false, got None",
    )
    with pytest.raises(InputError) as info:
        parse_hardware(json.dumps(data), ORIGIN)
    assert info.value.message == "5 problems:\n  " + "\n  ".join(problems)


def test_top_level_must_be_an_object() -> None:
    assert problems_of([1, 2]) == (f"{ORIGIN}: expected a JSON object at the top level",)


def test_invalid_json_reports_line_and_column() -> None:
    text = '{\n  "driver_version": "580.159.04",\n  "gpus": [,]\n}'
    with pytest.raises(InputError) as info:
        parse_hardware(text, ORIGIN)
    assert info.value.problems == (f"{ORIGIN}: line 3 column 12: invalid JSON: Expecting value",)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(InputError) as info:
        load_hardware(missing)
    assert info.value.problems == (
        f"{missing}: cannot read hardware file: No such file or directory",
    )


def test_round_trip(tmp_path: Path) -> None:
    original = load_hardware(H200)
    two = Hardware(
        driver_version="570.133.20",
        cuda_driver_version="12.8",
        gpus=(
            Gpu(index=0, name="NVIDIA A100-SXM4-80GB", compute_capability=(8, 0), mig_enabled=True),
            Gpu(index=1, name="RTX 3090", compute_capability=(8, 6), memory_mib=24576),
        ),
    )
    for hw in (original, two, CPU):
        path = tmp_path / "hw.json"
        path.write_text(json.dumps(hw.to_json()), encoding="utf-8")
        again = load_hardware(path)
        assert again.to_json() == hw.to_json()
        assert again.gpus == hw.gpus
        assert again.source == str(path)


NEW_FORM: dict[str, Any] = {
    "platform": {
        "system": "linux",
        "machine": "aarch64",
        "os_version": None,
        "glibc": "2.39",
        "libc": {"name": "glibc", "version": "2.39"},
        "l4t": None,
    },
    "driver_version": "580.95.05",
    "cuda_driver_version": "13.0",
    "gpus": [
        {
            "index": 0,
            "vendor": "nvidia",
            "name": "NVIDIA GH200 480GB",
            "compute_capability": "9.0",
            "memory_mib": 97871,
            "uuid": "GPU-1",
            "mig_enabled": False,
        },
        {
            "index": 1,
            "vendor": "amd",
            "name": "AMD Instinct MI300X",
            "gfx": "gfx942",
            "memory_mib": 196592,
        },
        {
            "index": 2,
            "vendor": "intel",
            "name": "Intel Arc A770",
            "pci_id": "8086:56a0",
            "memory_mib": 16384,
        },
    ],
}


def test_new_form_every_vendor_round_trips() -> None:
    from constraints_gen.detect.hardware import Platform

    hw = parse_hardware(json.dumps(NEW_FORM), ORIGIN)
    assert hw.platform == Platform(system="linux", machine="aarch64", glibc="2.39")
    assert [gpu.vendor for gpu in hw.gpus] == ["nvidia", "amd", "intel"]
    assert hw.gpus_of("amd") == (
        Gpu(index=1, name="AMD Instinct MI300X", vendor="amd", gfx="gfx942", memory_mib=196592),
    )
    assert hw.gpus[2].pci_id == "8086:56a0"
    assert hw.to_json() == NEW_FORM
    assert hw.describe() == (
        "linux aarch64, glibc 2.39 (hw.json)\n"
        "NVIDIA driver 580.95.05, CUDA driver 13.0\n"
        "  GPU 0: NVIDIA GH200 480GB, compute capability 9.0, 97871 MiB\n"
        "  GPU 1: AMD Instinct MI300X, AMD gfx942, 196592 MiB\n"
        "  GPU 2: Intel Arc A770, Intel PCI 8086:56a0, 16384 MiB"
    )


def test_apple_machine() -> None:
    data = {
        "platform": {"system": "darwin", "machine": "aarch64", "os_version": "14.5"},
        "driver_version": None,
        "cuda_driver_version": None,
        "gpus": [{"index": 0, "vendor": "apple", "name": "Apple M3 Max", "memory_mib": 65536}],
    }
    hw = parse_hardware(json.dumps(data), ORIGIN)
    assert not hw.is_cpu
    assert hw.gpus_of("nvidia") == ()
    assert hw.describe() == (
        "darwin aarch64, macOS 14.5 (hw.json)\n"
        "  GPU 0: Apple M3 Max, Apple GPU (unified memory), 65536 MiB"
    )
    with pytest.raises(ValueError, match="no compute capability"):
        _ = hw.gpus[0].cc


NO_DRIVER: dict[str, Any] = {"driver_version": None, "cuda_driver_version": None, "gpus": []}


def test_libc_musl_round_trips_and_old_readouts_read_glibc() -> None:
    from constraints_gen.detect.hardware import Libc, Platform

    musl = {"system": "linux", "machine": "x86_64", "libc": {"name": "musl", "version": "1.2"}}
    hw = parse_hardware(json.dumps({"platform": musl, **NO_DRIVER}), "alpine.json")
    assert hw.platform.libc == Libc(name="musl", version="1.2")
    assert hw.platform.musl and hw.platform.glibc is None
    assert hw.platform.describe() == "linux x86_64, musl 1.2"
    assert parse_hardware(json.dumps(hw.to_json()), "again").platform == hw.platform
    # a readout from before libc was recorded: glibc set means glibc, null means unknown
    old = {"system": "linux", "machine": "x86_64", "glibc": "2.35"}
    hw = parse_hardware(json.dumps({"platform": old, **NO_DRIVER}), "old.json")
    assert hw.platform.libc == Libc(name="glibc", version="2.35")
    unknown = {"system": "linux", "machine": "x86_64", "glibc": None}
    hw = parse_hardware(json.dumps({"platform": unknown, **NO_DRIVER}), "old.json")
    assert hw.platform.libc is None and not hw.platform.musl
    assert Platform(system="linux", machine="x86_64", libc=Libc(name="glibc", version="2.39")) == (
        Platform(system="linux", machine="x86_64", glibc="2.39")
    )
    with pytest.raises(ValueError, match="disagree"):
        Platform(system="linux", machine="x86_64", glibc="2.39", libc=Libc(name="musl"))


def test_old_form_is_linux_x86_64_nvidia() -> None:
    from constraints_gen.detect.hardware import LINUX_X86_64

    hw = load_hardware(H200)
    assert hw.platform == LINUX_X86_64
    assert hw.gpus[0].vendor == "nvidia"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"platform": {"system": "Linux", "machine": "x86_64"}},
            "platform.system: expected one of linux, windows, darwin (got 'Linux')",
        ),
        (
            {"platform": {"system": "linux", "machine": "AMD64"}},
            "platform.machine: expected one of x86_64, aarch64 (got 'AMD64')",
        ),
        (
            {"platform": {"system": "windows", "machine": "x86_64", "glibc": "2.39"}},
            "platform.glibc: expected null on windows (glibc is Linux's C library)",
        ),
        (
            {"platform": {"system": "linux", "machine": "x86_64", "libc": {"name": "uclibc"}}},
            "platform.libc.name: expected one of glibc, musl (got 'uclibc')",
        ),
        (
            {"platform": {"system": "linux", "machine": "x86_64", "libc": "musl"}},
            """platform.libc: expected {"name": "glibc" or "musl", "version": "2.39"} or null"""
            " (got 'musl')",
        ),
        (
            {
                "platform": {
                    "system": "linux",
                    "machine": "x86_64",
                    "libc": {"name": "musl", "version": "one"},
                }
            },
            'platform.libc.version: expected a version like "2.39" or "1.2", or null (got \'one\')',
        ),
        (  # a musl machine has no glibc
            {
                "platform": {
                    "system": "linux",
                    "machine": "x86_64",
                    "glibc": "2.39",
                    "libc": {"name": "musl", "version": "1.2"},
                }
            },
            "platform.glibc: expected null with libc musl (got '2.39')",
        ),
        (
            {
                "platform": {
                    "system": "linux",
                    "machine": "x86_64",
                    "glibc": "2.39",
                    "libc": {"name": "glibc", "version": "2.35"},
                }
            },
            "platform.libc.version: expected the same as platform.glibc '2.39' (got '2.35')",
        ),
        (
            {"platform": {"system": "darwin", "machine": "aarch64", "libc": {"name": "musl"}}},
            "platform.libc: expected null on darwin (glibc and musl are Linux's C libraries)",
        ),
        (
            {"platform": {"system": "linux", "machine": "x86_64", "l4t": "36.4.3"}},
            "platform.l4t: expected null on linux x86_64 (L4T is Jetson's Linux for aarch64)",
        ),
        (
            {"gpus": [{"index": 0, "vendor": "amd", "name": "MI300X", "gfx": "942"}]},
            "gpus[0].gfx: expected a gfx target like \"gfx942\" (got '942')",
        ),
        (
            {"gpus": [{"index": 0, "vendor": "intel", "name": "Arc"}]},
            'gpus[0].pci_id: expected an Intel PCI id like "8086:56a0" (missing)',
        ),
        (
            {"gpus": [{"index": 0, "vendor": "matrox", "name": "G200"}]},
            "gpus[0].vendor: expected one of nvidia, amd, intel, apple (got 'matrox')",
        ),
        (
            {"gpus": [{"index": 0, "vendor": "apple", "name": "M3"}]},
            """gpus[0].vendor: expected "apple" only on platform darwin aarch64"""
            " (platform is linux x86_64)",
        ),
        (
            {"gpus": [good_gpu(memory_mib=-1)]},
            "gpus[0].memory_mib: expected a non-negative integer or null, got -1",
        ),
        (
            {"gpus": [good_gpu(), good_gpu(name="B")]},
            "gpus[1].index: expected a unique index (0 is also gpus[0])",
        ),
        (
            {"gpus": [good_gpu(uuid="GPU-a"), good_gpu(index=1, uuid="GPU-a")]},
            "gpus[1].uuid: expected a unique UUID ('GPU-a' is also gpus[0])",
        ),
        (
            {"gpus": [good_gpu(gfx="gfx942")]},
            "gpus[0].gfx: expected only on amd GPUs (this GPU's vendor is nvidia)",
        ),
    ],
)
def test_new_form_problems_name_their_key(change: dict[str, Any], expected: str) -> None:
    data = {**machine(), **change}
    assert problems_of(data) == (f"{ORIGIN}: {expected}",)
