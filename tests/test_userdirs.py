"""The tool's own folders and locks on each OS it runs on. CI runs Linux only: the macOS and
Windows paths run here with that OS's answers simulated (platformdirs' macOS class reads the home
folder; its Windows class asks the shell for the folder, stood in for here)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from constraints_gen import fsutil
from constraints_gen.profiles.project import cache_dir
from constraints_gen.userdirs import user_cache_dir


def test_linux_follows_xdg(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert user_cache_dir("linux", {}, home) == home / ".cache" / "constraints-gen"
    xdg = tmp_path / "xdg"
    assert user_cache_dir("linux", {"XDG_CACHE_HOME": str(xdg)}, home) == xdg / "constraints-gen"
    # the XDG spec: a relative path is invalid and ignored, never a folder under the cwd
    relative = user_cache_dir("linux", {"XDG_CACHE_HOME": "rel/cache"}, home)
    assert relative == home / ".cache" / "constraints-gen"


def test_macos_is_library_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    folder = user_cache_dir("darwin")
    assert folder == tmp_path / "Library" / "Caches" / "constraints-gen"
    assert ".cache" not in folder.parts  # not the Linux folder


def test_windows_is_local_appdata(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs.windows

    local = r"C:\Users\ada\AppData\Local"
    asked: list[str] = []

    def shell_folder(csidl_name: str) -> str:  # SHGetKnownFolderPath, as Windows answers it
        asked.append(csidl_name)
        return {"CSIDL_LOCAL_APPDATA": local, "CSIDL_APPDATA": r"C:\Users\ada\AppData\Roaming"}[
            csidl_name
        ]

    monkeypatch.setattr(platformdirs.windows, "get_win_folder", shell_folder)
    folder = user_cache_dir("win32")
    assert asked == ["CSIDL_LOCAL_APPDATA"]  # the local (not roaming) profile: caches stay
    assert str(folder).startswith(local) and "Roaming" not in str(folder)
    assert folder.parts[-2:] == ("constraints-gen", "Cache")


def test_cache_dir_is_the_user_cache_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEN_CONSTRAINTS_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GEN_CONSTRAINTS_CACHE_DIR")
    assert cache_dir() == user_cache_dir()


def test_emit_path_does_not_import_platformdirs_on_linux() -> None:
    """Measured cost (userdirs.py): the Linux rule is ours so that emit never imports it."""
    import subprocess

    code = (
        "import sys; from constraints_gen.profiles.project import cache_dir; cache_dir();"
        " print('platformdirs' in sys.modules, 'filelock' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert (done.returncode, done.stdout) == (0, "False False\n"), done.stderr


def test_the_windows_lock_waits_for_a_holder_and_says_so(tmp_path: Path) -> None:
    """fsutil.library_lock is exclusive_lock on Windows (filelock); here filelock runs it over
    flock, so it must wait for a holder of the POSIX lock on the same file, and report the wait."""
    path = tmp_path / "generated" / ".lock"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with fsutil.exclusive_lock(path):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(30)
    waited: list[float] = []
    timer = threading.Timer(0.3, release.set)
    timer.start()
    start = time.monotonic()
    with fsutil.library_lock(path, on_wait=lambda: waited.append(time.monotonic() - start)):
        got = time.monotonic() - start
    thread.join(30)
    timer.cancel()
    assert len(waited) == 1 and waited[0] <= got  # told before blocking
    assert got >= 0.25  # and did not get the lock while it was held
    # free: no wait, no message; then the POSIX lock is free again for the next one
    with fsutil.library_lock(path, on_wait=lambda: waited.append(-1.0)):
        pass
    with fsutil.exclusive_lock(path, on_wait=lambda: waited.append(-2.0)):
        pass
    assert len(waited) == 1
