# ruff: noqa: E501  (one line per case, as the issue asks: a new case is one line)
"""Hostile profile inputs (issue: hostile input and faults): each is one clear problem naming the
file and key, exit 2 from the CLI, never a traceback, never a profile that silently disappears.

A new case is one line in CASES: (id, {file name: bytes or text}, the expected problem, with
``{d}`` for the profiles folder).
"""

from __future__ import annotations

import codecs
import subprocess
import sys
from pathlib import Path

import pytest

from constraints_gen.errors import InputError
from constraints_gen.profiles.config import load_config
from constraints_gen.profiles.load import load_profiles
from constraints_gen.tomlio import MAX_BYTES, MAX_DEPTH

MANIFEST = '[requirements]\ntorch = ">=2.5"\n'
BASE = 'name = "base"\nabstract = true\n[target]\nplatform = "linux"\npython = ["3.12"]\n'
GOOD = 'name = "good"\nextends = "base"\n[hardware]\nvendor = "cpu"\n[pins]\ntorch = "2.14.1"\n'


def good(**replace: str) -> str:
    text = GOOD
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


DEEP_ARRAY = "x = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLE = "[" + ".".join(["a"] * 40) + "]\n"
UTF8_BOM = codecs.BOM_UTF8 + GOOD.encode()
UTF16 = GOOD.encode("utf-16")  # with its BOM
UTF16_NO_BOM = GOOD.encode("utf-16-le")
LATIN1 = GOOD.replace('vendor = "cpu"', 'vendor = "cpu"\n# caf\xe9').encode("latin-1")
HUGE = (GOOD + "# " + "x" * (MAX_BYTES + 10) + "\n").encode()
UTF8_MSG = "starts with a UTF-8 byte order mark; expected UTF-8 without one (save the file as UTF-8 without BOM)"

CASES: list[tuple[str, dict[str, str | bytes], str]] = [
    ("extends-manifest", {"good": good(base="manifest")}, "{d}/good.toml: extends: expected a profile name; 'manifest' is the manifest (manifest.toml), not a profile"),
    ("extends-path", {"good": good(base="../profiles/base")}, "{d}/good.toml: extends: expected the name of a profile in this folder (its file name without .toml, no path), got '../profiles/base'"),
    ("extends-abs", {"good": good(base="/etc/base")}, "{d}/good.toml: extends: expected the name of a profile in this folder (its file name without .toml, no path), got '/etc/base'"),
    ("pins-case", {"good": GOOD + 'Torch = "2.14.0"\n'}, "{d}/good.toml: pins.torch, pins.Torch: the same package (torch, PEP 503); keep one"),
    ("pins-sep", {"good": GOOD + 'torch_audio = "2.9.0"\ntorch-audio = "2.9.1"\n'}, "{d}/good.toml: pins.torch_audio, pins.torch-audio: the same package (torch-audio, PEP 503); keep one"),
    ("manifest-dup", {"manifest": MANIFEST + 'Torch = ">=2.6"\n'}, "{d}/manifest.toml: requirements.torch, requirements.Torch: the same package (torch, PEP 503); keep one"),
    ("name-space", {"my profile": 'name = "my profile"\n'}, "{d}/my profile.toml: 'my profile' is not a safe profile name (ASCII letters, digits, '.', '_', '-', starting with a letter or digit): rename the file and its name key"),
    ("name-dot", {".hidden": 'name = ".hidden"\n'}, "{d}/.hidden.toml: '.hidden' is not a safe profile name (ASCII letters, digits, '.', '_', '-', starting with a letter or digit): rename the file and its name key"),
    ("name-unicode", {"gpu\u00e9": 'name = "gpu\u00e9"\n'}, "{d}/gpu\u00e9.toml: 'gpu\u00e9' is not a safe profile name (ASCII letters, digits, '.', '_', '-', starting with a letter or digit): rename the file and its name key"),
    ("utf8-bom", {"good": UTF8_BOM}, "{d}/good.toml: " + UTF8_MSG),
    ("utf16", {"good": UTF16}, "{d}/good.toml: starts with a UTF-16 byte order mark; expected UTF-8 without one (save the file as UTF-8 without BOM)"),
    ("utf16-no-bom", {"good": UTF16_NO_BOM}, "{d}/good.toml: line 1, byte 1: a NUL byte (it looks like UTF-16); TOML files are UTF-8"),
    ("latin1", {"good": LATIN1}, "{d}/good.toml: line 5, byte 62: not UTF-8; TOML files are UTF-8"),
    ("manifest-bom", {"manifest": codecs.BOM_UTF8 + MANIFEST.encode()}, "{d}/manifest.toml: " + UTF8_MSG),
    ("deep-array", {"good": GOOD + DEEP_ARRAY}, f"{{d}}/good.toml: nested more than {MAX_DEPTH} levels deep"),
    ("deep-table", {"good": GOOD + DEEP_TABLE}, f"{{d}}/good.toml: nested more than {MAX_DEPTH} levels deep"),
    ("huge", {"good": HUGE}, "{d}/good.toml: larger than 1024 KiB: not a profile or settings file"),
    ("platforms-and-platform", {"good": GOOD + '[target]\nplatform = "linux"\nplatforms = ["linux"]\n'}, "{d}/good.toml: target.platform: expected only one of target.platform and target.platforms (platforms replaces platform)"),
]  # fmt: skip


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir()
    files = {"manifest": MANIFEST, "base": BASE, "good": GOOD, **files}
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / f"{name}.toml").write_bytes(data)
    return folder


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_load_reports_one_problem(
    tmp_path: Path, files: dict[str, str | bytes], expected: str
) -> None:
    d = write(tmp_path / "profiles", files)
    with pytest.raises(InputError) as info:
        load_profiles(d)
    assert info.value.problems == (expected.format(d=d),)


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in CASES[:2]], ids=[c[0] for c in CASES[:2]]
)
def test_lock_check_does_not_say_fresh(
    tmp_path: Path, files: dict[str, str | bytes], expected: str
) -> None:
    """A profile that used to vanish from the set (lock --check: "all fresh") is exit 2 now."""
    d = write(tmp_path / "profiles", files)
    done = subprocess.run(
        [sys.executable, "-m", "constraints_gen", "lock", "--check", "--root", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("ERROR: " + expected.format(d=d))
    assert "fresh" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (codecs.BOM_UTF8 + b"[mirrors]\n", UTF8_MSG),
        ("[mirrors]\nx = '\xe9'\n".encode("latin-1"), "line 2, byte 15: not UTF-8; TOML files are UTF-8"),
        (("x = " + "[" * 5000 + "]" * 5000 + "\n").encode(), f"nested more than {MAX_DEPTH} levels deep"),
    ],
    ids=["bom", "latin1", "deep"],
)  # fmt: skip
def test_settings_file(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "constraints-gen.toml").write_bytes(content)
    with pytest.raises(InputError) as info:
        load_config(tmp_path)
    assert info.value.problems == (f"{tmp_path / 'constraints-gen.toml'}: {expected}",)


def test_a_big_file_is_not_read_past_the_cap(tmp_path: Path) -> None:
    """50 MB of profile: refused after reading MAX_BYTES + 1 bytes, whatever the file's size."""
    d = write(tmp_path / "profiles", {})
    with (d / "good.toml").open("ab") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    with pytest.raises(InputError) as info:
        load_profiles(d)
    assert info.value.problems == (
        f"{d}/good.toml: larger than 1024 KiB: not a profile or settings file",
    )
