"""Shared fixtures: every test runs with its own uv cache and none of the user's settings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
HARDWARE = TESTS / "data" / "hardware"
sys.path.insert(0, str(TESTS))  # tests/support is importable as `support`

from support.stack import Stack, served_stack  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-network", action="store_true", help="Run tests marked `network`.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``network`` (PyPI) run only with ``-m network`` or ``--run-network``."""
    if config.getoption("--run-network") or "network" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="needs the internet: run with -m network or --run-network")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    cache = tmp_path_factory.getbasetemp() / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("GEN_CONSTRAINTS_CACHE_DIR", str(tmp_path_factory.mktemp("gc-cache")))
    for name in (
        "CUDA_VISIBLE_DEVICES",
        "GEN_CONSTRAINTS_HARDWARE",
        "GEN_CONSTRAINTS_MIRRORS",  # the build machine's (.ci/run): a test that needs one sets it
        "GEN_CONSTRAINTS_ROOT",
        "UV_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
        "UV_CONSTRAINT",
        "UV_OVERRIDE",
        "PIP_CONSTRAINT",
        "VIRTUAL_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The tiny stack served on loopback for the whole session."""
    with served_stack(tmp_path_factory.mktemp("stack")) as served:
        yield served


@pytest.fixture
def index_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """Make the loopback "pypi" uv's default index (configuration, never written to a lock)."""
    monkeypatch.setenv("UV_DEFAULT_INDEX", stack.pypi_url)
    return stack
