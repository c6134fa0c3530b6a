"""The probe that ``gen-constraints verify`` runs IN THE TARGET interpreter (``python -I -c``).

Standard library only, and written for any CPython the profiles target (3.8 and newer): it is
never imported by constraints_gen, only read as text and run. It takes one JSON argument and
prints one JSON object on stdout; a progress line per step goes to stderr, so a crash (a
segfaulting extension) can be traced to the step that caused it.

``{"stage": "installed", "names": [...], "deep": true}``: for each installed distribution with one
of those (canonical) names: its METADATA ``Name`` and ``Version`` (the raw string), its
``.dist-info`` folder, ``top_level.txt``, the first component of each RECORD path, and with
``deep`` every file of its RECORD that is missing or whose size or hash differs.

``{"stage": "runtime", "imports": [...], "gpu": true}``: the error of each import (null: it
imported), and with ``gpu`` what torch says about its build and each GPU it sees, after one tiny
operation on each.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return type(exc).__name__ + (": " + text[0] if text else "")


def _step(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _check_file(dist: Any, entry: Any) -> dict[str, Any] | None:
    """None when the file matches its RECORD line, else what differs."""
    path = str(entry)
    full = dist.locate_file(entry)
    mode, expected = entry.hash.mode, entry.hash.value
    try:
        size = os.stat(full).st_size
    except OSError:
        return {"path": path, "problem": "missing"}
    if entry.size is not None and size != entry.size:
        return {"path": path, "problem": "size", "expected": entry.size, "actual": size}
    try:
        digest = hashlib.new(mode)
    except ValueError:
        return {"path": path, "problem": "hash", "expected": mode + "=" + expected, "actual": None}
    try:
        with open(full, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        return {"path": path, "problem": "unreadable", "expected": None, "actual": _error(exc)}
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    if actual != expected:
        return {"path": path, "problem": "hash", "expected": expected, "actual": actual}
    return None


def installed(names: list[str], deep: bool) -> dict[str, Any]:
    wanted = set(names)
    seen = set()
    found = []
    pool = ThreadPoolExecutor(max_workers=8)  # hashlib releases the GIL on large buffers
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name is None or _canonical(name) not in wanted:
            continue
        where = str(getattr(dist, "_path", "") or dist.locate_file(""))
        if os.path.realpath(where) in seen:  # the same folder twice on sys.path
            continue
        seen.add(os.path.realpath(where))
        _step("reading " + name)
        files = dist.files
        top_level = dist.read_text("top_level.txt")
        roots = set()
        for entry in files or ():
            parts = entry.parts
            if parts and parts[0] not in ("..", "__pycache__") and ".dist-info" not in parts[0]:
                roots.add(parts[0] + ("/" if len(parts) > 1 else ""))
        record: dict[str, Any] = {
            "name": _canonical(name),
            "version": dist.version,
            "location": where,
            "top_level": None if top_level is None else top_level.split(),
            "roots": sorted(roots),
            "record": files is not None,
            "checked": 0,
            "bad": [],
        }
        if deep and files is not None:
            hashed = [entry for entry in files if entry.hash is not None]
            results = pool.map(_check_file, [dist] * len(hashed), hashed)
            record["checked"] = len(hashed)
            record["bad"] = [result for result in results if result is not None]
        found.append(record)
    pool.shutdown()
    return {"python": sys.version.split()[0], "prefix": sys.prefix, "distributions": found}


def _torch() -> dict[str, Any]:
    _step("importing torch")
    try:
        import torch  # type: ignore[import-not-found]
    except BaseException as exc:
        return {"error": _error(exc)}
    try:
        info: dict[str, Any] = {
            "version": str(torch.__version__),
            "cuda": torch.version.cuda,
            "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info["available"] = bool(torch.cuda.is_available())
        info["warnings"] = [str(warning.message).strip() for warning in caught]
        info["arch_list"] = [str(arch) for arch in torch.cuda.get_arch_list()]
        devices = []
        for index in range(torch.cuda.device_count() if info["available"] else 0):
            name = str(torch.cuda.get_device_name(index))
            major, minor = torch.cuda.get_device_capability(index)
            device = {"index": index, "name": name, "capability": [int(major), int(minor)]}
            _step(f"running a tiny operation on GPU {index} {name}")
            try:
                value = float((torch.ones(4, device=f"cuda:{index}") + 1).sum().item())
                torch.cuda.synchronize(index)
                device["op_error"] = None if value == 8.0 else f"ones(4) + 1 summed to {value}"
            except BaseException as exc:
                device["op_error"] = _error(exc)
            devices.append(device)
        info["devices"] = devices
    except BaseException as exc:
        return {"error": _error(exc)}
    return info


def runtime(imports: list[str], gpu: bool) -> dict[str, Any]:
    results = []
    for module in imports:
        _step("importing " + module)
        try:
            importlib.import_module(module)
            results.append({"module": module, "error": None})
        except BaseException as exc:
            results.append({"module": module, "error": _error(exc)})
    return {"imports": results, "torch": _torch() if gpu else None}


def main() -> None:
    request = json.loads(sys.argv[1])
    if request["stage"] == "installed":
        answer = installed(request["names"], request["deep"])
    else:
        answer = runtime(request["imports"], request["gpu"])
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
