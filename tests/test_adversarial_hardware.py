"""Hostile hardware readouts (issue 9): each is one line in CASES, run as users run the tool.

Every case runs ``gen-constraints --hardware FILE`` (or ``$GEN_CONSTRAINTS_HARDWARE``) in a real
process and asserts the exit code, that the message names the file (or variable) and the key,
and that no traceback is printed. The 10,000-GPU cases bound time by the subprocess timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import REPO

ENV = "GEN_CONSTRAINTS_HARDWARE"


def machine(*gpus: dict[str, Any], **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"driver_version": "580.159.04", "cuda_driver_version": "13.0"}
    return {**data, "gpus": list(gpus), **top}


def gpu(index: int = 0, **changes: Any) -> dict[str, Any]:
    return {"index": index, "name": "NVIDIA H200", "compute_capability": "9.0", **changes}


def js(data: Any) -> bytes:
    return json.dumps(data).encode()


VALID = json.dumps(machine(gpu(uuid="GPU-1")))
MANY = [gpu(i, uuid=f"GPU-{i}") for i in range(10_000)]


class Case(NamedTuple):
    content: bytes
    exit: int
    message: str  # on stderr after "<file>: " (exit 2), or on stdout (exit 0)
    via: str = "file"  # or "env": the JSON text in $GEN_CONSTRAINTS_HARDWARE


CASES: dict[str, Case] = {
    # Encoding
    "utf8-bom": Case(b"\xef\xbb\xbf" + VALID.encode(), 2, "starts with a UTF-8 byte order mark"),
    "utf16-bom": Case(VALID.encode("utf-16"), 2, "starts with a UTF-16 byte order mark"),
    "utf16-no-bom": Case(VALID.encode("utf-16-le"), 2, "byte 1: a NUL byte (UTF-16 or UTF-32"),
    "utf32-no-bom": Case(VALID.encode("utf-32-be"), 2, "byte 0: a NUL byte (UTF-16 or UTF-32"),
    "utf32-bom": Case(VALID.encode("utf-32"), 2, "starts with a UTF-32 byte order mark"),
    "latin1": Case(VALID.replace("H200", "H200 Caf\u00e9").encode("latin-1"), 2, "not UTF-8"),
    "binary": Case(bytes(range(256)), 2, "byte 0: a NUL byte"),
    "binary-no-nul": Case(bytes(range(1, 256)), 2, "byte 127: not UTF-8"),
    "empty": Case(b"", 2, "line 1 column 1: invalid JSON: Expecting value"),
    # Depth and size
    "deep-arrays": Case(b"[" * 100_000 + b"]" * 100_000, 2, "invalid JSON: nested too deeply"),
    "deep-objects": Case(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 2, "nested too deeply"),
    "deep-in-gpus": Case(
        b'{"driver_version":null,"cuda_driver_version":null,"gpus":' + b"[" * 50_000, 2, "nested"
    ),
    "deep-env": Case(b"[" * 100_000, 2, "invalid JSON: nested too deeply", via="env"),
    "5000-digits": Case(VALID[:-1].encode() + b', "x": ' + b"9" * 5000 + b"}", 2, "4300 digits"),
    "10000-gpus": Case(js(machine(*MANY)), 0, "torch==2.15.0 "),
    "10000-same-index": Case(
        js(machine(*[gpu(0) for _ in range(10_000)])), 2, "... and 9949 more problems"
    ),
    "long-name": Case(js(machine(gpu(name="A" * 10_000))), 2, "gpus[0].name: expected printable"),
    # Values accepted before that should not be
    "negative-memory": Case(
        js(machine(gpu(memory_mib=-1))),
        2,
        "gpus[0].memory_mib: expected a non-negative integer or null, got -1",
    ),
    "nan-memory": Case(
        b'{"driver_version": "580.159.04", "cuda_driver_version": "13.0", "gpus": [{"index": 0,'
        b' "name": "H200", "compute_capability": "9.0", "memory_mib": NaN}]}',
        2,
        "gpus[0].memory_mib: expected an integer or null, got nan",
    ),
    "duplicate-index": Case(
        js(machine(gpu(0), gpu(0, name="B"))),
        2,
        "gpus[1].index: expected a unique index (0 is also gpus[0])",
    ),
    "duplicate-uuid": Case(
        js(machine(gpu(0, uuid="GPU-a"), gpu(1, uuid="GPU-a"))),
        2,
        "gpus[1].uuid: expected a unique UUID ('GPU-a' is also gpus[0])",
    ),
    "duplicate-env": Case(
        js(machine(gpu(0), gpu(0))), 2, "gpus[1].index: expected a unique index", via="env"
    ),
    "escape-in-name": Case(
        js(machine(gpu(name="\x1b[31mH200"))), 2, "gpus[0].name: expected printable text"
    ),
    "lone-surrogate": Case(
        VALID.replace("H200", "\\ud800").encode(), 2, "gpus[0].name: expected printable text"
    ),
    "top-level-array": Case(b"[1, 2]", 2, "expected a JSON object at the top level"),
    "platform-string": Case(
        js(machine(gpu(), platform="linux")),
        2,
        "platform: expected an object with system and machine, got 'linux'",
    ),
    "apple-on-linux": Case(
        js(machine({"index": 0, "vendor": "apple", "name": "M3"})),
        2,
        'gpus[0].vendor: expected "apple" only on platform darwin aarch64',
    ),
    "four-part-driver": Case(
        js(machine(gpu(), driver_version="580.1.2.3")),
        2,
        "driver_version: expected a driver version string",
    ),
    "beta-driver": Case(
        js(machine(gpu(), driver_version="580.159.04-beta")),
        2,
        "driver_version: expected a driver version string",
    ),
}


def gen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.run(
        [sys.executable, "-m", "constraints_gen", *args],
        cwd=REPO,
        env={**full_env, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,  # the bound on time: a hang or a quadratic check fails here
    )


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_hardware_readout(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    if case.via == "env":
        done = gen("--python", "3.11", env={ENV: case.content.decode()})
        where = f"${ENV}"
    else:
        path = tmp_path / "hw.json"
        path.write_bytes(case.content)
        done = gen("--hardware", str(path), "--python", "3.11")
        where = str(path)
    assert "Traceback" not in done.stderr and "BUG" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == case.exit, done.stderr[-2000:]
    if case.exit == 0:
        assert case.message in done.stdout
        return
    assert done.stdout == ""
    assert done.stderr.startswith("ERROR: ")
    assert f"{where}: " in done.stderr
    assert case.message in done.stderr, done.stderr[-2000:]


def test_a_folder_as_the_hardware_file(tmp_path: Path) -> None:
    done = gen("--hardware", str(tmp_path), "--python", "3.11")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"'--hardware': File '{tmp_path}' is a directory" in done.stderr
