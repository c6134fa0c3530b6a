"""Scale of a no-op ``sync`` and ``verify`` (issue 17): 50, 100 and 200 distributions of 500
files each (up to 100,000 files), tiny real wheels installed by uv, against ``uv pip sync`` and
against the floor: a plain ``os.lstat`` of every installed file, in a fresh Python as ours is.

Not part of ``bench/run.py`` or CI (it writes about 100,000 files). Usage::

    python -m bench.scale [--work DIR] [--repeats 5] [--sizes 50,100,200]

Prints a Markdown table on stdout; the cost should grow linearly with the files and stay within
2x the stat walk (the walk is what the environment state does besides loading itself).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import ENV, Case, alternate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.sync_project import LINUX, make_project, make_venv  # noqa: E402
from support.wheels import build_wheel  # noqa: E402

GEN = [sys.executable, "-m", "constraints_gen"]
FILES = 500  # per distribution: 497 modules in 10 folders, METADATA, WHEEL, RECORD
WALK = (
    "import os, sys\npaths = open(sys.argv[1]).read().split('\\n')\nfor p in paths: os.lstat(p)\n"
)


def wheels(dest: Path, count: int) -> Path:
    for i in range(count):
        name = f"synth{i:03d}"
        files = {f"{name}/__init__.py": '__version__ = "1.0"\n'}
        for k in range(10):
            files[f"{name}/sub{k}/__init__.py"] = ""
        for j in range(FILES - 14):  # with the 11 __init__ files and the 3 of .dist-info
            files[f"{name}/sub{j % 10}/m{j}.py"] = f"X = {j}\n"
        build_wheel(dest, name, "1.0", files=files)
    build_wheel(dest, "torch", "2.5.1")  # every profile pins torch: one more, tiny
    return dest


def installed_files(site: Path) -> list[str]:
    paths = []
    for record in sorted(site.glob("*.dist-info/RECORD")):
        for line in record.read_text().splitlines():
            paths.append(str(site / line.rsplit(",", 2)[0]))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="50,100,200")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    sizes = [int(n) for n in args.sizes.split(",")]
    folder = work / "wheels"
    if not folder.is_dir():
        wheels(folder, max(sizes))
    for name, value in (("GEN_CONSTRAINTS_CACHE_DIR", work / "gc-cache"),
                        ("UV_CACHE_DIR", work / "uv-cache")):  # fmt: skip
        ENV[name] = os.environ[name] = os.environ.get(name, str(value))
    rows = []
    for size in sizes:
        root = work / f"proj{size}"
        if not root.is_dir():
            requirements = {f"synth{i:03d}": "==1.0" for i in range(size)}
            requirements["torch"] = "==2.5.1"
            pins = {"synth": (LINUX, {"torch": "2.5.1"})}
            make_project(root, folder, requirements=requirements, profiles=pins)
        venv = work / f"venv{size}"
        common = ["--root", str(root), "--profile", "synth", "--python", str(venv)]
        if not venv.is_dir():
            make_venv(venv, folder, [])
            subprocess.run([*GEN, "sync", *common, "--wheelhouse", str(folder)], check=True,
                           env=ENV, capture_output=True)  # fmt: skip
        for _ in range(2):  # the state made, then settled (identities too recent are not kept)
            subprocess.run([*GEN, "verify", *common], check=True, env=ENV, capture_output=True)
        site = next(venv.glob("lib/python*/site-packages"))
        listing = work / f"files{size}.txt"
        paths = installed_files(site)
        listing.write_text("\n".join(paths))
        line = subprocess.run(
            [*GEN, "sync", *common, "--wheelhouse", str(folder), "--print-command"],
            env=ENV, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cases = [
            Case(label="uv pip sync", argv=shlex.split(line)),
            Case(label="sync", argv=[*GEN, "sync", *common, "--wheelhouse", str(folder)]),
            Case(label="verify", argv=[*GEN, "verify", *common]),
            Case(label="stat walk", argv=[sys.executable, "-c", WALK, str(listing)]),
            Case(label="python -c pass", argv=[sys.executable, "-c", "pass"]),
        ]
        timings = {t.label: t for t in alternate(cases, args.repeats)}
        rows.append((size, len(paths), timings))
    print("| distributions | files | uv pip sync | sync | verify | stat walk | verify / walk |"
          " verify - python start | walk - python start |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for size, count, t in rows:
        start = t["python -c pass"].median
        verify, walk = t["verify"].median, t["stat walk"].median
        print(
            f"| {size} | {count} | {t['uv pip sync'].ms} | {t['sync'].ms} | {t['verify'].ms} |"
            f" {t['stat walk'].ms} | {verify / walk:.2f}x | {(verify - start) * 1000:.0f} ms |"
            f" {(walk - start) * 1000:.0f} ms |"
        )
    print(f"\n{os.cpu_count()} CPUs; {args.repeats} rounds; work folder {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
