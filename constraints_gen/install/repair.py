"""The repair flow of ``gen-constraints sync``: drift, install, verify, reinstall what broke.

One call, :func:`repair`, decides it all and returns a :class:`Repaired` that the command renders
(text or ``--json``); a second caller gets the same decisions. In order:

1. uv reports the drift of the environment from its lock (``uv pip sync --check``); when the
   wheelhouse lacks wheels uv cannot even report, the drift of the rest of the lock is asked of
   uv and each lacking package is compared by its installed version
   (:func:`constraints_gen.install.sync.drift_without`);
2. with drift (and not ``check``), the lacking wheels are named before uv would call them a
   resolver error; when none lack, uv syncs;
3. an environment in sync (now or already) is verified in the target; the packages a reinstall
   repairs (files that differ from their RECORD) are reinstalled and verified again.

While uv checks, verify's stat walk already runs (:func:`prepare`): a no-op sync costs the longer
of the two, not their sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constraints_gen.errors import ConstraintsGenError, ToolError
from constraints_gen.reporter import REPORT

if TYPE_CHECKING:
    from constraints_gen.detect.hardware import Hardware
    from constraints_gen.install.findings import Report
    from constraints_gen.install.interpreter import Target
    from constraints_gen.install.sync import Change, Environment
    from constraints_gen.install.verify import Prepared
    from constraints_gen.profiles.manifest import Manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class Repaired:
    """What :func:`repair` found and did."""

    target: Target
    wheelhouse: str
    changes: tuple[Change, ...]  # the drift found before any change
    applied: bool  # uv synced the environment
    lacking: Mapping[str, str]  # name -> ``name==version`` (and why) the wheelhouse lacks
    lacking_error: ConstraintsGenError | None  # the error that names them, and the fill
    verified: Report | None  # None: not verified (``check``, or drift left)

    @property
    def in_sync(self) -> bool:
        return self.applied or not self.changes

    def counts(self) -> tuple[int, int, int]:
        """How many changes install, replace and remove."""
        install, replace, remove = (
            sum(c.action == a for c in self.changes) for a in ("install", "replace", "remove")
        )
        return install, replace, remove

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "profile": self.target.profile,
            "python": self.target.version,
            "environment": str(self.target.python),
            "lock": str(self.target.lock),
            "wheelhouse": self.wheelhouse,  # masked by the CLI's output, as all output
            "in_sync": self.in_sync,
            "applied": self.applied,
            "lacking": list(self.lacking.values()),
            # null: not verified (--check, or drift left); else verify's verdict and findings
            "verified": None if self.verified is None else self.verified.ok,
            "findings": []
            if self.verified is None
            else [f.to_json() for f in self.verified.findings],
            "changes": [
                {"name": c.name, "action": c.action, "installed": c.old, "locked": c.new}
                for c in self.changes
            ],
        }


def fill_command(
    folder: Path,
    root: Path | None,
    profiles: list[str],
    python: str | None = None,
    *,
    prune: bool = False,
) -> str:
    """The ``gen-constraints wheelhouse fill`` command line that fills ``folder`` (for tips)."""
    parts = ["gen-constraints", "wheelhouse", "fill"] + (["--prune"] if prune else [])
    parts += [f"--profile {name}" for name in profiles]
    parts += [f"--python {python}"] if python is not None else []
    parts += [f"--wheelhouse {folder}"] + ([f"--root {root}"] if root is not None else [])
    return " ".join(parts)


def lacking_error(
    env: Environment, wheelhouse: str, root: Path | None, missing: Mapping[str, str]
) -> ConstraintsGenError:
    """The wheelhouse lacks ``missing``: which wheels, and the command that fetches them."""
    from constraints_gen.profiles.config import local_folder

    name, version = env.profile.name, env.version
    served = local_folder(wheelhouse) is None  # fill a folder, then index and serve it
    fix = fill_command(Path("DIR" if served else wheelhouse), root, [name], version)
    if served:
        fix += ", then `gen-constraints wheelhouse index DIR` and serve DIR"
    return ConstraintsGenError(
        f"wheelhouse {wheelhouse} lacks {len(missing)} wheels of profile {name}"
        f" (CPython {version}): {', '.join(missing.values())}",
        tip=f"fill it: {fix}",
    )


def prepare(
    env: Environment, manifest: Manifest, machine: Callable[[], Hardware], *, deep: bool, full: bool
) -> Callable[[], Prepared]:
    """Start the part of verify that runs no probe (the state's stat walk) on a thread of its
    own, to run while uv checks the environment."""
    from constraints_gen.install.verify import prepare_ahead

    return prepare_ahead(
        python=env.python,
        profile=env.profile,
        manifest=manifest,
        lock_path=env.lock.path,
        read_machine=machine,
        deep=deep,
        full=full,
    )


def verify_env(
    env: Environment,
    manifest: Manifest,
    machine: Callable[[], Hardware],
    *,
    deep: bool,
    full: bool,
    prepared: Prepared | None = None,
) -> Report:
    """Verify ``env`` against its lock (``machine`` is asked only when a GPU check needs it:
    see :meth:`constraints_gen.install.noop.Lookup.machine`)."""
    from constraints_gen.install.verify import verify

    report = verify(
        python=env.python,
        python_version=env.version,
        profile=env.profile,
        manifest=manifest,
        locked=env.lock.packages,
        lock_path=env.lock.path,
        read_machine=machine,
        deep=deep,
        full=full,
        prepared=prepared,
    )
    REPORT.debug(f"verify: {report.rechecked}")
    return report


def verify_repairing(
    env: Environment,
    manifest: Manifest,
    machine: Callable[[], Hardware],
    *,
    deep: bool,
    full: bool,
    reinstall: Callable[[Sequence[str]], None],
    prepared: Prepared | None = None,
) -> Report:
    """Verify; reinstall the packages a reinstall repairs, verify again. ``prepared``:
    :func:`prepare`'s result, when uv changed nothing since it started."""
    report = verify_env(env, manifest, machine, deep=deep, full=full, prepared=prepared)
    broken = report.repairable
    if broken:
        for finding in report.findings:
            if finding.repair is not None:
                REPORT.notice(f"{finding.check}: {finding.message}")
        REPORT.notice(f"reinstalling {', '.join(broken)}")
        reinstall(broken)
        report = verify_env(env, manifest, machine, deep=deep, full=full)
    return report


def repair(
    env: Environment,
    manifest: Manifest,
    wheelhouse: str,
    machine: Callable[[], Hardware],
    *,
    root: Path | None,
    check: bool,
    deep: bool,
    full: bool,
) -> Repaired:
    """Make ``env`` its lock from ``wheelhouse`` and verify it (only report the drift when
    ``check``). ``root``: the project folder as the user named it, for the fill command of a
    tip. Raises the :func:`lacking_error` when a reinstall needs wheels the wheelhouse lacks."""
    from constraints_gen.install import sync

    lock, target = env.lock, env.python
    uv_env = sync.uv_env(wheelhouse)
    ahead = None if check else prepare(env, manifest, machine, deep=deep, full=full)
    missing: dict[str, str] = {}
    try:
        changes = sync.check_drift(sync.uv_args(lock.path, target, wheelhouse, check=True), uv_env)
    except ToolError:  # uv needs the wheels even to report: ask it about the rest of the lock
        missing = sync.missing_wheels(lock, wheelhouse)
        if not missing:
            raise
        changes = sync.drift_without(lock, missing, target, wheelhouse)
    if changes and not check and not missing:  # said plainly, before uv calls it a resolver error
        missing = sync.missing_wheels(lock, wheelhouse)
    applied = False
    if changes and not check and not missing:
        REPORT.info(sync.sync(sync.uv_args(lock.path, target, wheelhouse), uv_env).rstrip("\n"))
        applied = True
    verified = None
    if not check and (applied or not changes):  # what uv installed, checked in the target;
        # half-written packages reinstalled

        def reinstall(names: Sequence[str]) -> None:
            lacking = sync.missing_wheels(lock, wheelhouse)
            if lacking:
                raise lacking_error(env, wheelhouse, root, lacking)
            args = sync.uv_args(lock.path, target, wheelhouse, reinstall=names)
            REPORT.info(sync.sync(args, uv_env).rstrip("\n"))

        prepared = None if applied or ahead is None else ahead()  # uv changed it: walk again
        verified = verify_repairing(
            env,
            manifest,
            machine,
            deep=deep,
            full=full,
            reinstall=reinstall,
            prepared=prepared,
        )
    return Repaired(
        target=env.target,
        wheelhouse=wheelhouse,
        changes=changes,
        applied=applied,
        lacking=missing,
        lacking_error=lacking_error(env, wheelhouse, root, missing) if missing else None,
        verified=verified,
    )
