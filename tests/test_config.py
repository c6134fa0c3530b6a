"""The one rule for "a URL or a folder", and mirrors applied to a profile's indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from constraints_gen.profiles.config import absolute, is_local, load_config, local_folder, locations
from constraints_gen.profiles.model import Index


@pytest.mark.parametrize(
    ("where", "folder"),
    [
        ("file:///srv/wheels", Path("/srv/wheels")),
        ("FILE:///srv/my%20wheels", Path("/srv/my wheels")),  # scheme any case, percent-decoded
        ("file://localhost/srv/wheels", Path("/srv/wheels")),
        ("/srv/wheels", Path("/srv/wheels")),
        ("wheels", Path("wheels")),  # relative: to the current directory, as given
        ("./sub/wheels", Path("sub/wheels")),
        ("https://mirror.example/simple", None),
        ("http://127.0.0.1:8080/simple", None),
        ("HTTPS://mirror.example/simple", None),
    ],
)
def test_url_or_folder(where: str, folder: Path | None) -> None:
    assert local_folder(where) == folder
    assert is_local(where) is (folder is not None)


def test_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute("wheels") == str(tmp_path / "wheels")
    assert absolute(tmp_path.as_uri() + "/w") == str(tmp_path / "w")  # a folder, not a URL
    assert absolute("https://mirror.example/simple") == "https://mirror.example/simple"


def test_config_mirrors_file_url_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "constraints-gen.toml").write_text(
        f'[mirrors]\na = "{tmp_path.as_uri()}/w"\nb = "rel"\nc = "https://m.example/simple"\n'
    )
    assert dict(load_config(tmp_path).mirrors) == {
        "a": str(tmp_path / "w"),
        "b": str(tmp_path / "rel"),
        "c": "https://m.example/simple",
    }


def test_locations_apply_mirrors_once_in_order() -> None:
    indexes = [
        Index(name="pytorch-cu121", url="https://download.pytorch.org/whl/cu121"),
        Index(name="extra", url="https://extra.example/simple"),
        Index(name="pytorch-cu121", url="https://download.pytorch.org/whl/cu121"),
    ]
    plain = locations(indexes, {})
    assert plain.default is None
    assert plain.extra == ("https://download.pytorch.org/whl/cu121", "https://extra.example/simple")
    mirrored = locations(indexes, {"pytorch-cu121": "/opt/wheels", "pypi": "https://m/simple"})
    assert mirrored.default == "https://m/simple"
    assert mirrored.extra == ("/opt/wheels", "https://extra.example/simple")
    given = locations(indexes, {"pypi": "https://m/simple"}, default="https://given/simple")
    assert given.default == "https://given/simple"  # --index-url wins over the pypi mirror
