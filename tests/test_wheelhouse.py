"""``gen-constraints wheelhouse``: fill from a served index, check, the hash cache, prune, index."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest
from support.index import serve, write_simple_index
from support.sync_project import CP, PY, gen, make_project, scenario_project
from support.wheels import build_wheel, sha256_of

from constraints_gen.errors import ConstraintsGenError
from constraints_gen.install.wheelhouse import FOLDER_LOCK, HASH_CACHE, HashCache

COMMON = ("--profile", "demo", "--root", "proj", "--wheelhouse", "wh")
TORCH = f"torch-2.5.1+cu121-{CP}-{CP}-manylinux_2_28_x86_64.whl"
LOCKED = ["peft-0.13.2-py3-none-any.whl", TORCH, "transformers-4.51.3-py3-none-any.whl"]


def wheel_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in (HASH_CACHE, FOLDER_LOCK))


def test_fill_fetches_only_the_locked_files_and_resumes(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        fill = ("wheelhouse", "fill", *COMMON, "--index-url", f"{url}/simple")
        first = gen(*fill, cwd=tmp_path)
        assert (first.returncode, first.stdout) == (0, "")
        size = sum((wheels / name).stat().st_size for name in LOCKED)
        *lines, summary = first.stderr.splitlines()
        assert sorted(re.sub(r", [0-9.]+ \S+/s\)$", ")", line) for line in lines) == [
            f"fetched {name} ({(wheels / name).stat().st_size} bytes)" for name in LOCKED
        ]
        assert summary == (
            f"wheelhouse wh: fetched 3 files ({size / 1000:.1f} kB), 0 locked packages already"
            " present"
        )
        assert wheel_names(tmp_path / "wh") == LOCKED
        again = gen(*fill, "--json", cwd=tmp_path)
    assert again.returncode == 0
    assert json.loads(again.stdout) == {
        "version": 1, "wheelhouse": "wh", "fetched": [], "already_present": 3,
        "wrong_version": [], "pruned": [], "errors": [],
    }  # fmt: skip
    assert again.stderr == (
        "wheelhouse wh: fetched 0 files (0 bytes), 3 locked packages already present\n"
    )


def test_fill_refuses_a_file_with_the_wrong_hash(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    served = tmp_path / "index" / "files" / "transformers-4.51.3-py3-none-any.whl"
    expected = sha256_of(served)
    served.write_bytes(served.read_bytes() + b"tampered")  # same name, other bytes
    with serve(tmp_path / "index") as url:
        done = gen("wheelhouse", "fill", *COMMON, "--index-url", f"{url}/simple", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "ERROR: transformers-4.51.3-py3-none-any.whl: hash mismatch, file discarded: expected"
        f" sha256:{expected} (from the lock), got sha256:{sha256_of(served)} (downloaded from"
        f" {url}/files/transformers-4.51.3-py3-none-any.whl)\n"
        "TIP: the files that did download are kept; run the same command again to resume\n"
    )
    assert wheel_names(tmp_path / "wh") == ["peft-0.13.2-py3-none-any.whl", TORCH]  # no .part


def test_fill_for_another_platform_takes_only_its_files(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    tags = {
        "linux": f"{CP}-{CP}-manylinux_2_28_x86_64",
        "old-linux": f"{CP}-{CP}-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "mac": f"{CP}-{CP}-macosx_11_0_arm64",
    }
    for tag in tags.values():
        build_wheel(wheels, "native", "1.0", tag=tag)
    build_wheel(wheels, "torch", "2.5.1")
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        make_project(
            tmp_path / "proj",
            None,
            requirements={"native": ">=1"},
            profiles={
                "linux": ("x86_64-manylinux_2_28", {"torch": "2.5.1"}),
                "mac": ("aarch64-apple-darwin", {"torch": "2.5.1"}),
            },
            index=f"{url}/simple",
        )
        lock = (tmp_path / "proj/generated/linux" / f"py{PY}.lock.txt").read_text()
        assert all(sha256_of(w) in lock for w in wheels.glob("native-*.whl"))  # every platform
        done = gen("wheelhouse", "fill", "--profile", "mac", "--root", "proj", "--wheelhouse",
                   "wh", "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert wheel_names(tmp_path / "wh") == [
            f"native-1.0-{tags['mac']}.whl",
            "torch-2.5.1-py3-none-any.whl",
        ]
        done = gen("wheelhouse", "fill", "--all", "--root", "proj", "--wheelhouse", "wh",
                   "--index-url", f"{url}/simple", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert wheel_names(tmp_path / "wh") == [  # the best linux tag, not manylinux2014 as well
        f"native-1.0-{tags['mac']}.whl",
        f"native-1.0-{tags['linux']}.whl",
        "torch-2.5.1-py3-none-any.whl",
    ]
    check = gen("wheelhouse", "check", "--all", "--root", "proj", "--wheelhouse", "wh",
                cwd=tmp_path)  # fmt: skip
    assert (check.returncode, check.stderr) == (0, "")
    assert check.stdout == (
        f"profile linux, CPython {PY} (x86_64-manylinux_2_28): exact, 2 locked packages\n"
        f"profile mac, CPython {PY} (aarch64-apple-darwin): exact, 2 locked packages\n"
    )


def test_check_classifies_and_caches_hashes(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    house = tmp_path / "wh"
    house.mkdir()
    for name in [*LOCKED, "transformers-4.57.3-py3-none-any.whl", "extra-1.0-py3-none-any.whl"]:
        shutil.copy(wheels / name, house)
    torch = house / TORCH
    good_torch = torch.read_bytes()
    torch.write_bytes(good_torch + b"tampered")
    check = ("wheelhouse", "check", *COMMON)

    first = gen(*check, "--json", cwd=tmp_path)
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert report == {
        "version": 1,
        "wheelhouse": "wh",
        "ok": False,
        "locks": [
            {
                "profile": "demo",
                "python": PY,
                "platform": "x86_64-manylinux_2_28",
                "lock": f"proj/generated/demo/py{PY}.lock.txt",
                "packages": 3,
                "installable": False,
                "exact": False,
                "missing": [{"name": "torch", "version": "2.5.1+cu121"}],
                "corrupt": [
                    {"file": TORCH, "name": "torch", "version": "2.5.1+cu121",
                     "locked": "2.5.1+cu121", "sha256": sha256_of(torch)},
                ],
                "wrong_version": [
                    {"file": "transformers-4.57.3-py3-none-any.whl", "name": "transformers",
                     "version": "4.57.3", "locked": "4.51.3"},
                ],
            }
        ],
        "unreferenced": ["extra-1.0-py3-none-any.whl"],
        "ignored": [],
        "hashed": 3,
    }  # fmt: skip
    text = gen(*check, cwd=tmp_path)
    assert text.returncode == 1
    assert text.stdout == (
        f"profile demo, CPython {PY} (x86_64-manylinux_2_28): NOT installable, 3 locked packages\n"
        "  missing: torch 2.5.1+cu121\n"
        f"  corrupt: {TORCH} (sha256:{sha256_of(torch)} is not a locked hash of"
        " torch 2.5.1+cu121)\n"
        "  wrong version: transformers-4.57.3-py3-none-any.whl"
        " (transformers 4.57.3; locked 4.51.3)\n"
        "unreferenced: extra-1.0-py3-none-any.whl\n"
    )
    assert json.loads(gen(*check, "--json", cwd=tmp_path).stdout)["hashed"] == 0  # all cached

    torch.write_bytes(good_torch)  # repaired: new size and mtime, so it is read again
    repaired = gen(*check, "--json", cwd=tmp_path)
    assert repaired.returncode == 1  # installable, but the wrong-version wheel is still there
    assert json.loads(repaired.stdout)["hashed"] == 1
    assert json.loads(repaired.stdout)["locks"][0]["installable"] is True
    assert repaired.stderr == (
        "ERROR: wheelhouse wh holds 1 wrong-version wheels"
        " (transformers-4.57.3-py3-none-any.whl)\n"
        "TIP: remove them: gen-constraints wheelhouse fill --prune --profile demo --wheelhouse wh"
        " --root proj\n"
    )
    cache = HashCache(house).entries  # in the user cache, not in the folder
    assert not (house / HASH_CACHE).exists()
    assert sorted(cache) == LOCKED  # only locked name+versions are ever hashed
    stat = torch.stat()
    identity = [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
    assert cache[TORCH] == {"identity": identity, "sha256": sha256_of(torch)}


def test_prune_json_and_usage_errors(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "wh").mkdir()
    for name in [*LOCKED, "extra-1.0-py3-none-any.whl", "transformers-4.57.3-py3-none-any.whl"]:
        shutil.copy(wheels / name, tmp_path / "wh")
    done = gen("wheelhouse", "prune", *COMMON, "--json", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {
        "version": 1,
        "wheelhouse": "wh",
        "dry_run": False,
        "removed": ["extra-1.0-py3-none-any.whl", "transformers-4.57.3-py3-none-any.whl"],
        "failed": [],
    }
    assert wheel_names(tmp_path / "wh") == LOCKED
    both = gen("wheelhouse", "check", "--all", *COMMON, cwd=tmp_path)
    assert (both.returncode, both.stdout) == (2, "")
    assert both.stderr.endswith("\nError: --all and --profile exclude each other\n")
    no_lock = gen("wheelhouse", "check", *COMMON, "--python", "3.99", cwd=tmp_path)
    assert (no_lock.returncode, no_lock.stdout) == (2, "")
    assert no_lock.stderr == (
        "ERROR: profile demo has no lock for CPython 3.99"
        " (proj/generated/demo/py3.99.lock.txt is missing)\n"
        "TIP: create it: gen-constraints lock demo --python 3.99\n"
    )


def test_index_in_place(tmp_path: Path) -> None:
    house = tmp_path / "wh"
    build_wheel(house, "Some.Thing", "1.0")
    done = gen("wheelhouse", "index", "wh", "--wheelhouse", "wh", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == "wrote a PEP 503 index of 1 projects to wh/simple\n"
    page = (house / "simple" / "some-thing" / "index.html").read_text()
    digest = sha256_of(house / "some_thing-1.0-py3-none-any.whl")
    assert (
        f'<a href="../../some_thing-1.0-py3-none-any.whl#sha256={digest}">'
        "some_thing-1.0-py3-none-any.whl</a><br>\n"
    ) in page
    assert '<a href="some-thing/">some-thing</a>' in (house / "simple" / "index.html").read_text()


@pytest.mark.skipif(os.name != "posix", reason="hard links")
def test_index_elsewhere_links_the_wheels(tmp_path: Path) -> None:
    house = tmp_path / "wh"
    wheel = build_wheel(house, "pkg", "1.0")
    done = gen("wheelhouse", "index", "out", "--wheelhouse", "wh", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / wheel.name).read_bytes() == wheel.read_bytes()
    assert (tmp_path / "out" / "simple" / "pkg" / "index.html").is_file()


def test_fill_ignores_an_unreachable_index_when_another_source_has_the_files(
    tmp_path: Path,
) -> None:
    _, wheels = scenario_project(tmp_path)
    profile = tmp_path / "proj" / "profiles" / "demo.toml"
    profile.write_text(
        profile.read_text() + '[[indexes]]\nname = "down"\nurl = "http://127.0.0.1:9/simple"\n'
    )
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "index")
    with serve(tmp_path / "index") as url:
        done = gen("wheelhouse", "fill", *COMMON, "--index-url", f"{url}/simple", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "127.0.0.1:9" not in done.stderr
    assert wheel_names(tmp_path / "wh") == LOCKED


def test_fill_takes_a_profile_index_from_its_mirror(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    profile = tmp_path / "proj" / "profiles" / "demo.toml"
    profile.write_text(
        profile.read_text() + '[[indexes]]\nname = "down"\nurl = "http://127.0.0.1:9/simple"\n'
    )
    by_flag = gen("wheelhouse", "fill", *COMMON, "--no-index", "--mirror", f"down={wheels}",
                  cwd=tmp_path)  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    assert wheel_names(tmp_path / "wh") == LOCKED
    shutil.rmtree(tmp_path / "wh")
    (tmp_path / "proj" / "constraints-gen.toml").write_text(f'[mirrors]\ndown = "{wheels}"\n')
    done = gen("wheelhouse", "fill", *COMMON, "--no-index", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert wheel_names(tmp_path / "wh") == LOCKED


def test_fill_reports_wrong_version_wheels_and_prune_removes_them(tmp_path: Path) -> None:
    _, wheels = scenario_project(tmp_path)
    (tmp_path / "wh").mkdir()
    stale = "transformers-4.57.3-py3-none-any.whl"
    for name in (stale, "extra-1.0-py3-none-any.whl"):  # the seed's state, and a stranger
        shutil.copy(wheels / name, tmp_path / "wh")
    fill = ("wheelhouse", "fill", *COMMON, "--no-index", "--find-links", "wheels")
    kept = gen(*fill, cwd=tmp_path)
    assert (kept.returncode, kept.stdout) == (0, "")
    assert kept.stderr.endswith(
        f"gen-constraints: wheelhouse wh holds 1 wrong-version wheels of locked packages: {stale}"
        " (remove them: add --prune)\n"
    )
    assert stale in wheel_names(tmp_path / "wh")
    check = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    assert check.returncode == 1  # installable, not exact
    pruned = gen(*fill, "--prune", "--json", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout) == {
        "version": 1, "wheelhouse": "wh", "fetched": [], "already_present": 3,
        "wrong_version": [stale], "pruned": [stale], "errors": [],
    }  # fmt: skip
    assert pruned.stderr == (
        f"removed {stale} (wrong version)\n"
        "wheelhouse wh: fetched 0 files (0 bytes), 3 locked packages already present\n"
    )
    assert wheel_names(tmp_path / "wh") == sorted([*LOCKED, "extra-1.0-py3-none-any.whl"])
    exact = gen("wheelhouse", "check", *COMMON, cwd=tmp_path)
    assert (exact.returncode, exact.stderr) == (0, "")  # another package's wheel is no misfit


def test_a_profile_for_several_platforms_fills_and_checks_each(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    tags = {"x86_64-manylinux_2_28": f"{CP}-{CP}-manylinux_2_28_x86_64",
            "aarch64-apple-darwin": f"{CP}-{CP}-macosx_11_0_arm64"}  # fmt: skip
    for tag in tags.values():
        build_wheel(wheels, "native", "1.0", tag=tag)
    build_wheel(wheels, "torch", "2.5.1")
    (tmp_path / "proj" / "profiles").mkdir(parents=True)
    (tmp_path / "proj" / "profiles" / "manifest.toml").write_text(
        '[requirements]\nnative = ">=1"\n'
    )
    (tmp_path / "proj" / "profiles" / "multi.toml").write_text(
        'name = "multi"\n[hardware]\nvendor = "cpu"\n[target]\n'
        f'platforms = {json.dumps(list(tags))}\npython = ["{PY}"]\n[pins]\ntorch = "2.5.1"\n'
    )
    locked = gen("lock", "--root", "proj", "--offline", "--find-links", wheels, cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    args = ("--profile", "multi", "--root", "proj", "--wheelhouse", "wh")
    done = gen("wheelhouse", "fill", *args, "--no-index", "--find-links", "wheels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert wheel_names(tmp_path / "wh") == sorted(
        [*(f"native-1.0-{t}.whl" for t in tags.values()), "torch-2.5.1-py3-none-any.whl"]
    )
    check = gen("wheelhouse", "check", *args, cwd=tmp_path)
    assert (check.returncode, check.stderr) == (0, ""), check.stdout + check.stderr
    assert check.stdout == "".join(
        f"profile multi, CPython {PY} ({platform}): exact, 2 locked packages\n" for platform in tags
    )


def test_chosen_profiles_reads_the_machine_only_when_none_is_named() -> None:
    from constraints_gen.errors import InputError
    from constraints_gen.install.wheelhouse import chosen_profiles
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.profiles.model import Profile
    from constraints_gen.profiles.project import find_project

    profiles = load_profiles(find_project(None).profiles_dir)
    first, second = profiles.profiles[0], profiles.profiles[1]
    asked: list[str] = []

    def fit() -> Profile:
        asked.append("machine")
        return second

    names = [first.name, second.name]
    assert chosen_profiles(profiles, names, every=False, fit=fit) == [first, second]
    assert chosen_profiles(profiles, [], every=True, fit=fit) == list(profiles.profiles)
    assert asked == []
    assert chosen_profiles(profiles, [], every=False, fit=fit) == [second]
    assert asked == ["machine"]
    with pytest.raises(InputError):
        chosen_profiles(profiles, ["no-such-profile"], every=False, fit=fit)


@pytest.mark.parametrize("odd", ["%61ny", "any#x", "any?x", "a ny"])
def test_each_index_link_names_the_file_whose_digest_it_carries(tmp_path: Path, odd: str) -> None:
    """A shared wheelhouse may hold a file named so that its link reads as another file's:
    "pkg-1.0-py3-none-%61ny.whl" was linked unencoded, so the page gave the bytes of
    "pkg-1.0-py3-none-any.whl" the other file's sha256 ("#" and "?" cut the link short)."""
    house = tmp_path / "wh"
    genuine = build_wheel(house, "pkg", "1.0")
    other = build_wheel(tmp_path / "other", "pkg", "1.0", files={"pkg/x.py": "x = 1\n"})
    shutil.copy(other, house / f"pkg-1.0-py3-none-{odd}.whl")
    done = gen("wheelhouse", "index", "wh", "--wheelhouse", "wh", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (house / "simple" / "pkg" / "index.html").read_text()
    links = re.findall(r'<a href="\.\./\.\./([^"#]*)#sha256=([0-9a-f]{64})">', page)
    assert len(links) == 2, page
    for href, digest in links:
        path = urllib.parse.urlsplit(href).path  # what a server sends for that link
        served = house / urllib.parse.unquote(path)
        assert served.is_file() and sha256_of(served) == digest, href
    assert {urllib.parse.unquote(h) for h, _ in links} == {
        genuine.name,
        f"pkg-1.0-py3-none-{odd}.whl",
    }


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_file_swapped_for_a_fifo_or_a_device_is_refused_not_waited_on(
    tmp_path: Path, kind: str
) -> None:
    """scan() lists only regular files, but a shared wheelhouse can swap one after the listing:
    opening a FIFO with no writer waited for ever, /dev/zero was read for ever."""
    name = "pkg-1.0-py3-none-any.whl"
    if kind == "fifo":
        os.mkfifo(tmp_path / name)
    else:
        (tmp_path / name).symlink_to("/dev/zero")
    errors: list[str] = []

    def hash_it() -> None:
        try:
            HashCache(tmp_path).sha256(name)
        except ConstraintsGenError as exc:
            errors.append(exc.message)

    worker = threading.Thread(target=hash_it, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert errors == [f"{tmp_path / name}: not a regular file, not read"]
