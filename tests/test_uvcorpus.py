"""uv-project write on a corpus shaped like real LLM projects' pyproject.toml files.

The shapes are read from public training, serving and evaluation projects (axolotl, trl,
unsloth, lm-evaluation-harness, open-instruct, torchtune, vllm): dynamic versions, requires-python
below 3.11, torch caps, exact pins (``peft==0.18.1``), a dependency that pins one exact torch,
self-referencing extras, dependency groups, their own ``[tool.uv]`` conflicts, indexes and
per-extra sources, ``override-dependencies``, an extra already named ``cpu``, dynamic extras, no
``[project]`` table. Package names are stand-ins that the local indexes serve.

For each file, either ``write`` succeeds, nothing of the user's changes (every line of the
original is in the result, in order, unchanged: only the block's lines are added) and the real
``uv lock`` locks exactly the block's versions per extra; or it is refused with exit 2 naming
the file and the key, and the file is byte-for-byte as it was.
"""

from __future__ import annotations

import copy
import difflib
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.index import serve, write_simple_index
from support.repack import closure, repack
from support.sync_project import PY, gen
from support.wheels import build_wheel
from test_uvproject import profiles_root

from constraints_gen import runner
from constraints_gen.locks.uvlock import UvLock, read_uv_lock
from constraints_gen.tomlio import read_toml

RUNTIME = "nvidia-cuda-runtime-cu12==12.6.77; sys_platform == 'linux'"
TRITON = "triton==3.5.0; sys_platform == 'linux'"
OLDER = f"3.{int(PY.split('.')[1]) - 1}"  # a Python below the profiles' (requires-python caps)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """ "pypi" over loopback HTTP; download.pytorch.org's cu126 and cpu as folder indexes."""
    tmp = tmp_path_factory.mktemp("corpus")
    w = tmp / "wheels"
    pypi = [build_wheel(w / "pypi", "torch", v, requires=[RUNTIME, TRITON])
            for v in ("2.14.1", "2.13.0", "2.12.0")]  # fmt: skip
    pypi += [
        build_wheel(w / "pypi", "nvidia-cuda-runtime-cu12", "12.6.77"),
        build_wheel(w / "pypi", "triton", "3.5.0"),
        build_wheel(w / "pypi", "torchvision", "0.29.1", requires=["torch==2.14.1"]),
        build_wheel(w / "pypi", "vllmish", "0.11.0", requires=["torch==2.13.0", "transformers"]),
        build_wheel(w / "pypi", "transformers", "5.8.0"),
        build_wheel(w / "pypi", "transformers", "5.24.0"),
        build_wheel(w / "pypi", "peft", "0.18.1", requires=["torch>=1.13", "transformers"]),
        build_wheel(w / "pypi", "peft", "0.19.0", requires=["torch>=1.13", "transformers"]),
        build_wheel(w / "pypi", "accelerate", "1.10.0", requires=["torch>=2.0"]),
        build_wheel(w / "pypi", "datasets", "4.2.0"),
        build_wheel(w / "pypi", "pytest", "8.4.0"),
        build_wheel(w / "pypi", "wandb", "0.22.0"),
        # the build backend a dynamic version needs (setuptools < 70 asks for wheel too)
        *(repack(name, w / "pypi") for name in closure(["setuptools", "wheel"])),
    ]
    cu = [build_wheel(w / "cu126", "torch", f"{v}+cu126", requires=[RUNTIME, TRITON])
          for v in ("2.14.1", "2.13.0", "2.12.0")]  # fmt: skip
    cu += [
        build_wheel(w / "cu126", "triton", "3.5.0"),
        build_wheel(w / "cu126", "torchvision", "0.29.1+cu126", requires=["torch==2.14.1"]),
        build_wheel(w / "cu126", "torchvision", "0.28.0+cu126", requires=["torch==2.13.0"]),
    ]
    # the CPU index serves no triton (CPU builds do not depend on it)
    cpu = [build_wheel(w / "cpu", "torch", f"{v}+cpu") for v in ("2.13.0", "2.12.0")]
    cpu += [build_wheel(w / "cpu", "torchvision", "0.28.0+cpu", requires=["torch==2.13.0"])]
    urls = {
        "cu126": write_simple_index(cu, tmp / "cu126").as_uri(),
        "cpu": write_simple_index(cpu, tmp / "cpu").as_uri(),
        "own": write_simple_index(cpu, tmp / "own").as_uri(),  # a user's own torch index
    }
    with serve(tmp / "pypi-root") as url:
        write_simple_index(pypi, tmp / "pypi-root")
        yield {**urls, "pypi": f"{url}/simple"}


@pytest.fixture(scope="module")
def root(indexes: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two profiles (cu126 with its build table, cpu), as a constraints_gen root."""
    root = tmp_path_factory.mktemp("corpus-root")
    profiles_root(root, indexes, mylib=False)
    folder = root / "profiles"
    (folder / "builds").mkdir(parents=True)
    rows = []
    for version in ("2.14.1", "2.13.0", "2.12.0"):
        rows.append(
            textwrap.dedent(f"""\
            [[build]]
            profile = "cuda126"
            torch = "{version}+cu126"
            variant = "cu126"
            index = "{indexes["cu126"]}"
            system = "linux"
            machine = "x86_64"
            cuda = "12.6"
            archs = ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"]
            ptx = false
            min_driver = "525.60.13"
            glibc = "2.28"
            pythons = ["{PY}"]
            archs_from = "published"
            source = "stand-in"
            """)
        )
    (folder / "builds" / "torch.toml").write_text("\n".join(rows))
    return root


OK = "written"
# name: (pyproject.toml, the torch each extra locks, or the refusal's key and words)
CORPUS: dict[str, tuple[str, dict[str, str] | str]] = {
    "training-dynamic-version": (
        """\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "trainer"
        dynamic = ["version"]
        description = "LLM Trainer"
        requires-python = ">=3.10"
        dependencies = [
            "torch>=2.11,<=2.12.1",  # the project's own cap
            "transformers<=5.8.0",
            "peft==0.18.1",
            "accelerate",
        ]

        [tool.setuptools.dynamic]
        version = { attr = "trainer.__version__" }  # uv lock builds it to read the version

        [tool.setuptools.packages.find]
        include = ["trainer*"]
        """,
        {"cuda126": "2.12.0+cu126", "cpu": "2.12.0+cpu"},
    ),
    "training-exact-pins-and-extras": (
        """\
        [project]
        name = "rl-trainer"
        version = "0.23.0"
        requires-python = ">=3.9"
        dependencies = ["accelerate>=1.4.0", "datasets>=3.0.0", "transformers>=5.8.0"]

        [project.optional-dependencies]
        peft = ["peft==0.18.1"]
        test = ["pytest"]
        dev = ["rl-trainer[peft,test]", "wandb"]

        [tool.ruff]
        target-version = "py39"
        line-length = 119
        """,
        {"cuda126": "2.14.1+cu126", "cpu": "2.13.0+cpu"},
    ),
    "training-declares-triton-and-torchvision": (
        """\
        [project]
        name = "fast-finetune"
        version = "2025.10.1"
        requires-python = ">=3.9,<3.14"
        dependencies = ["transformers>=4.51.3,!=5.24.0"]

        [project.optional-dependencies]
        triton = ["triton>=3.0.0 ; ('linux' in sys_platform)"]
        huggingface = ["torchvision", "peft>=0.7.1,!=0.11.0", "fast-finetune[triton]"]
        """,
        {"cuda126": "2.14.1+cu126", "cpu": "2.13.0+cpu"},
    ),
    "evaluation-self-referencing-extras-and-groups": (
        """\
        [project]
        name = "lm_eval"
        version = "0.4.9.1"
        requires-python = ">=3.10"
        dependencies = ["accelerate>=0.26.0", "datasets>=2.16.0", "peft>=0.2.0", "torch>=1.8",
                        "transformers>=4.1"]

        [project.optional-dependencies]
        dev = ["pytest"]
        mamba = ["torch"]
        vllm = ["vllmish>=0.4.2"]
        tasks = ["lm_eval[mamba]", "lm_eval[dev]"]

        [tool.ruff.lint]
        extend-select = ["I", "W605"]

        [dependency-groups]
        dev = ["pytest", "wandb"]
        """,
        # the vllm extra pins torch 2.13.0: every extra of one lock must resolve together
        {"cuda126": "2.13.0+cu126", "cpu": "2.13.0+cpu"},
    ),
    "serving-dependency-pins-exact-torch": (
        """\
        [project]
        name = "serve-it"
        version = "0.1.0"
        requires-python = ">=3.10,<3.14"
        dependencies = [
            "vllmish==0.11.0",  # pins torch==2.13.0
            "transformers<=5.8.0",
        ]
        """,
        {"cuda126": "2.13.0+cu126", "cpu": "2.13.0+cpu"},
    ),
    "training-own-uv-recipe": (
        """\
        [project]
        name = "instruct"
        version = "0.1.0"
        requires-python = "==3.{minor}.*"
        dependencies = ["transformers>=5.8.0", "peft==0.18.1"]

        [project.optional-dependencies]
        own-cpu = ["torch==2.12.0+cpu"]

        [tool.uv]
        conflicts = [
            [
                { extra = "own-cpu" },
                { extra = "unused" },
            ],
        ]
        override-dependencies = ["datasets==4.2.0"]  # an override on what the block leaves alone

        [tool.uv.sources]
        torch = [
            { index = "own-torch", extra = "own-cpu" },
        ]

        [[tool.uv.index]]
        name = "own-torch"
        url = "{own}"
        explicit = true
        """,
        {"cuda126": "2.14.1+cu126", "cpu": "2.13.0+cpu", "own-cpu": "2.12.0+cpu"},
    ),
    "training-inline-conflicts": (
        """\
        [project]
        name = "inline"
        version = "1"
        requires-python = ">=3.10"
        dependencies = ["torch>=2.12"]

        [project.optional-dependencies]
        a = ["transformers==5.8.0"]
        b = ["transformers==5.24.0"]

        [tool.uv]
        conflicts = [[{ extra = "a" }, { extra = "b" }]]
        """,
        {"cuda126": "2.14.1+cu126", "cpu": "2.13.0+cpu"},
    ),
    "refused-an-extra-named-cpu": (
        """\
        [project]
        name = "tuner"
        version = "0.6.0"
        requires-python = ">=3.10"
        dependencies = ["torch>=2.12"]

        [project.optional-dependencies]
        cpu = ["torch"]
        gpu = ["torch"]
        """,
        "project.optional-dependencies.cpu: the extra name is taken",
    ),
    "refused-override-on-torch": (
        """\
        [project]
        name = "pinned"
        version = "1"
        requires-python = ">=3.10"
        dependencies = ["torch"]

        [tool.uv]
        override-dependencies = ["torch==2.12.0"]
        """,
        "tool.uv.override-dependencies[0]: 'torch==2.12.0' overrides torch",
    ),
    "refused-dynamic-extras": (
        """\
        [project]
        name = "dyn"
        dynamic = ["version", "dependencies", "optional-dependencies"]
        requires-python = ">=3.9"

        [tool.setuptools.dynamic]
        dependencies = { file = ["requirements.txt"] }
        """,
        "project.dynamic: lists 'optional-dependencies'",
    ),
    "refused-workspace-root-without-project": (
        """\
        [tool.uv.workspace]
        members = ["packages/*"]

        [tool.uv.sources]
        trainer = { workspace = true }
        """,
        "project: no [project] table",
    ),
    "refused-requires-python-below-every-build": (
        """\
        [project]
        name = "old-python"
        version = "1"
        requires-python = ">=3.8,<{older}"
        dependencies = ["torch"]
        """,
        "project.requires-python: >=3.8,<{older} admits none of the CPython versions",
    ),
    "refused-unconditional-torch-source": (
        """\
        [project]
        name = "routed"
        version = "1"
        requires-python = ">=3.10"
        dependencies = ["torch>=2.12"]

        [tool.uv.sources]
        torch = { index = "own-torch" }

        [[tool.uv.index]]
        name = "own-torch"
        url = "{own}"
        explicit = true
        """,
        "tool.uv.sources.torch: routes torch for every extra",
    ),
    "refused-cap-below-every-build": (
        """\
        [project]
        name = "ancient"
        version = "1"
        requires-python = ">=3.10"
        dependencies = ["torch<2.12"]
        """,
        "no torch build for profile cuda126 (CUDA 12.6, compute capabilities 7.5 8.0 8.6 9.0)",
    ),
}


def render(name: str, indexes: dict[str, str]) -> str:
    text = textwrap.dedent(CORPUS[name][0])
    minor = PY.split(".")[1]
    return text.replace("{own}", indexes["own"]).replace("{minor}", minor).replace("{older}", OLDER)


def only_added(before: str, after: str) -> None:
    """No line of ``before`` is removed or changed in ``after``: lines are only inserted. One
    exception, which TOML forces: an array the user wrote on one line that the block joins
    (``conflicts = [[...]]``) grows on that line, the user's text up to its closing bracket
    kept as it was."""
    old, new = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "replace" and i2 - i1 == 1 and old[i1].endswith("]"):
            assert new[j1].startswith(old[i1][:-1]), (old[i1], new[j1])
            continue
        assert tag in ("equal", "insert"), (tag, old[i1:i2], new[j1:j2])


def without_block(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a parsed pyproject.toml) with the block's entries taken out, found through its
    record: what is left must be exactly the user's file as parsed before."""
    data = copy.deepcopy(data)
    record = data["tool"].pop("gen-constraints")["uv-project"]
    if not data["tool"]:
        del data["tool"]
    ours, indexes = set(record["extras"]), set(record["indexes"])
    project = data["project"]
    for extra in ours:
        del project["optional-dependencies"][extra]
    if not project["optional-dependencies"]:
        del project["optional-dependencies"]
    uv = data.get("tool", {}).get("uv", {})
    uv["conflicts"] = [g for g in uv.get("conflicts", []) if not {e["extra"] for e in g} & ours]
    uv["index"] = [i for i in uv.get("index", []) if i["name"] not in indexes]
    for name, value in list(uv.get("sources", {}).items()):
        if isinstance(value, list):
            value = [e for e in value if e.get("extra") not in ours]
            uv["sources"][name] = value
        if not value:
            del uv["sources"][name]
    for key in ("conflicts", "index", "sources"):
        if key in uv and not uv[key]:
            del uv[key]
    if "uv" in data.get("tool", {}) and not uv:
        del data["tool"]["uv"]
    if "tool" in data and not data["tool"]:
        del data["tool"]
    return data


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_project_is_written_and_locks_to_the_block_or_refused_naming_the_key(
    name: str, indexes: dict[str, str], root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", indexes["pypi"])
    project = tmp_path / name
    project.mkdir()
    path = project / "pyproject.toml"
    original = render(name, indexes)
    path.write_text(original)
    (project / "trainer").mkdir()
    (project / "trainer" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    done = gen("uv-project", "write", "--root", root, "--profile", "cuda126", "--profile", "cpu",
               cwd=project)  # fmt: skip
    assert "Traceback" not in done.stderr
    expected = CORPUS[name][1]
    if isinstance(expected, str):
        assert done.returncode == 2, done.stderr
        assert f"pyproject.toml: {expected.replace('{older}', OLDER)}" in done.stderr
        assert path.read_text() == original
        return
    assert done.returncode == 0, done.stderr
    only_added(original, path.read_text())
    parsed = read_toml(path, [])
    before = read_toml(tmp_path / "original.toml", []) if _save(tmp_path, original) else None
    assert parsed is not None and without_block(parsed) == before
    locked = uv_lock(project)
    data = read_toml(path, [])
    assert data is not None
    block = data["project"]["optional-dependencies"]
    project_name = data["project"]["name"]
    for extra, torch in expected.items():
        versions = locked.extra_versions(project_name, extra)
        assert versions.get("torch") == torch, (extra, versions)
        if extra in ("cuda126", "cpu"):  # the block's extras: exactly its pins
            pins = dict(line.split(" ;")[0].split("==") for line in block[extra])
            assert {n: versions.get(n) for n in pins} == pins, (extra, versions)
    checked = gen("uv-project", "check", cwd=project)  # the recorded root: no --root
    assert checked.returncode == 0, checked.stderr
    written = path.read_bytes()
    again = gen("uv-project", "write", "--profile", "cuda126", "--profile", "cpu", cwd=project)
    assert (again.returncode, path.read_bytes()) == (0, written), again.stderr


def _save(folder: Path, text: str) -> bool:
    (folder / "original.toml").write_text(text)
    return True


def uv_lock(project: Path) -> UvLock:
    done = runner.run([runner.uv_bin(), "lock", "--directory", project], ok_codes=(0, 1, 2))
    assert done.returncode == 0, done.stderr
    return read_uv_lock(project / "uv.lock")


def test_the_corpus_checks_say_no_to_a_changed_user_byte_or_a_foreign_addition() -> None:
    before = "\n".join(
        ["[project]", 'name = "x"  # mine', 'version = "1"', "", "[tool.uv]",
         'conflicts = [[{ extra = "a" }]]', ""]
    )  # fmt: skip
    grown = before.replace('"a" }]]', '"a" }], [{ extra = "gpu" }]]')
    only_added(before, grown + "\n[tool.extra]\nk = 1\n")  # line-level: an insertion passes
    with pytest.raises(AssertionError):
        only_added(before, before.replace("# mine", "#mine"))
    with pytest.raises(AssertionError):
        only_added(before, before.replace('version = "1"\n', ""))
    record = {"extras": {"gpu": "cuda126"}, "indexes": ["pytorch-cu126"]}
    written: dict[str, Any] = {
        "project": {"name": "x", "version": "1", "optional-dependencies": {"gpu": ["torch"]}},
        "tool": {"uv": {"conflicts": [[{"extra": "a"}], [{"extra": "gpu"}]]},
                 "gen-constraints": {"uv-project": record}},
    }  # fmt: skip
    user = {
        "project": {"name": "x", "version": "1"},
        "tool": {"uv": {"conflicts": [[{"extra": "a"}]]}},
    }
    assert without_block(written) == user
    foreign = copy.deepcopy(written)
    foreign["tool"]["uv"]["index-strategy"] = "unsafe-best-match"  # not the block's
    assert without_block(foreign) != user
