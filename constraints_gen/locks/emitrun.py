"""Emit as the default command runs it: the answer cache first, else select and emit, and the
answer stored for next time (:mod:`constraints_gen.locks.answers`).

A hit replays what emit said (through :data:`constraints_gen.reporter.REPORT`) and returns the
constraints file's own bytes, read and checked now; it imports neither the profile model nor the
selection (:mod:`constraints_gen.profiles.choose` and :mod:`constraints_gen.locks.emit` load only
on a miss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from constraints_gen.locks import answers
from constraints_gen.profiles.project import find_project
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.locks.emit import Emitted
    from constraints_gen.profiles.project import Project


@dataclass(frozen=True, slots=True, kw_only=True)
class EmitAnswer:
    """What emit answers: the whole constraints text and where it comes from."""

    text: str
    profile: str
    python: str
    path: Path  # the constraints file (committed or cached on demand)
    cached: bool  # served from the answer cache

    def describe(self) -> str:
        """The notice emit ends with."""
        return f"profile {self.profile}, CPython {self.python} ({self.path})"


def emitted(
    *,
    root: Path | None,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
    project: Project | None = None,
) -> Emitted:
    """Select (or take) the profile and build its constraints; what emit says goes to REPORT."""
    from constraints_gen.locks.emit import emit
    from constraints_gen.profiles.choose import choose_profile

    project, profiles, chosen = choose_profile(root, hardware, profile, project)
    return emit(project, profiles, chosen, python=python, strict=strict)


def answer_emit(
    *,
    root: Path | None,
    hardware: Path | None,
    profile: str | None,
    python: str | None,
    strict: bool,
) -> EmitAnswer:
    """Emit's answer, from the answer cache when none of its inputs changed (see
    :mod:`constraints_gen.locks.answers`), else worked out and stored."""
    import time

    from constraints_gen.profiles.choose import HARDWARE_ENV

    project = find_project(root)
    env = os.environ.get(HARDWARE_ENV) if hardware is None else None
    found = answers.emit_key(
        project, hardware=hardware, profile=profile, python=python, strict=strict, hardware_env=env
    )
    before: answers.Inputs | None = None
    if found is not None:
        key, files = found
        hit = answers.load_emit(project, key)  # the constraints' own bytes, checked now
        if hit is not None:
            text, said, pair = hit
            REPORT.replay(said)
            path = project.constraints_path(pair["profile"], pair["python"], pair["layout"])
            return EmitAnswer(
                text=text, profile=pair["profile"], python=pair["python"], path=path, cached=True
            )
        before = answers.inputs(files)
    started = time.time_ns()
    with REPORT.capture() as said:  # what emit says, the cached answer says again
        result = emitted(
            root=root,
            hardware=hardware,
            profile=profile,
            python=python,
            strict=strict,
            project=project,
        )
    if found is not None and before is not None and not result.on_demand:
        chosen = result.profile  # the pair emit read: the lock and its constraints.txt
        answers.store_emit(
            project,
            found[0],
            before,
            started,
            profile=chosen.name,
            python=result.python,
            platform=chosen.platform,
            layout=chosen.layout_platform,
            text=result.text,
            options=result.index_options,
            said=said,
            folders=result.mirror_folders,
        )
    return EmitAnswer(
        text=result.text,
        profile=result.profile.name,
        python=result.python,
        path=result.path,
        cached=False,
    )
