"""``gen-constraints plan READOUT...``: readouts -> each machine's profile, and the targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from constraints_gen.cli.core import complete_with, json_option, root_option, write_out
from constraints_gen.errors import InputError, NoFitError

if TYPE_CHECKING:
    from constraints_gen.profiles.plan import Machine, Plan, Status

#: Names shown per target in the table; the JSON lists every one.
SHOWN = 6


@click.command("plan")
@click.argument("readouts", nargs=-1, type=click.Path(path_type=Path))
@root_option
@click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="X.Y",
    shell_complete=complete_with("python_versions"),
    help="Only these CPythons (default: each selected profile's target Pythons).",
)
@json_option
def plan_cmd(
    readouts: tuple[Path, ...], root: Path | None, pythons: tuple[str, ...], as_json: bool
) -> None:
    """Plan a fleet: which profile each machine's readout selects, and the targets they need.

    READOUT is a file, a folder (each regular file in it), or - for stdin (the default when
    none is given). Each holds readouts as `gen-constraints detect --json` prints them, in
    these forms: JSON documents back to back or JSON lines (a top-level "host" key names the
    machine); `srun --label` output (lines "N: ...", regrouped by task; host "task N"); Ansible
    ad-hoc output (`HOST | CHANGED | rc=0 >>` heads each host; FAILED and UNREACHABLE hosts are
    bad readouts; not -o/--one-line). A file holding one readout names its machine after the
    file (n17.json: n17). Lines "gen-constraints: ..." (the tool's own notes) are skipped.

    A target is (profile, CPython, platform): `wheelhouse fill --plan PLAN.json` fills exactly
    the plan's targets. A bad readout is named (file:line, host) and never stops the others.
    Exit 0 every machine fits a profile, 1 some fit none (the reasons and tips say why), 2 a
    readout could not be read (the plan of the others is printed all the same).

    \b
    Examples:
      srun -N 64 --ntasks-per-node=1 -o 'readouts/%N.json' gen-constraints detect --json
      gen-constraints plan readouts/
      srun -N 64 --ntasks-per-node=1 --label gen-constraints detect --json | gen-constraints plan
      ansible gpu -m command -a 'gen-constraints detect --json' > fleet.log
      gen-constraints plan --json fleet.log > plan.json
    """
    from constraints_gen.profiles.plan import plan_fleet

    plan = plan_fleet(root, readouts, pythons)
    write_out(json.dumps(plan.to_json(), indent=2) + "\n" if as_json else render(plan))
    unreadable, no_fit = plan.of("unreadable"), plan.of("no fit")
    if unreadable:
        problems = [f"{_label(m)}: {p}" for m in unreadable for p in m.reasons]
        raise InputError(
            [f"{len(unreadable)} of {len(plan.machines)} readouts cannot be read", *problems],
            tip=_fit_tip(no_fit),
        )
    if no_fit:
        names = ", ".join(_label(m) for m in no_fit[:SHOWN])
        more = f" and {len(no_fit) - SHOWN} more" if len(no_fit) > SHOWN else ""
        raise NoFitError(
            f"{len(no_fit)} of {len(plan.machines)} machines fit no profile: {names}{more}",
            tip=_fit_tip(no_fit),
        )


def _fit_tip(no_fit: tuple[Machine, ...]) -> str | None:
    if not no_fit:
        return None
    return (
        "see each machine's reasons above; upgrade its driver, give it a CPU build"
        " (sync --profile), or add a profile that fits it"
    )


def _label(machine: Machine) -> str:
    return machine.source if machine.host is None else f"{machine.host} ({machine.source})"


def render(plan: Plan) -> str:
    """The table: one line per machine, then the targets, then why machines fit nothing."""
    rows = [("HOST", "SOURCE", "PROFILE", "PLATFORM")]
    for m in plan.machines:
        shown = m.profile if m.profile is not None else m.status.upper()
        rows.append((m.host or "-", m.source, shown, m.platform or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines += ["", f"targets ({len(plan.targets)}; `wheelhouse fill --plan` fills these):"]
    for t in plan.targets:
        names = ", ".join(t.machines[:SHOWN])
        more = f", and {len(t.machines) - SHOWN} more" if len(t.machines) > SHOWN else ""
        count = f"{len(t.machines)} machine{'s' if len(t.machines) != 1 else ''}"
        lines.append(f"  {t.profile}, CPython {t.python}, {t.platform}: {count} ({names}{more})")
    if not plan.targets:
        lines.append("  none")
    sections: tuple[tuple[Status, str], ...] = (
        ("no fit", "fit no profile"),
        ("unreadable", "cannot be read"),
    )
    for status, title in sections:
        chosen = plan.of(status)
        if chosen:
            lines += ["", f"{len(chosen)} machines {title}:"]
            for m in chosen:
                lines.append(f"  {_label(m)}:")
                lines += [f"    {reason}" for reason in m.reasons]
                lines += [f"    tip: {tip}" for tip in m.tips]
    return "\n".join(lines) + "\n"
