"""``python -m testenv``: lock, check and vary this project's test environment (see __init__)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from constraints_gen.errors import EXIT_FAILURE, ConstraintsGenError, StaleLocks
from testenv import lockfile, resolve, variants

ROOT = Path(__file__).resolve().parent.parent


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m testenv", description=__doc__)
    top.add_argument("--root", type=Path, default=ROOT, help="the project (default: this one)")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "check", help=f"is {lockfile.LOCK} fresh? offline: 0 fresh, 1 stale, 2 damaged"
    )
    lock = commands.add_parser("lock", help=f"refresh {lockfile.LOCK} when stale (uv, the index)")
    lock.add_argument("--upgrade", action="store_true", help="every package to its newest release")
    lock.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    lock.add_argument("--fail-on-change", action="store_true", help="exit 1 when it wrote")
    lock.add_argument(
        "--uv-arg", action="append", default=[], metavar="ARG", help="passed to uv pip compile"
    )
    for name, what in (
        ("newest", "every dependency at its newest release"),
        ("lowest", "each direct dependency at its floor (uv --resolution lowest-direct)"),
    ):
        commands.add_parser(
            name,
            help=f"the suite in .venv-{name}: {what}; other arguments go to pytest",
            epilog=f"example: python -m testenv {name} -x tests/test_piptools.py",
        )
    return top


def check(root: Path) -> int:
    path = root / lockfile.LOCK
    if not path.exists():
        raise StaleLocks(f"{lockfile.LOCK}: missing", tip=f"create it: {lockfile.REGENERATE}")
    reasons = lockfile.stale_reasons(
        lockfile.read(path), lockfile.read_inputs(root / "pyproject.toml")
    )
    if not reasons:
        print(f"{lockfile.LOCK}: fresh", file=sys.stderr)
        return 0
    raise StaleLocks(
        f"{lockfile.LOCK}: stale: " + "; ".join(reasons), tip=f"refresh it: {lockfile.REGENERATE}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args, pytest_args = top.parse_known_args(argv)
    if pytest_args and args.command not in ("newest", "lowest"):
        top.error(f"unrecognized arguments: {' '.join(pytest_args)}")
    root: Path = args.root.resolve()
    try:
        if args.command == "check":
            return check(root)
        if args.command == "lock":
            options = resolve.Options(
                upgrade=args.upgrade,
                upgrade_packages=tuple(args.upgrade_package),
                uv_args=tuple(args.uv_arg),
            )
            changed = resolve.lock(root, options)
            print(f"{lockfile.LOCK}: {'written' if changed else 'unchanged'}", file=sys.stderr)
            if changed and args.fail_on_change:
                print(f"{lockfile.LOCK} changed: review it (git diff), commit it", file=sys.stderr)
                return EXIT_FAILURE
            return 0
        venv, installed = variants.prepare(root, args.command)
        print(installed, end="", file=sys.stderr)
        return variants.run_suite(root, venv, pytest_args or ["-q"])
    except ConstraintsGenError as exc:
        print(f"ERROR: {exc.message}", file=sys.stderr)
        if exc.tip:
            print(f"TIP: {exc.tip}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
