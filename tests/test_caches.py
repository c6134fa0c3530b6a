"""The cache policy (constraints_gen/caches.py): whose folder, which entries, which answer.

Every rule has its case where the cache must say no: a folder others can write or another user
owns, an entry that is malformed in each way, another question's entry, an entry this tool did
not seal, a file changed in place with its size and mtime put back."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from support.owners import give_away

from constraints_gen import caches

ROOT_ONLY = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another uid needs root"
)
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")

SHAPE = caches.record(path=caches.is_str, sizes=caches.list_of(caches.is_int))
VALUE = {"path": "/a/b", "sizes": [1, 2]}


@pytest.fixture(autouse=True)
def _fresh_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache root of this test's own; the once-a-process notices said again."""
    monkeypatch.setenv("GEN_CONSTRAINTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(caches, "_refused", {})


def entry_file(cache: caches.Cache, key: object) -> Path:
    folder = caches.trusted_dir(cache.name)
    assert folder is not None
    return cache._file(folder, caches.canonical(key))


def test_folders_are_created_private_and_entries_round_trip() -> None:
    cache = caches.Cache("things", 1)
    assert cache.get(["k", 1], SHAPE) is None  # nothing yet, and nothing created by a lookup
    assert not caches.cache_dir().exists()
    cache.put(["k", 1], VALUE)
    assert cache.get(["k", 1], SHAPE) == VALUE
    assert cache.get(("k", 1), SHAPE) == VALUE  # a tuple is the same JSON key
    for folder in (caches.cache_dir(), caches.cache_dir() / "things"):
        assert folder.stat().st_mode & 0o777 == 0o700
    assert entry_file(cache, ["k", 1]).stat().st_mode & 0o777 == 0o600
    assert (caches.cache_dir() / "secret").stat().st_mode & 0o777 == 0o600
    text = entry_file(cache, ["k", 1]).read_text()
    assert json.loads(text)["key"] == ["k", 1]  # JSON, the whole key inside


def test_an_entry_answers_only_its_own_question() -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k", 1], VALUE)
    other = entry_file(cache, ["k", 2])
    other.write_bytes(entry_file(cache, ["k", 1]).read_bytes())  # moved under another key
    assert cache.get(["k", 2], SHAPE) is None
    assert caches.Cache("others", 1).get(["k", 1], SHAPE) is None
    assert caches.Cache("things", 2).get(["k", 1], SHAPE) is None  # another format


@POSIX
@pytest.mark.parametrize("where", ["root", "named"])
def test_a_folder_others_can_write_is_not_used_with_one_notice(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    folder = caches.cache_dir() if where == "root" else caches.cache_dir() / "things"
    folder.chmod(0o777)  # a shared $XDG_CACHE_HOME
    assert cache.get(["k"], SHAPE) is None
    cache.put(["k"], {"path": "/evil", "sizes": []})
    assert cache.get(["k"], SHAPE) is None
    err = capsys.readouterr().err
    assert err == (
        f"gen-constraints: warning: {folder}: not used as a cache: group or others can write it"
        " (mode 0777); whoever can write it could answer for this tool (make it yours: chmod 700"
        f" {folder}, or set GEN_CONSTRAINTS_CACHE_DIR to a private folder)\n"
    )
    folder.chmod(0o700)
    assert cache.get(["k"], SHAPE) == VALUE  # the put above was not made


@ROOT_ONLY
def test_a_folder_another_user_owns_is_not_used(capsys: pytest.CaptureFixture[str]) -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    give_away(caches.cache_dir() / "things")
    assert cache.get(["k"], SHAPE) is None
    assert caches.trusted_dir("things") is None
    err = capsys.readouterr().err
    assert err.count("not used as a cache: it is owned by uid 12345, not by you (uid 0)") == 1


@ROOT_ONLY
def test_an_entry_another_user_owns_or_others_can_write_is_a_miss() -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    path = entry_file(cache, ["k"])
    give_away(path)
    assert cache.get(["k"], SHAPE) is None
    os.chown(path, 0, -1)
    path.chmod(0o666)
    assert cache.get(["k"], SHAPE) is None
    path.chmod(0o600)
    assert cache.get(["k"], SHAPE) == VALUE


def test_an_entry_not_sealed_by_this_tool_is_a_miss() -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    path = entry_file(cache, ["k"])
    data = json.loads(path.read_text())
    data["value"]["path"] = "/another/answer"  # the stored value replaced
    path.write_text(json.dumps(data))
    assert cache.get(["k"], SHAPE) is None
    (caches.cache_dir() / "secret").write_text("0" * 64)  # another key: no entry is believed
    caches._secrets.clear()
    cache.put(["j"], VALUE)
    caches._secrets.clear()
    (caches.cache_dir() / "secret").chmod(0o644)  # a key others can read is no key
    assert cache.get(["j"], SHAPE) is None


def test_the_seal_is_checked_on_the_text_as_read_and_as_reencoded() -> None:
    """The seal is checked on the entry's text without its mac (no second encoding); an entry
    re-spaced is encoded again and still believed; the mac moved into the value (the text
    without it is still the sealed one) is not."""
    cache = caches.Cache("things", 1)
    nested = {"path": "/a", "sizes": [1], "inner": {"a": 1}}
    shape = caches.record(
        path=caches.is_str, sizes=caches.list_of(caches.is_int), inner=caches.dict_of(caches.is_int)
    )
    cache.put(["k"], nested)
    path = entry_file(cache, ["k"])
    text = path.read_text()
    assert cache.get(["k"], shape) == nested
    path.write_text(json.dumps(json.loads(text), indent=1))  # another spelling, same data
    assert cache.get(["k"], shape) == nested
    mac = json.loads(text)["mac"]
    needle = f',"mac":"{mac}"'
    moved = text.replace(needle, "").replace('{"a":1}', '{"a":1' + needle + "}")
    path.write_text(moved)
    assert json.loads(moved)["value"]["inner"]["mac"] == mac
    assert cache.get(["k"], shape) is None


#: Entries of the wrong shape, each sealed as this tool would seal it: the shape check alone
#: must make them misses.
MALFORMED: list[tuple[str, object]] = [
    ("int-for-list", {"path": "/a", "sizes": 3}),
    ("two-tuple", ["/a", [1, 2]]),
    ("bytes-for-text", {"path": [47, 97], "sizes": [1]}),
    ("none-for-path", {"path": None, "sizes": [1]}),
    ("bool-for-int", {"path": "/a", "sizes": [True]}),
    ("extra-field", {"path": "/a", "sizes": [1], "more": 1}),
    ("missing-field", {"path": "/a"}),
    ("a-string", "/a"),
]


@pytest.mark.parametrize(("case", "value"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_value_is_a_miss(case: str, value: object) -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], value)
    assert json.loads(entry_file(cache, ["k"]).read_text())["value"] == value  # it was stored
    assert cache.get(["k"], SHAPE) is None


#: Entry files that are not entries at all
BROKEN: list[tuple[str, bytes]] = [
    ("deeply-nested", b"[" * 200_000 + b"]" * 200_000),
    ("deeply-nested-object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    ("not-json", b"\x80marshal\x00"),
    ("truncated", b'{"cache": "things", "version'),
    ("empty", b""),
    ("a-list", b"[1, 2]"),
    ("nan", b'{"cache": NaN}'),
]


@pytest.mark.parametrize(("case", "data"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_entry_file_is_a_miss(case: str, data: bytes) -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    entry_file(cache, ["k"]).write_bytes(data)
    assert cache.get(["k"], SHAPE) is None
    cache.put(["k"], VALUE)  # and it is replaced by the next answer
    assert cache.get(["k"], SHAPE) == VALUE


@POSIX
def test_an_entry_that_is_a_fifo_or_a_link_is_a_miss_without_waiting(tmp_path: Path) -> None:
    cache = caches.Cache("things", 1)
    cache.put(["k"], VALUE)
    path = entry_file(cache, ["k"])
    target = tmp_path / "elsewhere.json"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)
    assert cache.get(["k"], SHAPE) is None
    path.unlink()
    os.mkfifo(path)
    start = time.monotonic()
    assert cache.get(["k"], SHAPE) is None
    assert time.monotonic() - start < 5


def test_identity_sees_an_edit_that_restores_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "f.whl"
    path.write_bytes(b"good bytes")
    before = caches.identity(path)
    info = path.stat()
    time.sleep(0.01)
    path.write_bytes(b"evil bytes")  # same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = caches.identity(path)
    assert before is not None and after is not None
    assert before[:4] == after[:4]  # device, inode, size, mtime: all put back
    assert before != after  # the ctime is not
    assert caches.identity(tmp_path / "none") is None
    assert caches.racy(after, time.time_ns())
    assert not caches.racy(after, time.time_ns() + 10 * caches.SETTLE_NS)
