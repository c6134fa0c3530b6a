"""Giving a file to another user, as the cache-ownership tests need."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

#: A uid no account on a test machine has.
OTHER_UID = 12345


def give_away(path: Path, uid: int = OTHER_UID) -> None:
    """chown ``path`` to ``uid``; skip the test where that uid cannot exist here: in a user
    namespace that maps only this user (``unshare -r``), chown to an unmapped uid is EINVAL."""
    try:
        os.chown(path, uid, -1)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            pytest.skip(f"uid {uid} is not mapped in this user namespace")
        raise
