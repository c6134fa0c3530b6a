"""The probe verify runs in the target: its own channel, and RECORD reads that stay bounded.

Real venvs (uv venv), tiny real wheels synced with ``gen-constraints sync``, the probe run by the
venv's own interpreter; RECORD files are edited in place after the install (each test has its
own uv cache, so the edit stays in the test).
"""

from __future__ import annotations

import ast
import os
import platform
import sys
from pathlib import Path

import pytest
from support.sync_project import LINUX, PY, gen, make_project, make_venv
from support.wheels import build_wheel

from constraints_gen.install import _in_target_probe as probe

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the scenario's profile targets x86_64-manylinux_2_28",
)

COMMON = ("--profile", "demo", "--root", "proj", "--python", "venv")
WHERE = f"profile demo, CPython {PY}, venv/bin/python"
SITE = f"venv/lib/python{PY}/site-packages"
#: A well-formed RECORD hash (of nothing in particular).
HASH = "sha256=" + "A" * 43


@pytest.fixture(autouse=True)
def _own_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv hard-links installed files from its cache: edits stay in this test's cache."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("GEN_CONSTRAINTS_VERIFY_TIMEOUT", "60")  # a hang fails fast, as exit 2


def test_probe_is_python_3_8() -> None:
    """The probe runs in any target the profiles name (CPython 3.8 and newer)."""
    ast.parse(Path(probe.__file__).read_text(encoding="utf-8"), feature_version=(3, 8))


# --- a package that prints at import ---------------------------------------------------------

BANNER = """\
import json
import os
import sys

# what a chatty package does at import: a banner, a warning, raw bytes on fd 1, and a JSON-looking
# line that the old stdout channel would have taken for the probe's answer
sys.stdout.write('{"distributions": [], "imports": [], "torch": null}\\n')
sys.stdout.flush()
sys.stderr.write("banner 1.0: welcome\\n")
os.write(1, b"\\xff\\xfe not UTF-8 {\\n")
os.write(2, b"\\xff on stderr too\\n")

MODE = os.environ.get("BANNER_MODE")
if MODE == "exit":  # ends the target before the probe writes its answer
    os._exit(0)
if MODE in ("partial", "stale"):  # forges the answer file beside the probe, then ends
    forged = '{"imports": [' if MODE == "partial" else json.dumps(
        {"nonce": "0" * 32, "imports": [], "torch": None})
    with open(os.path.join(os.path.dirname(sys.argv[0]), "result.json"), "w") as handle:
        handle.write(forged)
    os._exit(0)
"""
#: A .pth file runs at every start of the venv's interpreter: the installed stage sees it too.
BANNER_PTH = (
    'import os, sys; sys.stdout.write("banner.pth\\n"); sys.stdout.flush();'
    ' os.write(1, b"\\xff\\n"); sys.stderr.write("banner.pth says hi\\n")\n'
)


def banner_env(tmp_path: Path) -> None:
    """Profile ``demo`` locks torch 2.5.1 and ``banner`` 1.0, whose import prints; synced into
    ``venv``."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "torch", "2.5.1")
    build_wheel(
        wheels, "banner", "1.0", files={"banner/__init__.py": BANNER, "banner.pth": BANNER_PTH}
    )
    requirements = {"torch": ">=2.5", "banner": ">=1"}
    profiles = {"demo": (LINUX, {"torch": "2.5.1"})}
    make_project(tmp_path / "proj", wheels, requirements=requirements, profiles=profiles)
    make_venv(tmp_path / "venv", wheels, [])
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_package_that_prints_at_import_is_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BANNER_MODE", raising=False)
    banner_env(tmp_path)
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr.endswith(
        f"gen-constraints: verified ({WHERE}): 2 packages at their locked versions,"
        " 13 files match their RECORD, 2 imports\n"
    )
    as_json = gen("verify", *COMMON, "--json", cwd=tmp_path)
    assert as_json.returncode == 0 and as_json.stdout.startswith('{\n  "version": 1,')


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("exit", "wrote no result"),
        ("partial", "left a result that is not JSON (cut short or written by another program)"),
        ("stale", "left a result that is not this run's (its nonce differs)"),
    ],
)
def test_a_probe_without_its_own_result_says_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, why: str
) -> None:
    """The target exits 0 with an answer-shaped line on stdout (the old channel believed it),
    or with a forged, cut or stale result file: no answer, so not verified."""
    monkeypatch.delenv("BANNER_MODE", raising=False)
    banner_env(tmp_path)
    monkeypatch.setenv("BANNER_MODE", mode)
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (
        1,
        f"import: the probe {why} while importing banner (exit code 0);"
        " the last line of its stderr: \ufffd on stderr too\n",
    )
    assert done.stderr.endswith(f"gen-constraints: NOT verified ({WHERE}): 1 failures\n")


# --- RECORD lines that verify must not follow, and malformed ones ------------------------------


def synced(tmp_path: Path) -> Path:
    """A venv that sync made match profile ``demo`` (peft 0.13.2 and friends); its site dir."""
    from support.sync_project import scenario_project

    _, wheels = scenario_project(tmp_path)
    make_venv(tmp_path / "venv", wheels, [])
    done = gen("sync", *COMMON, "--wheelhouse", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / SITE


def peft_record(site: Path) -> Path:
    record = site / "peft-0.13.2.dist-info" / "RECORD"
    lines = record.read_text().splitlines()
    assert len(lines) == 7 and lines[6].startswith("peft/__init__.py,sha256=")
    return record


def not_verified(tmp_path: Path, site: Path, bad: str, files: int = 6) -> None:
    """verify fails with exactly ``bad`` as peft's one bad RECORD line, and --no-deep passes."""
    done = gen("verify", *COMMON, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (
        1,
        f"files: peft 0.13.2: 1 of {files} files differ from its RECORD"
        f" ({site}/peft-0.13.2.dist-info): {bad}\n",
    ), done.stderr
    assert "Traceback" not in done.stderr
    shallow = gen("verify", *COMMON, "--no-deep", cwd=tmp_path)
    assert (shallow.returncode, shallow.stdout) == (0, ""), shallow.stderr


def test_a_device_path_leaving_the_prefix_is_named_not_read(tmp_path: Path) -> None:
    """The issue's line (it read /dev/zero until the deadline), and one that reaches /dev/zero."""
    site = synced(tmp_path)
    record = peft_record(site)
    venv = tmp_path / "venv"
    text = record.read_text()
    record.write_text(text + f"../../../../dev/zero,{HASH},\n")
    not_verified(
        tmp_path,
        site,
        f"RECORD line 8: ../../../../dev/zero (leaves the environment {venv}: {tmp_path}/dev/zero)",
        files=7,
    )
    deep = "../" * (len(site.parts) + 2) + "dev/zero"
    record.write_text(text + f"{deep},{HASH},\n")
    not_verified(
        tmp_path, site, f"RECORD line 8: {deep} (leaves the environment {venv}: /dev/zero)", 7
    )


def test_a_symlink_fifo_or_symlinked_folder_is_named(tmp_path: Path) -> None:
    site = synced(tmp_path)
    record = peft_record(site)
    text = record.read_text()
    venv = tmp_path / "venv"
    (venv / "zero").symlink_to("/dev/zero")  # inside the prefix, pointing at a device
    record.write_text(text + f"../../../zero,{HASH},\n")
    not_verified(
        tmp_path,
        site,
        "RECORD line 8: ../../../zero (a symlink to /dev/zero, not a regular file)",
        files=7,
    )

    os.mkfifo(site / "peft" / "pipe")  # a reader would wait for a writer forever
    record.write_text(text + f"peft/pipe,{HASH},0\n")
    not_verified(tmp_path, site, "RECORD line 8: peft/pipe (a FIFO, not a regular file)", 7)

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("x")
    (site / "peft" / "out").symlink_to(outside)  # a regular file, through a folder link
    record.write_text(text + f"peft/out/secret,{HASH},1\n")
    not_verified(
        tmp_path,
        site,
        f"RECORD line 8: peft/out/secret (leaves the environment {venv}: {outside}/secret)",
        files=7,
    )

    module = site / "peft" / "__init__.py"  # a locked file replaced by a link to its copy
    module.rename(site / "peft" / "copy.py")
    module.symlink_to("copy.py")
    record.write_text(text)
    not_verified(
        tmp_path, site, "RECORD line 7: peft/__init__.py (a symlink to copy.py, not a regular file)"
    )


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{p},{h},abc", "size 'abc' is not a number of bytes"),
        ("{p},{h},-{s}", "size '-{s}' is not a number of bytes"),
        (
            "{p},md5={h22},{s}",
            "hash 'md5={h22}': expected sha256=<urlsafe base64> (or another of at least 224"
            " bits; not md5, sha1)",
        ),
        ("{p},sha256,{s}", "hash 'sha256': expected 43 characters of urlsafe base64{pad}"),
        ("{p},{h}+,{s}", "hash '{h}+': expected 43 characters of urlsafe base64{pad}"),
        ("{p},{h}", "expected 3 columns (path,hash,size), found 2"),
        ("{p},{h},{s},x", "expected 3 columns (path,hash,size), found 4"),
        ('"{p},{h},{s}', "expected 3 columns (path,hash,size), found 1"),  # an open quote
    ],
    ids=[
        "size-abc", "size-negative", "md5", "no-value", "not-base64", "2-columns", "4-columns",
        "open-quote",
    ],
)  # fmt: skip
def test_a_malformed_record_line_is_named(tmp_path: Path, template: str, why: str) -> None:
    site = synced(tmp_path)
    record = peft_record(site)
    lines = record.read_text().splitlines()
    path, digest, size = lines[6].split(",")
    fields = {"p": path, "h": digest, "s": size, "h22": digest[7:29], "pad": " without padding"}
    line = template.format(**fields)
    record.write_text("\n".join([*lines[:6], line]) + "\n")
    not_verified(tmp_path, site, f"RECORD line 7: {line!r} is malformed: {why.format(**fields)}")


def test_a_record_that_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    site = synced(tmp_path)
    record = peft_record(site)
    record.unlink()
    record.symlink_to("/dev/zero")
    not_verified(
        tmp_path,
        site,
        "peft-0.13.2.dist-info/RECORD (unreadable: a symlink to /dev/zero, not a regular file)",
        files=1,
    )
    record.unlink()
    os.mkfifo(record)
    not_verified(
        tmp_path,
        site,
        "peft-0.13.2.dist-info/RECORD (unreadable: a FIFO, not a regular file)",
        files=1,
    )


# --- the probe's readers, in this interpreter ---------------------------------------------------


def test_reads_stop_at_the_limit() -> None:
    read, write = os.pipe()
    os.write(write, b"x" * 100)
    os.close(write)
    try:
        assert probe._read_bounded(read, 10) is None  # more than the limit: not the whole
    finally:
        os.close(read)
    read, write = os.pipe()
    os.write(write, b"x" * 10)
    os.close(write)
    try:
        assert probe._read_bounded(read, 10) == b"x" * 10
    finally:
        os.close(read)


def test_a_file_that_grows_past_its_recorded_size_is_not_read_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No size in RECORD: the read stops at what lstat saw (here: the file was appended to
    between lstat and the read, as a writer racing verify would)."""
    (tmp_path / "env" / "site").mkdir(parents=True)
    data = tmp_path / "env" / "site" / "data.bin"
    data.write_bytes(b"a" * 10)
    line = {"line": 3, "path": "data.bin", "hash": "sha256", "value": "A" * 43, "size": None}
    real_lstat = os.lstat

    def lstat_then_grow(path: str) -> os.stat_result:
        result = real_lstat(path)
        if path.endswith("data.bin"):
            with open(path, "ab") as handle:
                handle.write(b"b" * 10)
        return result

    monkeypatch.setattr(os, "lstat", lstat_then_grow)
    found = probe.check_file(str(tmp_path / "env" / "site"), str(tmp_path / "env"), line)
    monkeypatch.undo()
    assert found == {
        "path": "data.bin", "line": 3, "problem": "larger", "expected": 10, "actual": None
    }  # fmt: skip


def test_the_prefix_of_a_distribution(tmp_path: Path) -> None:
    """A venv's distribution is checked against the venv; one outside every prefix only against
    the folder that holds it."""
    import sysconfig

    site = sysconfig.get_path("purelib")
    assert probe.prefix_of(os.path.join(site, "x-1.dist-info")) == os.path.normpath(sys.prefix)
    elsewhere = str(tmp_path / "site" / "x-1.dist-info")
    assert probe.prefix_of(elsewhere) == str(tmp_path / "site")
