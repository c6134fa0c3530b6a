"""The probe that ``gen-constraints verify`` runs IN THE TARGET interpreter (``python -I``).

Standard library only, and written for any CPython the profiles target (3.8 and newer): it is
never imported by constraints_gen, only copied as text into a private folder and run there.

Its channel is its own: it reads one JSON request on stdin (``folder``, ``nonce`` and the stage's
fields), appends a line per step to ``folder/steps`` (so a crash, a segfaulting extension, can be
traced to the step that caused it), and writes one JSON object, carrying the nonce, to
``folder/result.json`` (written beside it and renamed, so it is whole or absent). The target's
stdout and stderr are only diagnostics: a package that prints at import, or writes bytes to fd 1,
cannot change the answer. The channel guards against accidents and crashes; code that runs in the
target on purpose owns the environment anyway.

``{"stage": "installed", "names": [...], "deep": true}``: for each installed distribution with one
of those (canonical) names: its METADATA ``Name`` and ``Version`` (the raw string), its
``.dist-info`` folder, ``top_level.txt``, the first component of each RECORD path, and with
``deep`` each RECORD line that is malformed, or names a file that is missing, not a regular file
inside the environment's prefix, or whose size or hash differs. Reads are bounded: RECORD by
:data:`RECORD_LIMIT`, each file by its recorded size.

With ``"trusted": [...]`` (``.dist-info`` folders the last verify found intact and nothing has
changed since: ``constraints_gen.install.state``) those are read but not hashed. Each hashed
distribution also reports what it was checked at (``seen``): the identity of RECORD and of each
file (device, inode, size, mtime and ctime in ns, taken from the open file before it is read),
and of each folder that holds them, with a digest of its listing (taken before any file in it is
read); the answer's ``paths`` hold the same for each folder of ``sys.path``, and each ``.pth``
file in it, taken first.

``{"stage": "runtime", "imports": [...], "gpu": "amd"}``: the error of each import (null: it
imported), and with ``gpu`` (a profile's vendor) what torch says about its build and each GPU of
that vendor it sees (CUDA, ROCm, XPU or MPS), after one tiny operation on each.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib
import json
import os
import re
import stat
import sys
import sysconfig
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

#: A RECORD longer than this is not read (torch's is about 2 MB).
RECORD_LIMIT = 64 << 20
#: Hash names a RECORD may use: the wheel spec (PEP 427/PyPA binary distribution format) forbids
#: md5 and sha1; shake digests have no fixed length.
_HASHES = ("sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
           "blake2b", "blake2s")  # fmt: skip
_B64 = re.compile(r"^[A-Za-z0-9_-]*$")
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)
_STEPS = [-1]  # the fd of folder/steps


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return type(exc).__name__ + (": " + text[0] if text else "")


def _step(text: str) -> None:
    if _STEPS[0] >= 0:
        os.write(_STEPS[0], (text + "\n").encode("utf-8", "replace"))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def _inside(path: str, root: str) -> bool:
    path, root = os.path.normcase(path), os.path.normcase(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _ident(info: Any) -> list[int]:
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def listing(folder: str) -> str:
    """A digest of the names in ``folder``, ``__pycache__`` left out (an import writes it; the
    same rule as ``constraints_gen.install.state.listing``)."""
    names = sorted(name for name in os.listdir(folder) if name != "__pycache__")
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def folder_seen(folder: str, follow: bool = False) -> list[Any]:
    """[folder, identity or None, listing digest or None]: taken before its files are read; of
    the link itself unless ``follow`` (a folder of sys.path): a package's folder swapped for a
    symlink has another identity."""
    try:
        info = os.stat(folder) if follow else os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode):
            return [folder, _ident(info), None]
        return [folder, _ident(info), listing(folder)]
    except OSError:
        return [folder, None, None]


def paths_seen() -> list[Any]:
    """Each folder of sys.path as :func:`folder_seen`, with the identity of each ``.pth`` in it
    (site runs them at start-up; no RECORD need list them)."""
    seen = []
    for entry in sys.path:
        folder = os.path.normpath(os.path.abspath(entry or "."))
        pth: list[Any] = []
        try:
            for name in sorted(os.listdir(folder)):
                if name.endswith(".pth"):
                    try:
                        pth.append([name, _ident(os.stat(os.path.join(folder, name)))])
                    except OSError:
                        pth.append([name, None])
        except OSError:
            pass
        seen.append([*folder_seen(folder, follow=True), pth])
    return seen


def _read_into(fd: int, limit: int, sink: Any) -> bool:
    """Feed at most ``limit`` bytes of ``fd`` to ``sink`` (1 MiB at a time); False when it holds
    more (one byte past the limit is read to know, never more)."""
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        left -= len(chunk)
        if left <= 0:
            return False
        sink(chunk)
    return True


def _read_bounded(fd: int, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``fd``; None when it holds more."""
    chunks: list[bytes] = []
    return b"".join(chunks) if _read_into(fd, limit, chunks.append) else None


def _parse_line(number: int, text: str) -> dict[str, Any]:
    """One RECORD line: ``{"line", "path", "hash", "size"}`` or ``{"line", "text", "error"}``."""
    bad = {"line": number, "text": text[:200]}
    try:
        rows = list(csv.reader([text]))
    except csv.Error as exc:
        return dict(bad, error="not a CSV row: " + str(exc))
    row = rows[0] if rows else []
    if len(row) != 3:
        return dict(bad, error=f"expected 3 columns (path,hash,size), found {len(row)}")
    path, spec, size = row
    if not path or "\x00" in path:
        return dict(bad, error="no path" if not path else "a NUL byte in the path")
    algorithm, value = None, None
    if spec:
        algorithm, _, value = spec.partition("=")
        if algorithm not in _HASHES:
            why = (
                "expected sha256=<urlsafe base64> (or another of at least 224 bits; not md5, sha1)"
            )
            return dict(bad, error=f"hash {spec[:40]!r}: {why}")
        want = (hashlib.new(algorithm).digest_size * 4 + 2) // 3
        if len(value) != want or not _B64.match(value):
            why = f"expected {want} characters of urlsafe base64 without padding"
            return dict(bad, error=f"hash {spec[:80]!r}: {why}")
    if size and not (size.isascii() and size.isdigit()):
        return dict(bad, error=f"size {size[:40]!r} is not a number of bytes")
    return {"line": number, "path": path, "hash": algorithm, "value": value,
            "size": int(size) if size else None}  # fmt: skip


def read_record(
    folder: str, seen: list[Any] | None = None
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(the lines of ``folder/RECORD``, or None when there is none; why it cannot be read); its
    identity, taken before it is read, is appended to ``seen``."""
    path = os.path.join(folder, "RECORD")
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return [], f"a symlink to {os.readlink(path)}, not a regular file"
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return [], _error(exc)
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if not stat.S_ISREG(mode):
            return [], _kind(mode) + ", not a regular file"
        if seen is not None:
            seen.append(_ident(info))
        data = _read_bounded(fd, RECORD_LIMIT)
    except OSError as exc:
        return [], _error(exc)
    finally:
        os.close(fd)
    if data is None:
        return [], f"larger than {RECORD_LIMIT} bytes"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], f"line {line} is not UTF-8"
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [_parse_line(n, line.rstrip("\r")) for n, line in enumerate(lines, 1)], None


def check_file(
    base: str, root: str, line: dict[str, Any], seen: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """None when the file of a RECORD line is a regular file inside ``root`` with the recorded
    size and hash; else what differs. Reads at most the recorded size (plus one byte); the
    identity of the open file, taken before it is read, goes to ``seen[path]``."""
    path, size = line["path"], line["size"]
    problem = {"path": path, "line": line["line"], "expected": None, "actual": None}
    full = os.path.normpath(os.path.join(base, path))
    if not _inside(full, root):
        return dict(problem, problem="outside", expected=root, actual=full)
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return dict(problem, problem="missing")
    except OSError as exc:
        return dict(problem, problem="unreadable", actual=_error(exc))
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(full)
        except OSError as exc:
            target = _error(exc)
        return dict(problem, problem="symlink", actual=target)
    if not stat.S_ISREG(info.st_mode):
        return dict(problem, problem="special", actual=_kind(info.st_mode))
    real = os.path.realpath(full)
    if not _inside(real, os.path.realpath(root)):
        return dict(problem, problem="outside", expected=root, actual=real)
    if size is not None and info.st_size != size:
        return dict(problem, problem="size", expected=size, actual=info.st_size)
    digest = hashlib.new(line["hash"])
    try:
        fd = os.open(full, _FLAGS)
        try:
            opened = os.fstat(fd)
            mode = opened.st_mode
            if not stat.S_ISREG(mode):  # swapped since lstat
                return dict(problem, problem="special", actual=_kind(mode))
            if seen is not None:
                seen[path] = _ident(opened)
            limit = info.st_size if size is None else size
            whole = _read_into(fd, limit, digest.update)  # hashlib frees the GIL on 1 MiB
        finally:
            os.close(fd)
    except OSError as exc:
        return dict(problem, problem="unreadable", actual=_error(exc))
    if not whole:
        return dict(problem, problem="larger", expected=limit)
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    if actual != line["value"]:
        return dict(problem, problem="hash", expected=line["value"], actual=actual)
    return None


def prefix_of(folder: str) -> str:
    """The environment prefix that holds a .dist-info ``folder``: the innermost of the venv's, its
    base's (system site-packages) and the install scheme's ``data`` root (where a system Python
    installs beside its prefix, as Homebrew's does); the folder that holds it when it is in none."""
    prefixes = {
        os.path.normpath(os.path.abspath(p))
        for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  sysconfig.get_path("data"))
        if p
    }  # fmt: skip
    holding = [p for p in prefixes if _inside(folder, p)]
    return max(holding, key=len) if holding else os.path.dirname(folder)


def check_record(
    folder: str, lines: list[dict[str, Any]], pool: Any, seen: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The RECORD check of one distribution: each malformed line, and each file that differs.
    With ``seen``: ``seen["files"]`` gets each file's identity, ``seen["folders"]`` each folder
    that holds one (:func:`folder_seen`, taken first)."""
    base = os.path.dirname(folder)
    root = prefix_of(folder)
    files: dict[str, Any] = {}
    if seen is not None:
        folders = {os.path.normpath(folder)}
        top = os.path.normpath(base)
        for line in lines:
            if line.get("hash"):
                full = os.path.normpath(os.path.join(base, line["path"]))
                parent = os.path.dirname(full)
                while _inside(parent, top) and parent != top and parent not in folders:
                    folders.add(parent)  # each folder up to base: none may become a symlink
                    parent = os.path.dirname(parent)
        seen["folders"] = [folder_seen(f) for f in sorted(folders)]
        seen["files"] = files
    malformed = [
        {"path": line["text"], "line": line["line"], "problem": "record", "expected": line["error"],
         "actual": None}
        for line in lines if "error" in line
    ]  # fmt: skip
    hashed = [line for line in lines if line.get("hash")]
    results = pool.map(
        check_file, [base] * len(hashed), [root] * len(hashed), hashed, [files] * len(hashed)
    )
    return malformed + [result for result in results if result is not None]


def read_distribution(dist: Any, where: str, deep: bool, pool: Any) -> dict[str, Any]:
    """One installed distribution (its ``.dist-info`` folder ``where``): name, version, top-level
    names, and with ``deep`` the RECORD check of its files and what it was checked at."""
    record_seen: list[Any] = []
    lines, unreadable = read_record(where, record_seen)
    top_level = dist.read_text("top_level.txt")
    roots = set()
    for line in lines or ():
        parts = line.get("path", "").split("/")
        if parts[0] and parts[0] not in ("..", "__pycache__") and ".dist-info" not in parts[0]:
            roots.add(parts[0] + ("/" if len(parts) > 1 else ""))
    record: dict[str, Any] = {
        "name": _canonical(dist.metadata["Name"]),
        "version": dist.version,
        "location": where,
        "top_level": None if top_level is None else top_level.split(),
        "roots": sorted(roots),
        "record": lines is not None,
        "checked": 0,
        "bad": [],
        "seen": None,
    }
    if deep and unreadable is not None:
        record["checked"] = 1
        record["bad"] = [
            {
                "path": os.path.basename(where) + "/RECORD",
                "line": None,
                "problem": "unreadable",
                "expected": None,
                "actual": unreadable,
            }
        ]
    elif deep and lines:
        record["checked"] = sum(1 for line in lines if line.get("hash") or "error" in line)
        seen: dict[str, Any] = {"record": record_seen[0] if record_seen else None}
        record["bad"] = check_record(where, lines, pool, seen)
        record["seen"] = seen
    return record  # fmt: skip


def installed(names: list[str], deep: bool, trusted: list[str]) -> dict[str, Any]:
    paths = paths_seen() if deep else None  # before any distribution is looked for
    skip = set(trusted)
    wanted = set(names)
    seen = set()
    found = []
    pool = ThreadPoolExecutor(max_workers=8)  # hashlib releases the GIL on large buffers
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name is None or _canonical(name) not in wanted:
            continue
        folder = str(getattr(dist, "_path", "") or dist.locate_file(""))
        where = os.path.normpath(os.path.abspath(folder))
        if os.path.realpath(where) in seen:  # the same folder twice on sys.path
            continue
        seen.add(os.path.realpath(where))
        _step("reading " + name)
        found.append(read_distribution(dist, where, deep and where not in skip, pool))
    pool.shutdown()
    return {"python": sys.version.split()[0], "prefix": sys.prefix, "paths": paths,
            "distributions": found}  # fmt: skip


#: The variables that hide GPUs from each vendor's runtime (CUDA; ROCm honours all three; oneAPI
#: Level Zero and SYCL).
_VISIBLE = {
    "nvidia": ("CUDA_VISIBLE_DEVICES",),
    "jetson": ("CUDA_VISIBLE_DEVICES",),
    "amd": ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
    "intel": ("ZE_AFFINITY_MASK", "ONEAPI_DEVICE_SELECTOR"),
    "apple": (),
}


def _tiny_operation(torch: Any, device: str) -> str | None:
    """None when ``ones(4) + 1`` sums to 8 on ``device``, else the error."""
    try:
        value = float((torch.ones(4, device=device) + 1).sum().item())
        return None if value == 8.0 else f"ones(4) + 1 summed to {value}"
    except BaseException as exc:
        return _error(exc)


def _devices(torch: Any, vendor: str) -> list[dict[str, Any]]:
    """Each device torch sees, after one tiny operation on it."""
    if vendor == "apple":
        _step("running a tiny operation on mps")
        error = _tiny_operation(torch, "mps")
        if error is None:
            torch.mps.synchronize()
        return [{"index": 0, "name": "mps", "capability": None, "gfx": None, "op_error": error}]
    module, kind = (torch.xpu, "xpu") if vendor == "intel" else (torch.cuda, "cuda")
    devices = []
    for index in range(module.device_count()):
        name = str(module.get_device_name(index))
        device = {"index": index, "name": name, "capability": None, "gfx": None}
        if vendor == "amd":  # "gfx90a:sramecc+:xnack-": the target, then its features
            arch = getattr(module.get_device_properties(index), "gcnArchName", None)
            device["gfx"] = None if arch is None else str(arch).split(":")[0]
        elif kind == "cuda":
            major, minor = module.get_device_capability(index)
            device["capability"] = [int(major), int(minor)]
        _step(f"running a tiny operation on {kind}:{index} {name}")
        device["op_error"] = _tiny_operation(torch, f"{kind}:{index}")
        if device["op_error"] is None:
            try:
                module.synchronize(index)
            except BaseException as exc:
                device["op_error"] = _error(exc)
        devices.append(device)
    return devices


def gpu_probe(vendor: str) -> dict[str, Any]:
    """What torch says about its build and the GPUs of ``vendor`` (a profile's vendor: nvidia,
    jetson, amd, intel, apple), after one tiny operation on each."""
    _step("importing torch")
    try:
        import torch  # type: ignore[import-not-found]
    except BaseException as exc:
        return {"error": _error(exc)}
    try:
        version = getattr(torch, "version", None)
        info: dict[str, Any] = {
            "version": str(torch.__version__),
            "cuda": getattr(version, "cuda", None),
            "hip": getattr(version, "hip", None),
            "rocm": getattr(version, "rocm", None),
            "built": True,
            "visible_devices": [[name, os.environ.get(name)] for name in _VISIBLE[vendor]],
        }
        for key in ("cuda", "hip", "rocm"):
            info[key] = None if info[key] is None else str(info[key])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if vendor == "apple":
                info["built"] = bool(torch.backends.mps.is_built())
                info["available"] = bool(torch.backends.mps.is_available())
            elif vendor == "intel":
                info["available"] = bool(torch.xpu.is_available())
            else:
                info["available"] = bool(torch.cuda.is_available())
        info["warnings"] = [str(warning.message).strip() for warning in caught]
        arch_list = torch.cuda.get_arch_list() if vendor in ("nvidia", "jetson", "amd") else []
        info["arch_list"] = [str(arch) for arch in arch_list]
        info["devices"] = _devices(torch, vendor) if info["available"] else []
    except BaseException as exc:
        return {"error": _error(exc)}
    return info


def import_probe(imports: list[str]) -> list[dict[str, Any]]:
    """The error of each import (None: it imported)."""
    results = []
    for module in imports:
        _step("importing " + module)
        try:
            importlib.import_module(module)
            results.append({"module": module, "error": None})
        except BaseException as exc:
            results.append({"module": module, "error": _error(exc)})
    return results


def runtime(imports: list[str], gpu: str | None) -> dict[str, Any]:
    return {"imports": import_probe(imports), "torch": gpu_probe(gpu) if gpu else None}


def _write_result(folder: str, answer: dict[str, Any]) -> None:
    part = os.path.join(folder, "result.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(json.dumps(answer).encode("utf-8"))
    os.replace(part, os.path.join(folder, "result.json"))


def main() -> None:
    request = json.loads(sys.stdin.read())
    folder = request["folder"]
    _STEPS[0] = os.open(
        os.path.join(folder, "steps"),
        os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0),
        0o600,
    )
    if request["stage"] == "installed":
        answer = installed(request["names"], request["deep"], request.get("trusted", []))
    else:
        answer = runtime(request["imports"], request["gpu"])
    answer["nonce"] = request["nonce"]
    _step("writing the result")
    _write_result(folder, answer)


if __name__ == "__main__":
    main()
