"""Profiles are parsed once: each file's tables become typed layers, merged child over parent
(issue 11 section 3). A key a child sets overrides its parent even when its value is false or
empty; a key it leaves out is inherited."""

from __future__ import annotations

from pathlib import Path

from test_profiles import BASE, GPU, write

from constraints_gen.profiles.layers import NeedsLayer as _Hardware
from constraints_gen.profiles.load import load_profiles


def test_a_set_key_overrides_even_when_false_or_empty() -> None:
    parent = _Hardware(vendor="nvidia", ptx=True, gfx_targets=("gfx942",), cuda=(12, 8))
    child = _Hardware(ptx=False, gfx_targets=())
    merged = child.over(parent)
    assert (merged.ptx, merged.gfx_targets, merged.cuda, merged.vendor) == (
        False,
        (),
        (12, 8),
        "nvidia",
    )
    assert merged.keys() == {"vendor", "ptx", "gfx_targets", "cuda"}
    assert _Hardware().over(parent) == parent


def test_a_child_turns_off_what_its_parent_turned_on(tmp_path: Path) -> None:
    ptx_parent = GPU.replace('min_driver = "525.60.13"', 'min_driver = "525.60.13"\nptx = true')
    child = (
        'name = "child"\nextends = "gpu"\n[hardware]\nptx = false\n'
        "[target]\ncommit_lock = false\n[pins]\npeft = false\n"
    )
    profiles = load_profiles(
        write(tmp_path / "p", {"base": BASE, "gpu": ptx_parent, "child": child})
    )
    gpu, kid = profiles.get("gpu"), profiles.get("child")
    assert (gpu.ptx, gpu.commit_lock, gpu.pin("peft") is not None) == (True, True, True)
    assert (kid.ptx, kid.commit_lock, kid.pin("peft"), kid.excluded) == (
        False,
        False,
        None,
        ("peft",),
    )
    assert (kid.cuda, kid.compute_capabilities, kid.min_driver) == (
        (12, 8),
        ((7, 0), (8, 0)),
        "525.60.13",
    )
    assert kid.pin("torch") == gpu.pin("torch")  # inherited: the same pin, from gpu.toml


def test_each_hardware_key_has_its_field_and_its_entry() -> None:
    """A hardware key is added in two places (profiles/needs.py): a Needs field and a KEYS entry;
    one without the other is caught here."""
    from dataclasses import fields

    from constraints_gen.profiles.needs import KEYS, Needs

    assert tuple(KEYS) == tuple(field.name for field in fields(Needs))
