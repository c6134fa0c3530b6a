"""The fat binary reader, on small ELF files and wheels built here (the layout CUDA's
fatbinary_section.h and cuobjdump describe: container magic 0xBA55ED50; entry kind, header size,
payload size, and the sm architecture at byte 28)."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest

from constraints_gen.errors import InputError
from constraints_gen.profiles.fatbin import (
    FATBIN_MAGIC,
    Entry,
    Library,
    elf_section,
    fatbin_entries,
    main,
    read_wheel,
)


def entry(kind: int, sm: int, payload: bytes = b"code") -> bytes:
    payload += b"\0" * (-len(payload) % 8)
    header = struct.pack("<HHIQ", kind, 0x0101, 64, len(payload)) + b"\0" * 12
    header += struct.pack("<I", sm)
    return header + b"\0" * (64 - len(header)) + payload


def container(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IHHQ", FATBIN_MAGIC, 1, 16, len(body)) + body


def elf(sections: dict[str, bytes]) -> bytes:
    """A little-endian ELF64 file holding ``sections`` (plus the null section and .shstrtab)."""
    names = b"\0" + b"".join(name.encode() + b"\0" for name in sections) + b".shstrtab\0"
    blobs, offset = [], 64
    data = b""
    for body in [*sections.values(), names]:
        blobs.append((offset + len(data), len(body)))
        data += body + b"\0" * (-len(body) % 8)
    shoff = 64 + len(data)
    count = len(sections) + 2
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    head = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, count,
                               count - 1)  # fmt: skip
    table = b"\0" * 64
    name_at = 1
    for (at, size), name in zip(blobs, [*sections, ".shstrtab"], strict=True):
        table += struct.pack("<IIQQQQIIQQ", name_at, 1, 0, 0, at, size, 0, 0, 1, 0)
        name_at += len(name) + 1
    return head + data + table


def test_sass_and_ptx_entries_of_several_containers() -> None:
    fatbin = container(entry(2, 75), entry(2, 90)) + b"\0" * 8 + container(entry(1, 90))
    library = elf({".text": b"\x90" * 16, ".nv_fatbin": fatbin})
    section = elf_section(library, "lib.so")
    assert section is not None
    assert list(fatbin_entries(section, "lib.so")) == [
        Entry(kind="sass", arch=(7, 5)),
        Entry(kind="sass", arch=(9, 0)),
        Entry(kind="ptx", arch=(9, 0)),
    ]


def test_a_library_without_device_code() -> None:
    assert elf_section(elf({".text": b"\x90" * 16}), "lib.so") is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"MZ" + b"\0" * 100, "lib.so: not an ELF file"),
        (elf({".nv_fatbin": b"\x01" * 24}), "lib.so: no fat binary header at byte 0 of .nv_fatbin"),
        (
            elf({".nv_fatbin": container(entry(2, 80))[:-8]}),
            "lib.so: fat binary at byte 0 runs past its section",
        ),
        (
            elf({".nv_fatbin": container(entry(7, 80))}),
            "lib.so: unreadable fat binary entry at byte 16",
        ),
    ],
)
def test_what_is_not_a_fat_binary_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(InputError) as info:
        section = elf_section(data, "lib.so")
        assert section is not None
        list(fatbin_entries(section, "lib.so"))
    assert info.value.problems == (problem,)


def wheel(path: Path, libraries: dict[str, bytes]) -> Path:
    metadata = (
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.15.0\nRequires-Python: >=3.11\n"
        'Requires-Dist: cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"\n'
        "Requires-Dist: filelock\n\n"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("torch-2.15.0.dist-info/METADATA", metadata)
        for name, data in libraries.items():
            archive.writestr(name, data)
    return path


def test_a_wheel_read_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = wheel(
        tmp_path / "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        {
            "torch/lib/libtorch_cuda.so": elf(
                {".nv_fatbin": container(entry(2, 120), entry(2, 80))}
            ),
            "torch/lib/libc10.so": elf({".text": b"\x90" * 8}),
            "torch/lib/libnvshmem.so.3": elf({".nv_fatbin": container(entry(2, 90))}),
            "torch/__init__.py": b"",
        },
    )
    found = read_wheel(path)
    assert (found.name, found.version, found.requires_python) == ("torch", "2.15.0", ">=3.11")
    assert found.cuda_requires == ('cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"',)
    assert found.libraries == (
        Library(member="torch/lib/libtorch_cuda.so", sass=((8, 0), (12, 0)), ptx=()),
        Library(member="torch/lib/libnvshmem.so.3", sass=((9, 0),), ptx=()),
    )
    assert found.main == found.libraries[0]
    assert main([str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["sass"], printed["ptx"]) == (["8.0", "12.0"], [])  # libtorch_cuda.so's
    assert printed["libraries"][1] == {
        "member": "torch/lib/libnvshmem.so.3",
        "sass": ["9.0"],
        "ptx": [],
    }


def test_not_a_wheel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.whl"
    path.write_bytes(b"not a zip")
    assert main([str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"ERROR: {path}: not a wheel (")
