"""The no-op path of ``sync`` and ``verify``: an environment in which nothing changed costs a
stat of what the last verify checked and, for ``sync``, uv's own check, not the loading of every
profile and the whole verify machinery.

Two caches stand behind it, each under the rules of :mod:`constraints_gen.caches` (sealed,
owner-only, a malformed or forged entry is a miss):

- the **environment answer** (an entry of emit's answer cache,
  :mod:`constraints_gen.locks.answers`): which profile, interpreter, CPython and lock a
  command with these options works on, and what the environment state needs of the profile
  (its vendor, ``[verify] imports`` and the names of its stack). Its key is the question: the
  command, its options (``--profile``, ``--python``, else ``$VIRTUAL_ENV``, the readout; with
  neither a profile nor a readout, this machine as detected on this run, once), the
  project, the code (the tool's version and the identity of each of its modules),
  ``$GEN_CONSTRAINTS_MIRRORS`` (digested) and this machine's platform (a profile's build for
  it). Its inputs' identities (device, inode, size, mtime and ctime) are compared on every
  hit: every ``profiles/*.toml`` (the listing too, in the key), the readout file,
  ``constraints-gen.toml``, the target's ``pyvenv.cfg`` and its interpreter (the real path, in
  the key). The mirror folders' listings are compared, and the lock is read whole on every
  hit: its body must match the digest in its header and its header must be the one the answer
  was stored with, naming the profile, CPython and platform. Only answers from a committed
  lock are kept (as emit's), and only when no input changed around the command's start
  (:func:`constraints_gen.caches.racy`);
- the **environment state** (:mod:`constraints_gen.install.state`): what the last passing deep
  verify checked, compared by a stat of every file and folder it named.

Both hold: ``verify`` reports the stored verdict; ``sync`` runs uv's check (uv's own, every time:
the drift is uv's to say) while the state is compared on a thread, and is done when uv reports
nothing to change. Anything else (a miss, drift, a change, ``--full``, ``--no-deep``): the whole
path runs, as before, and stores the answer for the next run (:func:`resolve`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constraints_gen import caches
from constraints_gen.errors import ConstraintsGenError
from constraints_gen.install import state
from constraints_gen.install.interpreter import Target, interpreter
from constraints_gen.locks import answers
from constraints_gen.profiles.project import Project, find_project
from constraints_gen.redact import url_digest
from constraints_gen.reporter import REPORT, Kind

if TYPE_CHECKING:
    from constraints_gen.detect.hardware import Hardware
    from constraints_gen.install.findings import Report
    from constraints_gen.install.repair import Repaired
    from constraints_gen.install.sync import Environment
    from constraints_gen.profiles.model import ProfileSet

#: One environment answer (see the module doc).
_ANSWER = caches.record(
    inputs=answers.INPUTS,
    profile=caches.is_str,
    platform=caches.is_str,
    layout=caches.optional(caches.is_str),
    vendor=caches.is_str,
    imports=caches.optional(caches.list_of(caches.is_str)),
    stack=caches.list_of(caches.is_str),
    python=caches.is_str,
    version=caches.is_str,
    lock_head=caches.is_str,
    packages=caches.is_int,
    messages=answers.SAID,
    folders=answers.FOLDERS,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """A served environment answer: the target, its lock (read and checked now) and what the
    environment state needs of the profile."""

    target: Target
    vendor: str
    imports: tuple[str, ...] | None
    stack: tuple[str, ...]
    lock_digest: str  # the sha256 of the lock's bytes, as read now
    said: tuple[tuple[Kind, str], ...]  # what the command said when it worked this out


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """One look in the cache: the answer when it holds (``hit``), else what storing the answer
    the whole path works out needs (the key, and its inputs' identities before the work)."""

    project: Project
    key: dict[str, Any] | None  # None: not cached (no target)
    before: answers.Inputs | None
    started: int
    hit: Settled | None
    hardware_file: Path | None
    detected: Hardware | None = None  # this machine, when the lookup detected it

    def machine(self) -> Hardware:
        """The machine the command works for: the one the lookup detected (detected once a
        run), else read from the readout or detected now (:func:`profiles.choose.read_machine`)."""
        if self.detected is not None:
            return self.detected
        from constraints_gen.profiles.choose import read_machine

        return read_machine(self.hardware_file)


def _machine() -> str:
    return os.uname().machine if hasattr(os, "uname") else sys.platform


def lookup(
    command: str,
    *,
    root: Path | None,
    hardware_file: Path | None,
    profile: str | None,
    python: str | None,
) -> Lookup:
    """Look for the environment answer of ``command`` (``sync`` or ``verify``) with these
    options; a miss says nothing and costs a few stats."""
    from constraints_gen.profiles.choose import HARDWARE_ENV

    started = time.time_ns()
    project = find_project(root)
    readout_env = os.environ.get(HARDWARE_ENV) if hardware_file is None else None
    found = answers.selection_files(project, hardware_file, profile, readout_env)
    detected = None
    if found is None:  # no readout and no profile: this machine, detected now (once a run)
        from constraints_gen.profiles.choose import read_machine

        detected = read_machine(None)
        found = (answers.profile_files(project), caches.canonical(detected.to_json()))
    try:
        target = interpreter(python)
    except ConstraintsGenError:
        target = None  # the whole path says why
    if target is None:
        return Lookup(project=project, key=None, before=None, started=started, hit=None,
                      hardware_file=hardware_file, detected=detected)  # fmt: skip
    files, readout = found
    real = os.path.realpath(target)
    files += [str(project.root / "constraints-gen.toml"), str(target.parent.parent / "pyvenv.cfg")]
    files.append(real)
    key = {
        "command": command,
        "mirrors": None
        if (mirrors := os.environ.get("GEN_CONSTRAINTS_MIRRORS")) is None
        else url_digest(mirrors),
        "code": answers.code_key(),
        "root": str(project.root),
        "builtin": project.builtin,
        "profile": profile,
        "readout": readout,
        "target": str(target),
        "real": real,
        "here": [sys.platform, _machine()],
        "files": files,
    }
    hit = _served(project, key, target)
    REPORT.debug(f"environment answer: {'cached' if hit is not None else 'not cached'}")
    before = None if hit is not None else answers.inputs(files)
    return Lookup(project=project, key=key, before=before, started=started, hit=hit,
                  hardware_file=hardware_file, detected=detected)  # fmt: skip


def _served(project: Project, key: dict[str, Any], target: Path) -> Settled | None:
    value = answers.ANSWERS.get(key, _ANSWER)
    if value is None or [path for path, _ in value["inputs"]] != key["files"]:
        return None
    if not answers.unchanged(value["inputs"]) or not answers.listings_still(value["folders"]):
        return None
    if value["python"] != str(target):
        return None
    profile, version, head = value["profile"], value["version"], value["lock_head"]
    if not answers.head_names(head, profile, version, value["platform"]):
        return None
    lock = project.lock_path(profile, version, value["layout"])
    try:
        data = lock.read_bytes()
    except OSError:
        return None
    sealed = answers.split_sealed(data)
    if sealed is None or sealed[0] != head:
        return None  # the lock is not the one the answer stands on: worked out again
    return Settled(
        target=Target(
            profile=profile, python=target, version=version, lock=lock, packages=value["packages"]
        ),
        vendor=value["vendor"],
        imports=None if value["imports"] is None else tuple(value["imports"]),
        stack=tuple(value["stack"]),
        lock_digest=hashlib.sha256(data).hexdigest(),
        said=tuple((kind, line) for kind, line in value["messages"]),
    )


def resolve(
    found: Lookup,
    work: Callable[[], tuple[ProfileSet, Environment]],
) -> tuple[ProfileSet, Environment]:
    """The whole path: ``work`` chooses the profile and the environment (what it says is said,
    and kept); its answer is stored for the next run when nothing changed meanwhile and the
    lock is a committed one."""
    with REPORT.capture() as said:
        profiles, env = work()
    key, before = found.key, found.before
    if key is None or before is None or env.on_demand or str(env.python) != key["target"]:
        return profiles, env
    if not answers.settled(before, found.started) or answers.inputs(key["files"]) != before:
        return profiles, env
    chosen = env.profile
    pair = answers.stored_pair(
        found.project, chosen.name, env.version, chosen.platform, chosen.layout_platform,
        found.started,
    )  # fmt: skip
    if pair is None or found.project.lock_path(
        chosen.name, env.version, chosen.layout_platform
    ) != Path(env.lock.path):
        return profiles, env
    value = {
        "inputs": before,
        "profile": chosen.name,
        "platform": chosen.platform,
        "layout": chosen.layout_platform,
        "vendor": chosen.vendor,
        "imports": None if chosen.verify_imports is None else list(chosen.verify_imports),
        "stack": state.stack_names(chosen, profiles.manifest),
        "python": str(env.python),
        "version": env.version,
        "lock_head": pair["lock_head"],
        "packages": len(env.lock.packages),
        "messages": [list(message) for message in said],
        "folders": [[folder, list(names)] for folder, names in env.folders],
    }
    answers.ANSWERS.put(key, value)
    REPORT.debug("environment answer: stored")
    return profiles, env


# --- serving ---------------------------------------------------------------------------------


def _verify(settled: Settled, found: Lookup) -> tuple[Report, list[Any]] | None:
    """The stored verdict of the environment when its state holds (nothing is said: the
    messages are returned, to be said when served)."""
    target = settled.target
    machine = None
    with REPORT.capture(silent=True) as said:
        if settled.vendor != "cpu":
            machine = found.machine()
    needs = state.depends(
        python=target.python,
        lock_digest=settled.lock_digest,
        profile=target.profile,
        vendor=settled.vendor,
        imports=settled.imports,
        stack=settled.stack,
        deep=True,
        machine=state.machine_digest(machine),
    )
    prior = state.load(target.python, needs)
    if prior is None:
        return None
    comparison = state.compare(prior, time.time_ns(), needs)
    report = state.unchanged_report(
        target.python, target.version, target.profile, prior, comparison
    )
    return None if report is None else (report, said)


def verify(settled: Settled, found: Lookup) -> Report | None:
    """``verify`` (deep, not ``--full``) of an environment whose state holds: the stored
    verdict, the answer's messages said again; None when anything changed (nothing said)."""
    served = _verify(settled, found)
    if served is None:
        return None
    REPORT.replay([*settled.said, *served[1]])
    REPORT.debug(f"verify: {served[0].rechecked}")
    return served[0]


def sync(settled: Settled, wheelhouse: str, found: Lookup, *, check: bool) -> Repaired | None:
    """``sync`` (deep, not ``--full``) of an environment uv finds in sync: uv's check runs while
    the state is compared on a thread (``check``: uv's check alone); None when uv reports drift
    or cannot check, or the state does not hold (nothing said: the whole path runs)."""
    from constraints_gen.background import ahead
    from constraints_gen.errors import ToolError
    from constraints_gen.install import sync as uv
    from constraints_gen.install.repair import Repaired

    target = settled.target
    args = uv.uv_args(target.lock, target.python, wheelhouse, check=True)
    # uv starts first, on a thread that then only waits on it; this thread walks the state
    # meanwhile (started the other way round, the walk holds the interpreter while uv's start
    # waits for it)
    checked = ahead(uv.check_drift, args, uv.uv_env(wheelhouse), name="uv-check")
    served = None if check else _verify(settled, found)
    try:
        changes = checked()
    except ToolError:
        changes = None  # uv could not report (the wheelhouse lacks wheels): the whole path
    if changes != ():
        return None
    verified = None
    said: list[Any] = []
    if not check:
        if served is None:
            return None
        verified, said = served
    REPORT.replay([*settled.said, *said])
    if verified is not None:
        REPORT.debug(f"verify: {verified.rechecked}")
    return Repaired(
        target=target,
        wheelhouse=wheelhouse,
        changes=(),
        applied=False,
        lacking={},
        lacking_error=None,
        verified=verified,
    )
