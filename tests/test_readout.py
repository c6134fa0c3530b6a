"""Reading the probe's answer: only a whole JSON object of this run, of the probe's shape."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from constraints_gen.install import readout
from constraints_gen.install.gpucheck import parse_torch
from constraints_gen.install.readout import Malformed, Node, read_answer
from constraints_gen.install.verify import parse_installed

NONCE = "ab" * 16
DIST = {
    "name": "peft",
    "version": "0.13.2",
    "location": "/venv/lib/site-packages/peft-0.13.2.dist-info",
    "top_level": None,
    "roots": ["peft/"],
    "record": True,
    "checked": 6,
    "bad": [{"path": "x", "line": 7, "problem": "missing", "expected": None, "actual": None}],
}


def test_an_answer_of_this_run_is_read(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"nonce": NONCE, "distributions": [DIST]}))
    answer, problem = read_answer(path, NONCE)
    assert problem is None and answer is not None
    (dist,) = parse_installed(answer)
    assert (dist.name, dist.version, dist.checked, dist.bad[0].line) == ("peft", "0.13.2", 6, 7)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "wrote no result"),
        (b'{"nonce": "' + NONCE.encode() + b'", "distributions": [', "left a result that is not"
         " JSON (cut short or written by another program)"),
        (b"\xff\xfe", "left a result that is not JSON (cut short or written by another program)"),
        (b"[1, 2]", "left a result that is not a JSON object but list"),
        (json.dumps({"nonce": "cd" * 16}).encode(), "left a result that is not this run's (its"
         " nonce differs)"),
        (b"{}", "left a result that is not this run's (its nonce differs)"),
    ],
    ids=["absent", "cut", "not-utf8", "list", "other-nonce", "no-nonce"],
)  # fmt: skip
def test_no_answer_unless_whole_and_ours(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_bytes(content)
    assert read_answer(path, NONCE) == (None, problem)


def test_a_result_that_is_not_a_regular_file_or_too_large_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "result.json"
    os.mkfifo(path)  # opening it for reading would wait for a writer
    why = f"left a result that is not a regular file of at most {readout.ANSWER_LIMIT} bytes"
    assert read_answer(path, NONCE) == (None, why)
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"nonce": NONCE}))
    assert read_answer(path, NONCE) == (None, why)
    path.unlink()
    monkeypatch.setattr(readout, "ANSWER_LIMIT", 20)
    path.write_text(json.dumps({"nonce": NONCE}))
    assert read_answer(path, NONCE) == (
        None,
        "left a result that is not a regular file of at most 20 bytes",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"version": 13}, "answer.distributions[0].version: expected a string, got int"),
        ({"checked": True}, "answer.distributions[0].checked: expected an integer, got bool"),
        ({"roots": "peft/"}, "answer.distributions[0].roots: expected an array, got str"),
        ({"record": None}, "answer.distributions[0].record: expected true or false, got NoneType"),
        ({"bad": [{}]}, "answer.distributions[0].bad[0].path: missing"),
        ({"bad": [{"path": "x", "line": "7", "problem": "missing", "expected": None,
                   "actual": None}]},
         "answer.distributions[0].bad[0].line: expected an integer, got str"),
    ],
)  # fmt: skip
def test_a_malformed_answer_names_the_key(edit: dict[str, object], message: str) -> None:
    with pytest.raises(Malformed) as info:
        parse_installed(Node({"nonce": NONCE, "distributions": [{**DIST, **edit}]}))
    assert str(info.value) == message
    with pytest.raises(Malformed, match=r"^answer\.distributions: missing$"):
        parse_installed(Node({"nonce": NONCE}))
    with pytest.raises(Malformed, match=r"^answer: expected an object, got list$"):
        parse_installed(Node([]))


def test_a_malformed_torch_answer_names_the_key() -> None:
    torch = {
        "version": "2.5.1",
        "cuda": "12.1",
        "available": True,
        "warnings": [],
        "arch_list": ["sm_90"],
        "devices": [{"index": 0, "name": "H200", "capability": [9], "op_error": None}],
        "visible_devices": None,
    }
    with pytest.raises(Malformed, match=r"^torch\.devices\[0\]\.capability: expected"):
        parse_torch(Node(torch, "torch"))
