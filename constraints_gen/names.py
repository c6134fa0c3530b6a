"""Project names (PEP 503 normalisation), without importing ``packaging.utils``.

``packaging.utils`` pulls in ``packaging.tags`` (about 8 ms), which the emit path never needs.
"""

from __future__ import annotations

import re

# The name rule of the core metadata specification (the same pattern packaging.utils uses).
_VALID = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_RUNS = re.compile(r"[-_.]+")


def is_valid_name(name: str) -> bool:
    return _VALID.match(name) is not None


def canonical_name(name: str) -> str:
    """``"Foo_Bar.baz"`` -> ``"foo-bar-baz"``."""
    return _RUNS.sub("-", name).lower()
