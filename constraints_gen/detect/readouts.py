"""Many machines' readouts (``detect --json``), as the cluster's own tools collect them.

A fleet's readouts arrive as files, folders of files, or one stream (stdin, or a saved log). Each
readout is the JSON of :mod:`constraints_gen.detect.hardware`, pretty-printed or on one line; it
may carry its machine's name in a top-level ``"host"`` key (unknown keys are ignored by the
parser). A stream may hold many readouts one after the other, in these forms:

- plain: the JSON documents back to back (``for h in ...; do ssh $h gen-constraints detect
  --json; done``), or JSON lines;
- Slurm ``srun --label``: every line starts with the task number (``  3: {``); lines are
  regrouped by task first, so the interleaved output of many tasks reads whole (host: ``task 3``);
- Ansible ad-hoc (``ansible all -m command -a 'gen-constraints detect --json'``, its default
  ``minimal`` output): a ``HOST | CHANGED | rc=0 >>`` line heads each host's output (stdout, then
  stderr); ``HOST | FAILED | rc=N >>``, ``HOST | FAILED! => {...}`` and ``HOST | UNREACHABLE! =>
  {...}`` are that host's failure, named, and never stop the others. Not ``-o/--one-line``.

Between readouts, lines the tool itself writes to stderr (``gen-constraints: note: ...``) are
skipped; an ``ERROR: ...`` line makes its host a bad readout; any other text is a problem named by
its line. A readout's host comes from, in order: its ``"host"`` key, the Ansible host, the srun
task, the name of a file that holds exactly one readout (``node17.json``: ``node17``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from constraints_gen.detect.hardware import (
    Hardware,
    decode_json_bytes,
    hardware_from_json,
    is_plain_text,
)
from constraints_gen.errors import InputError

#: ``HOST | CHANGED | rc=0 >>`` (command module) or ``HOST | FAILED! => {`` (a module's result),
#: as ansible's ``minimal`` callback writes them (lib/ansible/plugins/callback/minimal.py).
_ANSIBLE = re.compile(
    r"^(?P<host>[^\s|]+) \| (?P<caption>CHANGED|SUCCESS|FAILED!?|UNREACHABLE!)"
    r"(?: \| rc=(?P<rc>-?\d+))? (?P<sep>>>|=>)[ ]?(?P<rest>.*)$"
)
#: ``srun --label``: the task number, right-aligned, a colon and a space (Slurm's srun(1), -l).
_SRUN = re.compile(r"^ *(?P<task>\d+): ?(?P<rest>.*)$")
#: ansible's own messages on stderr, as its Display class prefixes them.
_ANSIBLE_OWN = ("[WARNING]: ", "[DEPRECATION WARNING]: ")
_OURS = "gen-constraints: "  # the tool's own stderr messages (notes, warnings)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True, kw_only=True)
class Readout:
    """One machine's readout: its hardware, or the problems that made it unreadable."""

    source: str  # "nodes.log:12", "readouts/n1.json:1", "<stdin>:40"
    host: str | None
    hardware: Hardware | None
    problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How messages name the machine: its host, else where its readout was read."""
        return self.host if self.host is not None else self.source


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based, in the whole stream
    text: str


def read_paths(paths: list[Path]) -> list[Readout]:
    """The readouts of each file, and of each regular file in each folder (sorted, no hidden
    files, not recursive). A file that cannot be read is one bad readout."""
    readouts: list[Readout] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            readouts += [r for file in files for r in read_file(file)]
        else:
            readouts += read_file(path)
    return readouts


def read_file(path: Path) -> list[Readout]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = f"{path}: cannot read: {exc.strerror or exc}"
        return [Readout(source=str(path), host=None, hardware=None, problems=(reason,))]
    found = read_bytes(data, str(path))
    if len(found) == 1 and found[0].host is None and found[0].hardware is not None:
        stem = path.name.removesuffix(".json")
        host = stem if is_plain_text(stem) else None
        return [Readout(source=found[0].source, host=host, hardware=found[0].hardware)]
    return found


def read_bytes(data: bytes, origin: str) -> list[Readout]:
    """The readouts of UTF-8 ``data`` (a file's, or stdin's); other encodings are one bad
    readout that says what to do."""
    try:
        text = decode_json_bytes(data, origin)
    except InputError as exc:
        return [Readout(source=origin, host=None, hardware=None, problems=exc.problems)]
    return read_stream(text, origin)


def read_stream(text: str, origin: str) -> list[Readout]:
    """Every readout in ``text`` (see the module's forms); ``origin`` names it in sources."""
    lines = [_Line(number, line) for number, line in enumerate(text.splitlines(), start=1)]
    first = next((line.text for line in lines if line.text.strip()), "")
    if _SRUN.match(first):  # never a line of JSON: that starts with a brace or a quote
        return _srun(lines, origin)
    if any(_ANSIBLE.match(line.text) for line in lines):
        return _ansible(lines, origin)
    return list(_documents(lines, origin, None))


def _srun(lines: list[_Line], origin: str) -> list[Readout]:
    tasks: dict[int, list[_Line]] = {}
    bad: list[Readout] = []
    for line in lines:
        match = _SRUN.match(line.text)
        if match is None:
            if line.text.strip():
                problem = f"{origin}:{line.number}: expected a line of `srun --label` ('N: ...')"
                bad.append(_bad(f"{origin}:{line.number}", None, problem))
            continue
        tasks.setdefault(int(match["task"]), []).append(_Line(line.number, match["rest"]))
    found = [r for task in sorted(tasks) for r in _documents(tasks[task], origin, f"task {task}")]
    return sorted([*found, *bad], key=lambda r: _line_of(r.source))


def _line_of(source: str) -> int:
    return int(source.rpartition(":")[2] or 0)


def _ansible(lines: list[_Line], origin: str) -> list[Readout]:
    readouts: list[Readout] = []
    head: re.Match[str] | None = None
    head_line = 0
    body: list[_Line] = []

    def close() -> None:
        if head is None:
            readouts.extend(_stray(body, origin))
            return
        host, caption, rc = _cut(head["host"]), head["caption"], head["rc"]
        where = f"{origin}:{head_line}"
        if head["sep"] == "=>":  # a module's result, never a readout
            message = _ansible_message([head["rest"], *(line.text for line in body)])
            readouts.append(_bad(where, host, f"{where}: ansible: {host} | {caption}{message}"))
        elif caption == "FAILED" or (rc is not None and rc != "0"):
            output = " ".join(line.text.strip() for line in body if line.text.strip())
            reason = f"{where}: ansible: {host} | {caption} | rc={rc}" + (
                f": {_cut(output)}" if output else ""
            )
            readouts.append(_bad(where, host, reason))
        else:
            readouts.extend(_documents(body, origin, host))

    for line in lines:
        match = _ANSIBLE.match(line.text)
        if match is not None:
            close()
            head, head_line, body = match, line.number, []
        else:
            body.append(line)
    close()
    return readouts


def _ansible_message(texts: list[str]) -> str:
    """``: MSG`` from the JSON result ansible printed after ``=>``, when it has one."""
    try:
        result = json.loads("\n".join(texts))
    except ValueError:
        return ""
    msg = result.get("msg") if isinstance(result, dict) else None
    return f": {_cut(msg)}" if isinstance(msg, str) and msg else ""


def _stray(lines: list[_Line], origin: str) -> Iterator[Readout]:
    """Lines before the first host: ansible's own warnings (``2>&1``) are skipped."""
    for line in lines:
        if line.text.strip() and not line.text.startswith(_ANSIBLE_OWN):
            where = f"{origin}:{line.number}"
            yield _bad(where, None, f"{where}: expected an Ansible 'HOST | ... >>' line first")


def _cut(text: str) -> str:
    """One printable line of at most 160 characters (what another machine printed may hold
    terminal escapes)."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return text if len(text) <= 160 else text[:157] + "..."


def _bad(source: str, host: str | None, problem: str) -> Readout:
    return Readout(source=source, host=host, hardware=None, problems=(problem,))


def _documents(lines: list[_Line], origin: str, host: str | None) -> Iterator[Readout]:
    """The JSON documents in ``lines``, back to back; text between them as the module says. The
    block is joined once and decoded in place (a stream of 10,000 readouts reads in one pass)."""
    text = "\n".join(line.text for line in lines)
    starts = list(accumulate((len(line.text) + 1 for line in lines[:-1]), initial=0))
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.text.strip()
        where = f"{origin}:{line.number}"
        index += 1
        if not stripped or stripped.startswith(_OURS):
            continue
        if stripped.startswith("ERROR: "):  # detect failed on that machine (exit 2)
            yield _bad(where, host, f"{where}: {stripped}")
            continue
        if not stripped.startswith("{"):
            got = _cut(stripped)
            yield _bad(where, host, f"{where}: expected a readout (a JSON object), got {got!r}")
            continue
        try:
            data, end = _DECODER.raw_decode(text, starts[index - 1] + line.text.index("{"))
        except json.JSONDecodeError as exc:
            bad_line = lines[bisect_right(starts, exc.pos) - 1].number
            yield _bad(where, host, f"{origin}:{bad_line}: invalid JSON: {exc.msg}")
            while index < len(lines) and not lines[index].text.startswith("{"):
                index += 1  # go on at the next line that opens an object at its first column
            continue
        except (RecursionError, ValueError) as exc:  # nested too deeply; an over-long number
            yield _bad(where, host, f"{where}: invalid JSON: {exc or 'nested too deeply'}")
            return
        last = bisect_right(starts, end - 1) - 1  # the line that closes the document
        index = last + 1
        tail = text[end : starts[index] - 1 if index < len(starts) else len(text)].strip()
        yield _readout(data, where, host)
        if tail and not tail.startswith(_OURS):  # ansible glues stderr to stdout's last line
            after = f"{origin}:{lines[last].number}"
            yield _bad(after, host, f"{after}: unexpected text after a readout: {_cut(tail)!r}")


def _readout(data: object, where: str, host: str | None) -> Readout:
    named = data.get("host") if isinstance(data, dict) else None
    if named is not None and not (isinstance(named, str) and named and is_plain_text(named)):
        return _bad(
            where, host, f"{where}: host: expected a printable host name, got {named!r:.80}"
        )
    owner = named if isinstance(named, str) else host
    try:
        hardware = hardware_from_json(data, where)
    except InputError as exc:
        return Readout(source=where, host=owner, hardware=None, problems=exc.problems)
    return Readout(source=where, host=owner, hardware=hardware)
