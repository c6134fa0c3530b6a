"""Readouts as cluster tools print them: srun --label, ansible ad-hoc, plain streams, files."""

from __future__ import annotations

import json
from pathlib import Path

from constraints_gen.detect.readouts import Readout, read_bytes, read_paths, read_stream

DATA = Path(__file__).parent / "data" / "hardware"
H200 = json.loads((DATA / "h200-real.json").read_text())
CPU = json.loads((DATA / "cpu.json").read_text())


def pretty(data: object) -> str:
    """As `gen-constraints detect --json` prints it (indent 2)."""
    return json.dumps(data, indent=2)


def summary(readouts: list[Readout]) -> list[tuple[str, str | None, bool]]:
    return [(r.source, r.host, r.hardware is not None) for r in readouts]


def test_srun_label_output_is_regrouped_by_task() -> None:
    """srun writes each task's lines as they come: two readouts interleave line by line."""
    a, b = pretty(H200).splitlines(), pretty(CPU).splitlines()
    lines = []
    for position in range(max(len(a), len(b))):
        if position < len(a):
            lines.append(f" 0: {a[position]}")
        if position < len(b):
            lines.append(f"11: {b[position]}")
    found = read_stream("\n".join(lines) + "\n", "srun.log")
    assert summary(found) == [("srun.log:1", "task 0", True), ("srun.log:2", "task 11", True)]
    assert found[0].hardware is not None and found[0].hardware.gpus[0].name == "NVIDIA H200"
    assert found[1].hardware is not None and found[1].hardware.is_cpu


def test_srun_label_a_line_without_label_is_named() -> None:
    text = f"0: {json.dumps(CPU)}\nslurmstepd: error: *** STEP 12.0 CANCELLED ***\n"
    found = read_stream(text, "srun.log")
    assert summary(found) == [("srun.log:1", "task 0", True), ("srun.log:2", None, False)]
    assert found[1].problems == ("srun.log:2: expected a line of `srun --label` ('N: ...')",)


ANSIBLE = f"""\
n01 | CHANGED | rc=0 >>
{pretty(H200)}gen-constraints: note: no AMD GPU (no /sys/class/kfd)
n02 | FAILED | rc=2 >>
ERROR: GPU 0: NVML cannot read its compute capability (NVML_ERROR_UNKNOWN)non-zero return code
n03 | UNREACHABLE! => {{
    "changed": false,
    "msg": "Failed to connect to the host via ssh: ssh: connect to host n03 port 22: No route",
    "unreachable": true
}}
n04 | FAILED! => {{
    "changed": false,
    "cmd": "gen-constraints detect --json",
    "msg": "[Errno 2] No such file or directory: b'gen-constraints'",
    "rc": 2
}}
n05 | CHANGED | rc=0 >>
{pretty(CPU)}
"""


def test_ansible_ad_hoc_output_names_each_host() -> None:
    found = read_stream(ANSIBLE, "fleet.log")
    n = len(pretty(H200).splitlines())  # n01's readout: lines 2 to n + 1
    assert n == 29
    assert summary(found) == [
        ("fleet.log:2", "n01", True),
        ("fleet.log:31", "n02", False),
        ("fleet.log:33", "n03", False),
        ("fleet.log:38", "n04", False),
        ("fleet.log:45", "n05", True),
    ]
    assert [r.problems for r in found[1:4]] == [
        (
            "fleet.log:31: ansible: n02 | FAILED | rc=2: ERROR: GPU 0: NVML cannot read its compute"
            " capability (NVML_ERROR_UNKNOWN)non-zero return code",
        ),
        (
            "fleet.log:33: ansible: n03 | UNREACHABLE!: Failed to connect to the host via ssh:"
            " ssh: connect to host n03 port 22: No route",
        ),
        (
            "fleet.log:38: ansible: n04 | FAILED!: [Errno 2] No such file or directory:"
            " b'gen-constraints'",
        ),
    ]


def test_ansible_text_glued_after_a_readout_that_is_not_ours_is_named() -> None:
    text = f"n01 | CHANGED | rc=0 >>\n{json.dumps(CPU)}Traceback (most recent call last):\n"
    found = read_stream(text, "fleet.log")
    assert summary(found) == [("fleet.log:2", "n01", True), ("fleet.log:2", "n01", False)]
    assert found[1].problems == (
        "fleet.log:2: unexpected text after a readout: 'Traceback (most recent call last):'",
    )


def test_a_plain_stream_json_lines_and_pretty_documents_with_host_keys() -> None:
    text = (
        json.dumps({"host": "a", **CPU})
        + "\n"
        + pretty({**H200, "host": "b"})
        + "\n"
        + "gen-constraints: warning: something on stderr (2>&1)\n"
        + json.dumps(CPU)
        + "\n"
    )
    found = read_stream(text, "<stdin>")
    end = 2 + len(pretty({**H200, "host": "b"}).splitlines())
    assert summary(found) == [("<stdin>:1", "a", True), ("<stdin>:2", "b", True),
                              (f"<stdin>:{end + 1}", None, True)]  # fmt: skip


def test_a_broken_document_is_named_and_the_next_one_still_reads() -> None:
    broken = pretty(H200).replace('"580.159.04",', "580.159.04,")  # not a JSON number
    assert broken.splitlines()[2] == '  "driver_version": 580.159.04,'
    text = broken + "\n" + pretty(CPU) + "\n" + "hello\n"
    found = read_stream(text, "x.log")
    cpu_line = 29 + 1
    hello = cpu_line + len(pretty(CPU).splitlines())
    assert summary(found) == [
        ("x.log:1", None, False),
        (f"x.log:{cpu_line}", None, True),
        (f"x.log:{hello}", None, False),
    ]
    assert found[0].problems == ("x.log:3: invalid JSON: Expecting ',' delimiter",)
    assert found[2].problems == (f"x.log:{hello}: expected a readout (a JSON object), got 'hello'",)


def test_an_invalid_readout_names_its_key_path_and_host() -> None:
    bad = {**CPU, "host": "n9", "gpus": [{"index": 0, "name": "X", "compute_capability": "nine"}]}
    (found,) = read_stream(json.dumps(bad), "in.jsonl")
    assert found.host == "n9" and found.hardware is None
    assert found.problems == (
        "in.jsonl:1: gpus[0].compute_capability: expected a string like \"9.0\" (got 'nine')",
    )


def test_a_host_that_is_not_a_printable_name_is_refused() -> None:
    (found,) = read_stream(json.dumps({**CPU, "host": "n1\x1b[31m"}), "in.jsonl")
    assert found.hardware is None
    assert found.problems == (
        "in.jsonl:1: host: expected a printable host name, got 'n1\\x1b[31m'",
    )


def test_files_and_folders_a_missing_file_does_not_stop_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "readouts"
    folder.mkdir()
    (folder / "n17.json").write_text(pretty(H200))
    (folder / ".hidden").write_text("not read")
    (folder / "utf16.json").write_bytes(pretty(CPU).encode("utf-16"))
    found = read_paths([folder, tmp_path / "absent.json"])
    assert summary(found) == [
        (f"{folder}/n17.json:1", "n17", True),
        (f"{folder}/utf16.json", None, False),
        (f"{tmp_path}/absent.json", None, False),
    ]
    assert found[1].problems == (
        f"{folder}/utf16.json: starts with a UTF-16 byte order mark; expected UTF-8 without one",
    )
    assert found[2].problems == (f"{tmp_path}/absent.json: cannot read: No such file or directory",)


def test_stdin_bytes_that_are_not_utf8() -> None:
    (found,) = read_bytes(b'{"gpus": "\xff"}', "<stdin>")
    assert found.problems == ("<stdin>: byte 10: not UTF-8; expected a UTF-8 JSON file",)


def test_ansible_warnings_before_the_first_host_are_skipped_other_text_is_named() -> None:
    text = (
        "[WARNING]: Platform linux on host n01 is using the discovered Python interpreter\n"
        "ERROR! the inventory could not be parsed\n"
        f"n01 | CHANGED | rc=0 >>\n{json.dumps(CPU)}\n"
    )
    found = read_stream(text, "fleet.log")
    assert summary(found) == [("fleet.log:2", None, False), ("fleet.log:4", "n01", True)]
    assert found[0].problems == ("fleet.log:2: expected an Ansible 'HOST | ... >>' line first",)


def test_what_a_failed_host_printed_is_shown_printable() -> None:
    text = "n\x1b]0;x\x07 | FAILED | rc=2 >>\nERROR: \x1b[31mred\x1b[0m\n"
    (found,) = read_stream(text, "fleet.log")
    assert found.host == "n?]0;x?"
    assert found.problems == ("fleet.log:1: ansible: n?]0;x? | FAILED | rc=2: ERROR: ?[31mred?[0m",)
