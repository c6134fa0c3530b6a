"""The optional pip-tools backend: resolve with ``pip-compile`` instead of uv.

For teams that cannot use uv. Same inputs (manifest.in, pins.txt, overrides.txt), same output
format (hashed requirements, line annotations), same pins. Limits, from pip-compile itself:

- it resolves for the interpreter it runs under: it cannot lock another CPython version or
  platform, so every target must match the running Python and this machine;
- it has no overrides: a profile's overrides are passed as constraints, which is the same unless
  a dependency excludes the overridden version (then pip-compile fails and says so);
- no ``--offline``. pip's own configuration (pip.conf, ``PIP_*``) is ignored, as uv's is.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from constraints_gen.errors import ConstraintsGenError
from constraints_gen.locks.resolver import LockOptions, Resolver, pip_source_env, source_args
from constraints_gen.uvplatforms import platform_matches, running_python

if TYPE_CHECKING:
    from constraints_gen.profiles.model import Profile

#: pip settings that would change what pip-compile sees (None removes the variable).
ENV: Mapping[str, str | None] = {
    "PIP_CONFIG_FILE": os.devnull,
    **dict.fromkeys(
        (
            "PIP_INDEX_URL",
            "PIP_EXTRA_INDEX_URL",
            "PIP_FIND_LINKS",
            "PIP_NO_INDEX",
            "PIP_CONSTRAINT",
            "PIP_REQUIRE_HASHES",
            "PIP_ONLY_BINARY",
            "PIP_NO_BINARY",
        )
    ),
}


class PipToolsResolver(Resolver):
    """``pip-compile`` (pip-tools), run by this interpreter: ``lock --resolver pip-tools``."""

    name = "pip-tools"
    starts_early = False  # check() refuses all targets at once, before pip-compile runs

    def check(self, targets: Sequence[tuple[Profile, str]]) -> None:
        """Fail early (exit 2) when pip-compile is missing or cannot lock one of the targets."""
        if importlib.util.find_spec("piptools") is None:
            raise ConstraintsGenError(
                "--resolver pip-tools: pip-tools is not installed in this environment",
                tip="pip install 'constraints-gen[pip-tools]'",
            )
        here = running_python()
        wrong = [
            f"{profile.name} (CPython {python}, {profile.platform})"
            for profile, python in targets
            if python != here or not platform_matches(profile.platform)
        ]
        if wrong:
            raise ConstraintsGenError(
                "--resolver pip-tools resolves for the running interpreter (CPython"
                f" {here}, {sys.platform} {platform.machine()}) and cannot lock: "
                + ", ".join(wrong),
                tip=f"limit the targets with --python {here}, or lock them with uv (the default)",
            )

    def compile_args(self, profile: Profile, python: str, options: LockOptions) -> list[str]:
        """pip-compile's command line for one profile (``python`` is the running one, as
        :meth:`check` made sure), run in the folder of its input files."""
        if options.offline:
            raise ConstraintsGenError("--offline is not supported with --resolver pip-tools")
        args = [
            sys.executable, "-m", "piptools", "compile", "manifest.in",
            "--constraint", "pins.txt", "--constraint", "overrides.txt", "--output-file", "out.txt",
            "--no-config", "--no-header", "--generate-hashes", "--annotation-style", "line",
            "--no-emit-index-url", "--no-emit-find-links", "--no-emit-options", "--allow-unsafe",
            "--strip-extras", "--quiet", "--pip-args", "--only-binary=:all:",
        ]  # fmt: skip
        return args + source_args(profile, options)

    def env(self, profile: Profile, options: LockOptions) -> dict[str, str | None]:
        return {**ENV, **pip_source_env(profile, options)}
