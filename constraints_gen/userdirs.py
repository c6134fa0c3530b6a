"""The user's cache folder on each operating system the tool runs on.

macOS and Windows: from platformdirs, the library pip and virtualenv use
(``~/Library/Caches/<app>``; ``%LOCALAPPDATA%\\<app>\\Cache``, read through the Windows shell
API), imported only there.
Linux: the XDG Base Directory rule (``$XDG_CACHE_HOME``, an absolute path, else ``~/.cache``),
written out here because it is what platformdirs answers on Linux too, and importing platformdirs
would sit on emit's path (the answer cache lives in this folder): measured on the 2-core Linux
machine, importing it after emit's own imports took 14-58 ms (median 30 ms, 9 runs; it brings
tempfile, shutil, random, bz2 and lzma), against emit's margin of 9.6 ms (BENCHMARKS.md). On macOS
and Windows emit pays that import: correct folders first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "constraints-gen"


def user_cache_dir(
    system: str | None = None, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """This user's cache folder for the tool. ``system`` (``sys.platform``), ``environ`` and
    ``home`` stand in for the real ones in tests (``environ``/``home``: Linux only)."""
    system = sys.platform if system is None else system
    if system == "darwin":
        from platformdirs.macos import MacOS

        return Path(MacOS(APP, appauthor=False).user_cache_dir)
    if system == "win32":
        from platformdirs.windows import Windows

        return Path(Windows(APP, appauthor=False).user_cache_dir)
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the spec says to ignore it
        return (Path.home() if home is None else home) / ".cache" / APP
    return Path(base) / APP
