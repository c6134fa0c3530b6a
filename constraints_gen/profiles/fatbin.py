"""Which GPU architectures a wheel's CUDA libraries carry (the build table's ``archs_from``).

A CUDA library (ELF) keeps its device code in the ``.nv_fatbin`` section: one or more fat binary
containers, each a 16-byte header (magic ``0xBA55ED50``, version, header size, size of the entries)
followed by entries, each with its own header: kind (1 PTX, 2 ELF/SASS) at byte 0, header size
at byte 4, payload size at byte 8, and the ``sm`` architecture (``90`` for sm_90) at byte 28. The
layout is not a published ABI: it is the one CUDA's ``fatbinary_section.h`` declares for the
container header and the one cuobjdump lists per entry; anything that does not match is an error,
never a guess. torch's wheels keep that code in ``torch/lib/*.so`` (``libtorch_cuda.so`` above all).

Run on a wheel, for a row of ``profiles/builds/torch.toml``::

    python -m constraints_gen.profiles.fatbin torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl

Nothing here is imported by the other commands.
"""

from __future__ import annotations

import json
import mmap
import shutil
import struct
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from constraints_gen.errors import InputError

FATBIN_MAGIC = 0xBA55ED50
KINDS = {1: "ptx", 2: "sass"}
_SECTION = b".nv_fatbin"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    kind: str  # "sass" or "ptx"
    arch: tuple[int, int]  # (9, 0) for sm_90


#: The library whose kernels decide where torch runs; the others (linear algebra, NVSHMEM) add
#: kernels for some architectures only.
MAIN_LIBRARY = "torch/lib/libtorch_cuda.so"


@dataclass(frozen=True, slots=True, kw_only=True)
class Library:
    member: str  # its path inside the wheel
    sass: tuple[tuple[int, int], ...]
    ptx: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, object]:
        return {"member": self.member, "sass": _texts(self.sass), "ptx": _texts(self.ptx)}


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelArchs:
    name: str
    version: str
    requires_python: str | None
    cuda_requires: tuple[str, ...]  # the Requires-Dist lines that pin CUDA packages
    libraries: tuple[Library, ...]  # the members that carry a .nv_fatbin section

    @property
    def main(self) -> Library | None:
        return next((lib for lib in self.libraries if lib.member == MAIN_LIBRARY), None)

    def to_json(self) -> dict[str, object]:
        main = self.main
        return {
            "name": self.name,
            "version": self.version,
            "requires_python": self.requires_python,
            "cuda_requires": list(self.cuda_requires),
            "sass": None if main is None else _texts(main.sass),
            "ptx": None if main is None else _texts(main.ptx),
            "libraries": [lib.to_json() for lib in self.libraries],
        }


def _texts(archs: tuple[tuple[int, int], ...]) -> list[str]:
    return [f"{a[0]}.{a[1]}" for a in archs]


def _arch(sm: int) -> tuple[int, int]:
    return (sm // 10, sm % 10)


def elf_section(data: bytes | mmap.mmap, where: str, name: bytes = _SECTION) -> memoryview | None:
    """The named section of a little-endian ELF64 file, or None when it has none."""
    view = memoryview(data)
    if bytes(view[:4]) != b"\x7fELF":
        raise InputError([f"{where}: not an ELF file"])
    if view[4] != 2 or view[5] != 1:
        raise InputError([f"{where}: expected a little-endian ELF64 file"])
    (shoff,) = struct.unpack_from("<Q", view, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", view, 0x3A)
    if shnum == 0 or shentsize < 64 or shoff + shnum * shentsize > len(view):
        raise InputError([f"{where}: section headers outside the file"])

    def header(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        (name_at,) = struct.unpack_from("<I", view, base)
        offset, size = struct.unpack_from("<QQ", view, base + 24)
        return name_at, offset, size

    _, names_at, names_size = header(shstrndx)
    names = bytes(view[names_at : names_at + names_size])
    for i in range(shnum):
        name_at, offset, size = header(i)
        if names[name_at : names.find(b"\0", name_at)] == name:
            if offset + size > len(view):
                raise InputError([f"{where}: section {name.decode()} runs past the end"])
            return view[offset : offset + size]
    return None


def fatbin_entries(section: memoryview, where: str) -> Iterator[Entry]:
    """Every entry of every container in a ``.nv_fatbin`` section."""
    pos, end = 0, len(section)
    while pos + 16 <= end:
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", section, pos)
        if magic != FATBIN_MAGIC:
            if magic == 0:  # padding between containers
                pos += 8
                continue
            raise InputError([f"{where}: no fat binary header at byte {pos} of .nv_fatbin"])
        stop = pos + header_size + size
        if header_size < 16 or stop > end:
            raise InputError([f"{where}: fat binary at byte {pos} runs past its section"])
        at = pos + header_size
        while at < stop:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", section, at)
            (sm,) = struct.unpack_from("<I", section, at + 28)
            if kind not in KINDS or entry_header < 32 or at + entry_header + payload > stop:
                raise InputError([f"{where}: unreadable fat binary entry at byte {at}"])
            yield Entry(kind=KINDS[kind], arch=_arch(sm))
            at += entry_header + payload
        pos = stop


def library_entries(path: Path) -> tuple[Entry, ...]:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        section = elf_section(m, str(path))
        entries = () if section is None else tuple(fatbin_entries(section, str(path)))
        del section
        return entries


def read_wheel(wheel: Path) -> WheelArchs:
    """The architectures in every ``.so`` of ``wheel`` that has device code, and its METADATA."""
    where = str(wheel)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError([f"{where}: not a wheel ({exc})"]) from exc
    with archive, tempfile.TemporaryDirectory() as tmp:
        meta = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(meta) != 1:
            raise InputError([f"{where}: expected one .dist-info/METADATA"])
        headers = BytesHeaderParser().parsebytes(archive.read(meta[0]))
        libraries = list[Library]()
        for member in archive.namelist():
            if not (member.endswith(".so") or ".so." in member.rsplit("/", 1)[-1]):
                continue
            target = Path(tmp) / "lib.so"
            with archive.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 22)
            if target.stat().st_size == 0:
                continue
            entries = library_entries(target)
            if entries:
                sass = tuple(sorted({e.arch for e in entries if e.kind == "sass"}))
                ptx = tuple(sorted({e.arch for e in entries if e.kind == "ptx"}))
                libraries.append(Library(member=member, sass=sass, ptx=ptx))
        requires = headers.get_all("Requires-Dist") or []
        cuda = tuple(r for r in requires if r.lower().startswith(("cuda-", "nvidia-")))
        return WheelArchs(
            name=str(headers["Name"]),
            version=str(headers["Version"]),
            requires_python=headers["Requires-Python"],
            cuda_requires=cuda,
            libraries=tuple(libraries),
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m constraints_gen.profiles.fatbin WHEEL", file=sys.stderr)
        return 2
    try:
        found = read_wheel(Path(args[0]))
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(found.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
