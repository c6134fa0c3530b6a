"""Writing the managed block into ``pyproject.toml`` text, keeping every other byte.

tomlkit (a format-preserving TOML library: comments, order and spacing of what it does not
touch survive) removes the old block's entries, found through its record, and adds the new ones
beside the user's own: extras at the end of ``[project.optional-dependencies]``, one more set in
``[tool.uv] conflicts``, indexes after the user's ``[[tool.uv.index]]`` tables, and per-extra
entries in ``[tool.uv.sources]`` (a user's own per-extra entries for the same package stay, first).

Imported only by ``uv-project write``: tomlkit is not on any other command's path.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, InlineTable

from constraints_gen.locks.uvblock import RECORD_KEY, RECORD_TOOL, Block, Record

RECORD_COMMENT = (
    "Written by gen-constraints (uv-project write): the extras, conflicts, indexes and sources it"
    " lists are regenerated, not edited. Check: gen-constraints uv-project check"
)


def render(text: str, old: Record | None, block: Block) -> str:
    """``text`` with ``old``'s block (if any) replaced by ``block``."""
    doc = tomlkit.parse(text)
    if old is not None:
        _remove(doc, old)
    _insert(doc, block)
    return tomlkit.dumps(doc)


def _table(parent: Any, key: str, *, super_table: bool = False) -> Any:
    if key not in parent:
        table = tomlkit.table(is_super_table=super_table)
        parent[key] = table
    return parent[key]


def _remove(doc: Any, old: Record) -> None:
    ours = set(old.extra_names)
    optional = doc.get("project", {}).get("optional-dependencies")
    if optional is not None:
        for name in old.extra_names:
            if name in optional:
                del optional[name]
    tool = doc.get("tool", {})
    uv = tool.get("uv")
    if uv is not None:
        conflicts = uv.get("conflicts")
        if isinstance(conflicts, Array):
            for i in reversed(range(len(conflicts))):
                group = conflicts[i]
                if isinstance(group, list) and any(_extra(item) in ours for item in group):
                    del conflicts[i]
        indexes = uv.get("index")
        if isinstance(indexes, AoT):
            for i in reversed(range(len(indexes))):
                if indexes[i].get("name") in old.indexes:
                    del indexes[i]
            if not len(indexes):
                del uv["index"]
        sources = uv.get("sources")
        if sources is not None:
            for name in list(sources.keys()):
                value = sources[name]
                if isinstance(value, Array):
                    for i in reversed(range(len(value))):
                        if _extra(value[i]) in ours:
                            del value[i]
                    if not len(value):
                        del sources[name]
    record_parent = tool.get(RECORD_TOOL)
    if record_parent is not None and RECORD_KEY in record_parent:
        del record_parent[RECORD_KEY]
        if not len(record_parent):
            del tool[RECORD_TOOL]


def _extra(item: object) -> object:
    return item.get("extra") if isinstance(item, dict | InlineTable) else None


def _inline(**values: Any) -> InlineTable:
    table = tomlkit.inline_table()
    table.update(values)
    return table


def _insert(doc: Any, block: Block) -> None:
    managed = block.managed()
    project = doc["project"]
    optional = _table(project, "optional-dependencies")
    for name, lines in managed["extras"].items():
        array = tomlkit.array()
        array.extend(lines)
        array.multiline(True)
        optional[name] = array
    tool = _table(doc, "tool", super_table=True)
    uv = _table(tool, "uv")
    for group in managed["conflicts"]:
        if "conflicts" not in uv:
            conflicts = tomlkit.array()
            conflicts.multiline(True)
            uv["conflicts"] = conflicts
        inner = tomlkit.array()
        inner.extend(_inline(**item) for item in group)
        uv["conflicts"].append(inner)
    if managed["sources"]:
        sources = _table(uv, "sources")
        for name, entries in managed["sources"].items():
            if name not in sources:
                array = tomlkit.array()
                array.multiline(True)
                sources[name] = array
            sources[name].extend(_inline(**entry) for entry in entries)
    if managed["indexes"]:
        if "index" not in uv:
            uv["index"] = tomlkit.aot()
        for entry in managed["indexes"]:
            table = tomlkit.table()
            table.update(entry)
            uv["index"].append(table)
    record = tomlkit.table()
    record.add(tomlkit.comment(RECORD_COMMENT))
    for key, value in block.record().to_toml().items():
        record[key] = _inline(**value) if isinstance(value, dict) else value
    parent = _table(tool, RECORD_TOOL, super_table=True)
    parent[RECORD_KEY] = record
