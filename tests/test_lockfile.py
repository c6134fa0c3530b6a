"""Lock integrity: every reader refuses a generated file that is not as `lock` wrote it.

A tiny project is locked with the real uv (offline, from folders of tiny wheels); then one of its
two generated files is tampered with, and every command that reads them (emit, env, lock --check,
sync, sync --check, wheelhouse fill/check/prune) must exit 2 naming the file, and change nothing.
A new case is one line in TAMPERS or READERS.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.lock_project import PYTHON, gen, make_project

from constraints_gen import runner
from constraints_gen.errors import InputError
from constraints_gen.locks import file as lockfile

LOCK = Path("generated") / "beta" / f"py{PYTHON}.lock.txt"
CONSTRAINTS = Path("generated") / "beta" / f"py{PYTHON}.constraints.txt"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("locked") / "proj")
    done = gen("lock", "--root", root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "proj"
    shutil.copytree(pristine, copy)
    return copy


def _replace(old: str, new: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        assert old.encode() in data, old
        return data.replace(old.encode(), new.encode(), 1)

    return edit


def _delete_entry(data: bytes) -> bytes:  # the whole tinydep entry, lines and hashes
    lines = data.decode().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("tinydep=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i][:1].isspace())
    return "".join(lines[:start] + lines[end:]).encode()


def _inject_entry(data: bytes) -> bytes:
    return data + b"evil==6.6.6 \\\n    --hash=sha256:" + b"0" * 64 + b"\n"


def _resealed_without_tinydep(data: bytes) -> bytes:
    """An attacker who recomputes the body digest: the file verifies alone, not with its lock."""
    text = data.decode()
    lines = text.split("\n")
    head = "\n".join(lines[:4]) + "\n"
    body = "\n".join(line for line in lines[5:] if not line.startswith("tinydep=="))
    return lockfile.seal(head, body).encode()


#: (id, file tampered, change, words the message must hold)
TAMPERS: list[tuple[str, Path, Callable[[bytes], bytes], str]] = [
    ("emptied-lock", LOCK, lambda data: b"", "it is empty"),
    ("emptied-constraints", CONSTRAINTS, lambda data: b"", "it is empty"),
    ("truncated-in-header", LOCK, lambda data: data[: data.index(b"body sha256:") + 20], "damaged"),
    ("cut-after-header", LOCK, lambda data: b"\n".join(data.split(b"\n")[:5]), "digest"),
    ("truncated-lock", LOCK, lambda data: data[: len(data) * 4 // 5], "does not match the digest"),
    ("header-only-lock", LOCK, lambda data: b"".join(data.splitlines(True)[:5]), "digest"),
    ("edited-line-lock", LOCK, _replace("tinylib==1.0", "tinylib==1.1"), "digest"),
    ("edited-hash-lock", LOCK, _replace("--hash=sha256:", "--hash=sha256:0"), "digest"),
    ("deleted-entry-lock", LOCK, _delete_entry, "digest"),
    ("injected-entry-lock", LOCK, _inject_entry, "digest"),
    ("edited-constraints", CONSTRAINTS, _replace("tinylib==1.0", "tinylib==1.1"), "digest"),
    ("resealed-constraints", CONSTRAINTS, _resealed_without_tinydep, "disagree"),
    ("utf16-lock", LOCK, lambda data: data.decode().encode("utf-16"), "byte-order mark"),
    ("bom-constraints", CONSTRAINTS, lambda data: b"\xef\xbb\xbf" + data, "byte-order mark"),
    ("latin1-lock", LOCK, lambda data: data + b"caf\xe9\n", "not UTF-8"),
    ("no-header-lock", LOCK, lambda data: b"".join(data.splitlines(True)[5:]), "no constraints"),
]


def _swap_constraints(root: Path) -> None:
    """Both files intact, but the constraints of another profile: its header names alpha."""
    other = root / "generated" / "alpha" / f"py{PYTHON}.constraints.txt"
    shutil.copyfile(other, root / CONSTRAINTS)


def _venv(root: Path) -> Path:
    target = root / "target"
    subprocess.run([runner.uv_bin(), "venv", "-q", str(target)], check=True, capture_output=True)
    return target


def _wheelhouse(root: Path) -> Path:
    folder = root / "wh"  # exactly beta's wheels
    folder.mkdir()
    for wheel in [*(root / "wheels").glob("tiny*-1.0-*.whl"), *(root / "torchwheels").iterdir()]:
        shutil.copy(wheel, folder)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


#: (id, argv after `gen-constraints` given the project root, exit code with intact files)
READERS: list[tuple[str, Callable[[Path], list[str | Path]], int]] = [
    ("emit", lambda root: ["--root", root, "--profile", "beta"], 0),
    ("env", lambda root: ["env", "--root", root, "--profile", "beta"], 0),
    ("lock-check", lambda root: ["lock", "--check", "--root", root], 0),
    ("sync-check", lambda root: ["sync", "--check", "--root", root, "--profile", "beta",
                                 "--python", root / "target", "--wheelhouse", root / "wh"], 1),
    ("sync", lambda root: ["sync", "--root", root, "--profile", "beta",
                           "--python", root / "target", "--wheelhouse", root / "wh"], 0),
    ("wheelhouse-check", lambda root: ["wheelhouse", "check", "--root", root, "--profile", "beta",
                                       "--wheelhouse", root / "wh"], 0),
    ("wheelhouse-prune", lambda root: ["wheelhouse", "prune", "--root", root, "--profile", "beta",
                                       "--wheelhouse", root / "wh"], 0),
    ("wheelhouse-prune-all", lambda root: ["wheelhouse", "prune", "--all", "--root", root,
                                           "--wheelhouse", root / "wh"], 0),
    ("wheelhouse-fill", lambda root: ["wheelhouse", "fill", "--root", root, "--profile", "beta",
                                      "--wheelhouse", root / "wh", "--no-index"], 0),
]  # fmt: skip


def _prepare(root: Path) -> tuple[Path, Path]:
    return _venv(root), _wheelhouse(root)


@pytest.mark.parametrize(("reader", "argv", "ok"), READERS, ids=[r[0] for r in READERS])
def test_an_intact_pair_is_read(
    root: Path, reader: str, argv: Callable[[Path], list[str | Path]], ok: int
) -> None:
    _prepare(root)
    done = gen(*argv(root))
    assert done.returncode == ok, done.stderr
    assert "refused" not in done.stderr


@pytest.mark.parametrize(("reader", "argv", "ok"), READERS, ids=[r[0] for r in READERS])
@pytest.mark.parametrize(("case", "path", "change", "words"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_every_reader_refuses_a_tampered_file(
    root: Path,
    reader: str,
    argv: Callable[[Path], list[str | Path]],
    ok: int,
    case: str,
    path: Path,
    change: Callable[[bytes], bytes],
    words: str,
) -> None:
    target, wheelhouse = _prepare(root)
    (wheelhouse / "stray-1.0-py3-none-any.whl").write_bytes(b"not locked: prune would remove it")
    file = root / path
    file.write_bytes(change(file.read_bytes()))
    before = {"target": _files(target), "wh": _files(wheelhouse)}
    done = gen(*argv(root))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith("ERROR: "), done.stderr
    assert str(file) in done.stderr and words in done.stderr, done.stderr
    assert "\nTIP: regenerate" in done.stderr
    assert "Traceback" not in done.stderr
    assert {"target": _files(target), "wh": _files(wheelhouse)} == before  # nothing changed


@pytest.mark.parametrize(("reader", "argv", "ok"), READERS, ids=[r[0] for r in READERS])
def test_every_reader_refuses_a_lock_and_constraints_that_disagree(
    root: Path, reader: str, argv: Callable[[Path], list[str | Path]], ok: int
) -> None:
    _prepare(root)
    _swap_constraints(root)
    done = gen(*argv(root))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert (
        f"{root / CONSTRAINTS}: its header is for profile alpha, CPython {PYTHON},"
        f" x86_64-manylinux_2_28, and it was read as the file of profile beta, CPython {PYTHON},"
        " x86_64-manylinux_2_28 (copied or swapped from another target)"
    ) in done.stderr


def test_lock_relocks_a_tampered_target_and_check_is_fresh_again(root: Path) -> None:
    (root / LOCK).write_bytes(b"")
    check = gen("lock", "--check", "--root", root)
    assert check.returncode == 2
    assert check.stderr == (
        f"ERROR: {root / LOCK}: it is empty; it is generated, never edited, so it is refused\n"
        f"TIP: regenerate it: gen-constraints lock beta --python {PYTHON}\n"
    )
    fixed = gen("lock", "beta", "--python", PYTHON, "--root", root)
    assert fixed.returncode == 0, fixed.stderr
    assert gen("lock", "--check", "--root", root).returncode == 0


# The lock model: every line understood or refused; hashes belong to the line above them.

HASH_A, HASH_B, HASH_C = ("sha256:" + c * 64 for c in "abc")


def test_parse_lock_reads_extras_markers_options_and_via() -> None:
    text = (
        "--index-url https://pypi.org/simple\n"
        "# a comment\n"
        "\n"
        f"Foo_Bar[cli, tests]==1.0 ; python_version >= '3.9' \\\n    --hash={HASH_A} \\\n"
        f"    --hash={HASH_B}\n"
        "    # via -r manifest.in, baz\n"
        f"baz===2.0+cpu \\\n    --hash={HASH_C}\n"
    )
    packages, options = lockfile._parse_lock(text, "x")
    assert options == ("--index-url https://pypi.org/simple",)
    foo, baz = packages
    assert (foo.name, foo.version, foo.extras, foo.marker) == (
        "foo-bar",
        "1.0",
        ("cli", "tests"),
        "python_version >= '3.9'",
    )
    assert foo.hashes == (HASH_A, HASH_B) and foo.via == ("-r manifest.in", "baz")
    assert (baz.version, baz.hashes, baz.via) == ("2.0+cpu", (HASH_C,), ())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # a hash after a line without a backslash would belong to nobody (or the wrong package)
        (f"a==1 \\\n    --hash={HASH_A}\nb==2\n    --hash={HASH_B}\n", "line 4"),
        (f"a==1\n    # via x\n    --hash={HASH_A}\n", "line 3"),
        (f"a==1 \\\nb==2 \\\n    --hash={HASH_A}\n", "line 2"),
        (f"a==1 \\\n    --hash={HASH_A} \\\n", "ends inside an entry"),
        ("a @ https://example.invalid/a-1-py3-none-any.whl\n", "direct URL"),
        ("a==1\nA==2\n", "listed twice"),
        ("a>=1\n", "expected name==version"),
        ("--trusted-host example.invalid\na==1\n", "unknown option"),
        (f"a==1 \\\n    --hash=md5:{'0' * 32}\n", "line 2"),
        # a --hash continuation: indented, one lower-case hex digest, at most one backslash
        (f"a==1 \\\n--hash={HASH_A}\n", "line 2"),
        (f"a==1 \\\n    --hash={HASH_A.upper()}\n", "line 2"),
        (f"a==1 \\\n    --hash={HASH_A} x\n", "line 2"),
        (f"a==1 \\\n    --hash={HASH_A} \\\\\n    --hash={HASH_B}\n", "line 2"),
        ("a==1 \\\n    --hash=sha256:\n", "line 2"),
        (f"a==1 \\\n    --hash={HASH_A} \\\n\n", "line 3"),
    ],
)
def test_parse_lock_refuses_what_it_does_not_understand(text: str, words: str) -> None:
    with pytest.raises(InputError) as error:
        lockfile.parse_lock(text, "the lock")
    assert words in str(error.value) and "the lock" in str(error.value)


def test_parse_lock_refusal_names_the_line() -> None:
    with pytest.raises(InputError) as error:
        lockfile.parse_lock(f"a==1 \\\n    --hash={HASH_A} \\\n  x\n", "the lock")
    assert error.value.problems == (
        "the lock: line 3: 'x': expected an indented --hash=sha256:... continuation",
    )


def test_parse_lock_takes_any_whitespace_around_a_hash() -> None:
    text = f"a==1 \\\n\t--hash={HASH_A}  \\  \r\n \t--hash={HASH_B}\t\r\nb==2 \\\n  --hash={HASH_C}"
    a, b = lockfile.parse_lock(text)
    assert (a.hashes, b.hashes) == ((HASH_A, HASH_B), (HASH_C,))  # each entry its own hashes


def test_format_change_is_its_own_error(root: Path) -> None:
    path = root / LOCK
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4] + lines[5:]))  # a format 2 file: no integrity line
    with pytest.raises(lockfile.LockFormatError) as error:
        lockfile.read_lock_file(path)
    assert error.value.found == 2
    assert str(error.value) == (
        f"{path}: written in lock format 2, this tool writes {lockfile.FORMAT}:"
        f" run gen-constraints lock beta --python {PYTHON}"
    )


def test_crlf_checkout_is_the_same_file(root: Path) -> None:
    path = root / LOCK
    intact = lockfile.read_lock_file(path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert lockfile.read_lock_file(path).packages == intact.packages
