"""Part files: a download goes to ``.<name>.part`` beside its target, locked against other runs,
resumed by the next run when one is cut off, and renamed into place only once its sha256 is one
the lock allows (:meth:`constraints_gen.install.download.Client.download`)."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import urllib.request
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from constraints_gen.errors import FetchError
from constraints_gen.fsutil import _lock, _try_lock, _unlock
from constraints_gen.install.progress import Progress

PART_SUFFIX = ".part"


class Part:
    """The open part file with the running hash of what it holds."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        handle.seek(0)
        while chunk := handle.read(1 << 20):
            self.digest.update(chunk)
        self.size = handle.tell()
        self.resumed = self.size > 0

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.sha256()
        self.size = 0
        self.resumed = False

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


def copy_local(
    url: str, handle: IO[bytes], expected: Collection[str], progress: Progress, name: str
) -> tuple[str, int]:
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    digest = hashlib.sha256()
    handle.seek(0)
    handle.truncate()
    try:
        with source.open("rb") as src:
            progress.started(name, source.stat().st_size, 0)
            while chunk := src.read(1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                progress.advanced(name, len(chunk))
    except OSError as exc:
        raise FetchError(f"{name}: cannot read {source} ({exc.strerror or exc})") from None
    got = digest.hexdigest()
    if got not in expected:
        want = ", ".join(f"sha256:{h}" for h in sorted(expected))
        raise FetchError(
            f"{name}: hash mismatch, file discarded: expected {want} (from the lock),"
            f" got sha256:{got} (copied from {source})"
        )
    return got, handle.tell()


def part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{PART_SUFFIX}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _same_file(handle: IO[bytes], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextmanager
def locked_part(target: Path) -> Iterator[IO[bytes]]:
    """The part file of ``target``, opened for appending and locked against other runs (the
    operating system drops the lock when a run dies, so a killed run never blocks the next)."""
    part = part_path(target)
    while True:
        handle = part.open("a+b", buffering=0)  # what arrived is on disk for a resume
        try:
            if not _try_lock(handle):
                _lock(handle)  # another run downloads it: wait, then reuse its result
            if _same_file(handle, part):
                break
            _unlock(handle)
        except BaseException:
            handle.close()
            raise
        handle.close()  # renamed or removed meanwhile: open the new one
    try:
        yield handle
    finally:
        try:
            if _same_file(handle, part):
                _unlock(handle)
        finally:
            handle.close()


def remove_part(target: Path, handle: IO[bytes]) -> None:
    part = part_path(target)
    if _same_file(handle, part):
        part.unlink(missing_ok=True)


def remove_stale_parts(folder: Path, keep: Collection[str] = ()) -> list[str]:
    """Remove ``.*.part`` files a killed run left in ``folder`` (except for the file names in
    ``keep``); parts another live run holds are left alone. Returns the removed names."""
    removed = []
    for part in sorted(folder.glob(f".*{PART_SUFFIX}")) if folder.is_dir() else []:
        if part.name[1 : -len(PART_SUFFIX)] in keep or not part.is_file():
            continue
        with part.open("a+b") as handle:
            if not _try_lock(handle):
                continue
            try:
                if _same_file(handle, part):
                    part.unlink(missing_ok=True)
                    removed.append(part.name)
            finally:
                _unlock(handle)
    return removed
