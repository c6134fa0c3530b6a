"""No-op ``sync`` and ``verify`` of a REAL environment, side by side with uv (issue 17).

Not part of ``bench/run.py`` or CI: it needs a filled wheelhouse (hundreds of MB) and a venv
synced from it. BENCHMARKS.md says how to make both offline. Usage::

    python -m bench.environment --venv V --wheelhouse W [--profile cpu] [--repeats 7]
        [--baseline OLD_CHECKOUT]    # also time that checkout's `verify` (today's full verify)

Each round runs every case once, in turn (bench/harness.py: alternate), so load hits all alike;
medians and interquartile ranges are printed as a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

from bench.harness import ENV, Case, alternate

GEN = [sys.executable, "-m", "constraints_gen"]


def printed_uv(common: list[str], wheelhouse: str, *, check: bool) -> list[str]:
    """The uv line ``sync --print-command`` prints (it runs as printed)."""
    flags = ["--print-command", *(["--check"] if check else [])]
    out = subprocess.run(
        [*GEN, "sync", *common, "--wheelhouse", wheelhouse, *flags],
        env=ENV, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    argv = shlex.split(out)
    return argv[argv.index("env") + 1 :] if argv and argv[0] == "env" else argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", required=True)
    parser.add_argument("--wheelhouse", required=True)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", help="a checkout of the tool to time `verify` of, as today")
    parser.add_argument("--full", action="store_true", help="also time verify --full (slow)")
    args = parser.parse_args()
    common = ["--profile", args.profile, "--python", args.venv]
    uv_sync = printed_uv(common, args.wheelhouse, check=False)
    uv_check = printed_uv(common, args.wheelhouse, check=True)
    sync = [*GEN, "sync", *common, "--wheelhouse", args.wheelhouse]
    cases = [
        Case(label="uv pip sync (its --print-command line)", argv=uv_sync),
        Case(label="gen-constraints sync", argv=sync),
        Case(label="uv pip sync --check (its --print-command --check line)", argv=uv_check),
        Case(label="gen-constraints sync --check", argv=[*sync, "--check"]),
        Case(label="gen-constraints verify", argv=[*GEN, "verify", *common]),
        Case(label="python -c pass", argv=[sys.executable, "-c", "pass"]),
        Case(label="python -c 'import click'", argv=[sys.executable, "-c", "import click"]),
    ]
    timings = alternate(cases, args.repeats)
    slow = []
    if args.full:
        full = [*GEN, "verify", "--full", *common]
        slow.append(Case(label="gen-constraints verify --full", argv=full))
    if args.baseline:
        # PYTHONPATH first: the checkout's constraints_gen, not this one
        base = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1));"
                " from constraints_gen.cli import main; sys.argv[0] = 'gen-constraints'; main()",
                args.baseline]  # fmt: skip
        today = [*base, "verify", *common]
        slow.append(Case(label=f"verify of {args.baseline} (today)", argv=today))
    if slow:
        timings += alternate(slow, max(3, args.repeats // 2), warmup=0)
    print("| command | median (IQR) |\n|---|---|")
    for timing in timings:
        print(f"| {timing.label} | {timing.ms} |")
    print(f"\n{os.cpu_count()} CPUs; {args.repeats} rounds", file=sys.stderr)


if __name__ == "__main__":
    main()
