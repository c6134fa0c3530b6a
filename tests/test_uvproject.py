"""uv-project: each profile's exact torch build as a conflicting extra of a uv project.

Real uv (``uv lock``, ``uv sync --offline``) against three folder indexes of tiny real wheels:
"pypi" (the default index: plain torch builds, the CUDA runtime, a vllm stand-in that pins
torch exactly), "cu126" (``torch 2.14.1+cu126`` and older ``+cu126`` builds, like
download.pytorch.org/whl/cu126) and "cpu" (``torch 2.13.0+cpu``...).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import HARDWARE
from support.index import write_simple_index
from support.sync_project import PY, gen
from support.wheels import build_wheel

from constraints_gen import runner
from constraints_gen.errors import InputError, NoBuildInRange, ToolError
from constraints_gen.locks import uvprobe
from constraints_gen.locks.uvblock import BlockIndex
from constraints_gen.locks.uvlock import read_uv_lock
from constraints_gen.locks.uvproject import WriteOptions, check, write
from constraints_gen.profiles import candidates
from constraints_gen.profiles.candidates import TorchBuild, accepts
from constraints_gen.profiles.load import load_profiles
from constraints_gen.profiles.model import Index, Profile
from constraints_gen.tomlio import read_toml

RUNTIME = "nvidia-cuda-runtime-cu12==12.6.77; sys_platform == 'linux'"
TRITON_ROCM = "pytorch-triton-rocm==3.5.0; sys_platform == 'linux'"
TRITON_XPU = "pytorch-triton-xpu==3.6.0; sys_platform == 'linux' or sys_platform == 'win32'"
GPU = HARDWARE / "a100-r570.json"
CPU = HARDWARE / "cpu.json"


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("uvp-indexes")
    pypi = [build_wheel(tmp / "w-pypi", "torch", v) for v in ("2.14.1", "2.13.0", "2.12.0")]
    pypi += [
        build_wheel(tmp / "w-pypi", "nvidia-cuda-runtime-cu12", "12.6.77"),
        build_wheel(tmp / "w-pypi", "vllmish", "1.0", requires=["torch==2.13.0"]),
        build_wheel(tmp / "w-pypi", "app", "1.0", requires=["torch>=2.0"]),
        build_wheel(tmp / "w-pypi", "mylib", "1.0"),
    ]
    cu = [
        build_wheel(tmp / "w-cu", "torch", f"{v}+cu126", requires=[RUNTIME])
        for v in ("2.14.1", "2.13.1", "2.13.0", "2.12.0")
    ]
    cu128 = [build_wheel(tmp / "w-cu128", "torch", "2.13.5+cu128")]
    # ROCm and XPU builds depend on their triton, published on their index only (uv's guide)
    rocm = [
        build_wheel(tmp / "w-rocm", "torch", "2.13.0+rocm7.2", requires=[TRITON_ROCM]),
        build_wheel(tmp / "w-rocm", "pytorch-triton-rocm", "3.5.0"),
    ]
    xpu = [
        build_wheel(tmp / "w-xpu", "torch", "2.14.1+xpu", requires=[TRITON_XPU]),
        build_wheel(tmp / "w-xpu", "pytorch-triton-xpu", "3.6.0"),
    ]
    pypi.append(build_wheel(tmp / "w-pypi", "pytorch-triton-rocm", "9.9"))  # not the build's
    cpu = [build_wheel(tmp / "w-cpu", "torch", f"{v}+cpu") for v in ("2.13.0", "2.12.0")]
    # torchvision: each build requires its torch (the public version matches the local builds)
    pypi.append(build_wheel(tmp / "w-pypi", "torchvision", "0.29.1", requires=["torch==2.14.1"]))
    cu.append(build_wheel(tmp / "w-cu", "torchvision", "0.29.1+cu126", requires=["torch==2.14.1"]))
    cpu.append(build_wheel(tmp / "w-cpu", "torchvision", "0.28.0+cpu", requires=["torch==2.13.0"]))
    private = [build_wheel(tmp / "w-private", "mylib", "1.0")]
    urls = {}
    for name, wheels in (("pypi", pypi), ("cu126", cu), ("cpu", cpu), ("private", private),
                         ("cu128", cu128), ("rocm", rocm), ("xpu", xpu)):  # fmt: skip
        urls[name] = (write_simple_index(wheels, tmp / name)).as_uri()
    return urls


@pytest.fixture
def env(indexes: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("UV_DEFAULT_INDEX", indexes["pypi"])
    return indexes


def profiles_root(
    root: Path, indexes: dict[str, str], cu_pin: str = "2.14.1+cu126", *, mylib: bool = True
) -> Path:
    """Two profiles as a constraints_gen root: cuda126 (``cu_pin``) and cpu (with a ``mylib``
    pin unless ``mylib`` is false), each on its index in ``indexes``."""
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text('[requirements]\ntorch = ">=2.0"\n')
    (folder / "cuda126.toml").write_text(
        textwrap.dedent(f"""\
        name = "cuda126"
        [hardware]
        vendor = "nvidia"
        cuda = "12.6"
        compute_capabilities = ["7.5", "8.0", "8.6", "9.0"]
        min_driver = "525.60.13"
        [target]
        platform = "x86_64-manylinux_2_28"
        python = ["{PY}"]
        [pins]
        torch = "{cu_pin}"
        [[indexes]]
        name = "pytorch-cu126"
        url = "{indexes["cu126"]}"
        """)
    )
    (folder / "cpu.toml").write_text(
        textwrap.dedent(f"""\
        name = "cpu"
        [hardware]
        vendor = "cpu"
        [target]
        platform = "x86_64-manylinux_2_28"
        python = ["{PY}"]
        [pins]
        torch = "2.13.0+cpu"
        {'mylib = "1.0"' if mylib else ""}
        [[indexes]]
        name = "pytorch-cpu"
        url = "{indexes["cpu"]}"
        """)
    )
    return root


PROJECT = """\
[project]
name = "demo"   # the user's comment
version = "0.1.0"
requires-python = ">={py}"
dependencies = [{deps}]

[tool.ruff]
line-length = 99
"""


def make(
    tmp_path: Path,
    indexes: dict[str, str],
    deps: str = '"torch>=2.12", "app"',
    cu_pin: str = "2.14.1+cu126",
) -> Path:
    profiles_root(tmp_path / "gc", indexes, cu_pin)
    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT.format(py=PY, deps=deps))
    return project


def uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [runner.uv_bin(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def extras(project: Path) -> dict[str, list[str]]:
    data = read_toml(project / "pyproject.toml", [])
    assert data is not None
    return dict(data["project"]["optional-dependencies"])


def locked(project: Path, extra: str) -> dict[str, str]:
    return read_uv_lock(project / "uv.lock").extra_versions("demo", extra)


def test_two_profiles_from_two_indexes_lock_sync_and_verify(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    root = tmp_path / "gc"
    done = gen("uv-project", "write", "--root", root, "--profile", "cuda126", "--profile", "cpu",
               cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "cuda126 (torch 2.14.1+cu126)" in done.stderr
    # requires-python admits Pythons the profiles are not built for: narrowed, and said so
    assert f"extra cuda126 applies on CPython {PY}-{PY} only" in done.stderr
    marker = (
        f"sys_platform == 'linux' and platform_machine == 'x86_64' and python_version == '{PY}'"
    )
    assert extras(project) == {
        "cuda126": [
            f"nvidia-cuda-runtime-cu12==12.6.77 ; {marker}",
            f"torch==2.14.1+cu126 ; {marker}",
        ],
        "cpu": [f"torch==2.13.0+cpu ; {marker}"],
    }
    text = (project / "pyproject.toml").read_text()
    assert (
        'name = "demo"   # the user\'s comment' in text and "[tool.ruff]\nline-length = 99" in text
    )
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126") == {
        "torch": "2.14.1+cu126",
        "nvidia-cuda-runtime-cu12": "12.6.77",
    }
    assert locked(project, "cpu") == {"torch": "2.13.0+cpu"}
    assert gen("uv-project", "check", "--root", root, cwd=project).returncode == 0
    # this machine (a readout) picks its extra; uv syncs it offline; verify passes on .venv
    picked = gen("uv-project", "extra", "--root", root, "--hardware", GPU, cwd=project)
    assert (picked.returncode, picked.stdout) == (0, "cuda126\n")
    synced = uv("sync", "--offline", "--extra", picked.stdout.strip(), cwd=project)
    assert synced.returncode == 0, synced.stderr
    verified = gen("uv-project", "verify", "--root", root, "--hardware", CPU, "--extra", "cuda126",
                   "--no-deep", cwd=project)  # fmt: skip
    assert verified.returncode == 0, verified.stderr + verified.stdout
    # the other extra's build in this .venv is not the block's: verify says so (exit 1)
    wrong = gen("uv-project", "verify", "--root", root, "--hardware", CPU, cwd=project)
    assert wrong.returncode == 1
    assert "torch 2.14.1+cu126 is installed, 2.13.0+cpu is locked" in wrong.stdout


def test_a_cap_below_the_pin_takes_the_newest_build_of_the_variant_within_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env, deps='"torch>=2.11,<2.14"')
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    result = write(project / "pyproject.toml", [profiles.get("cuda126"), profiles.get("cpu")],
                   WriteOptions())  # fmt: skip
    assert [r.text().split(" ;")[0] for r in result.block.extras[0].requirements] == [
        "nvidia-cuda-runtime-cu12==12.6.77",
        "torch==2.13.1+cu126",
    ]
    assert result.notices[-1].startswith(
        "extra cuda126: index pytorch-cu126: the newest +cu126 build the project allows"
    )
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126")["torch"] == "2.13.1+cu126"


def test_a_dependency_pinning_torch_exactly_decides_the_build(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env, deps='"vllmish==1.0"')
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    write(
        project / "pyproject.toml", [profiles.get("cuda126"), profiles.get("cpu")], WriteOptions()
    )
    assert extras(project)["cuda126"][1].startswith("torch==2.13.0+cu126 ;")
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126")["torch"] == "2.13.0+cu126"
    assert locked(project, "cpu")["torch"] == "2.13.0+cpu"


def test_no_build_in_the_projects_range_is_refused_naming_range_and_hardware(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env, deps='"torch<2.12"')
    before = (project / "pyproject.toml").read_bytes()
    done = gen("uv-project", "write", "--root", tmp_path / "gc", "--profile", "cuda126",
               cwd=project)  # fmt: skip
    assert done.returncode == 2
    assert "no torch build for profile cuda126 (CUDA 12.6, compute capabilities" in done.stderr
    assert "asked uv for torch<=2.14.1 from index" in done.stderr
    assert "torch<2.12" in done.stderr  # uv's own explanation names the project's range
    assert (project / "pyproject.toml").read_bytes() == before


def refused(project: Path, root: Path, *args: str) -> str:
    before = (project / "pyproject.toml").read_bytes()
    done = gen("uv-project", "write", "--root", root, "--profile", "cuda126", "--profile", "cpu",
               *args, cwd=project)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert (project / "pyproject.toml").read_bytes() == before
    return done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.uv]\nmanaged = true\n",
            "project: no [project] table; extras live in [project.optional-dependencies] (a"
            " workspace root without a project has none)",
        ),
        (
            '[project]\nname = "demo"\nversion = "1"\ndynamic = ["optional-dependencies"]\n',
            "project.dynamic: lists 'optional-dependencies': the build backend sets the extras,"
            " so none can be added here",
        ),
        (
            f'[project]\nname = "demo"\nversion = "1"\nrequires-python = "<3.{int(PY[2:]) - 1}"\n',
            f"project.requires-python: <3.{int(PY[2:]) - 1} admits none of the CPython versions"
            f" profile cuda126 is built for ({PY})",
        ),
        (
            '[project]\nname = "demo"\nversion = "1"\n[tool.uv]\n'
            'override-dependencies = ["torch==2.12.0"]\n',
            "tool.uv.override-dependencies[0]: 'torch==2.12.0' overrides torch, which the block"
            " pins per extra: uv replaces every requirement on an overridden package, so each"
            " extra would silently get the override's version",
        ),
        (
            '[project]\nname = "demo"\nversion = "1"\n[tool.uv.sources]\n'
            'torch = { index = "mine" }\n',
            "tool.uv.sources.torch: routes torch for every extra; the block pins it per extra,"
            ' from each profile\'s index: add extra = "..." to it, or remove it',
        ),
        (
            '[project]\nname = "demo"\nversion = "1"\n[[tool.uv.index]]\n'
            'name = "pytorch-cpu"\nurl = "https://example.invalid/simple"\n',
            "tool.uv.index[0].name: 'pytorch-cpu' is taken (profile cpu needs an index of that"
            " name); use --prefix, e.g. --prefix gc-",
        ),
    ],
)
def test_refusals_name_the_key_and_write_nothing(
    tmp_path: Path, env: dict[str, str], text: str, message: str
) -> None:
    """In process (the CLI's exit 2 for InputError: the taken-name test below)."""
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    path.write_text(text)
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    with pytest.raises(InputError) as caught:
        write(path, [profiles.get("cuda126"), profiles.get("cpu")], WriteOptions())
    assert caught.value.exit_code == 2
    assert f"{path}: {message}" in caught.value.problems  # the whole message
    assert path.read_text() == text


def test_torchvision_the_project_uses_comes_from_each_profiles_index(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A second probe pass routes torchvision once the first finds it from the default index."""
    project = make(tmp_path, env, deps='"torchvision"')
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    result = write(project / "pyproject.toml", [profiles.get("cuda126"), profiles.get("cpu")],
                   WriteOptions())  # fmt: skip
    assert [(e.name, e.routed) for e in result.block.extras] == [
        ("cuda126", ("torch", "torchvision")),
        ("cpu", ("torch", "torchvision")),
    ]
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126") == {
        "nvidia-cuda-runtime-cu12": "12.6.77",
        "torch": "2.14.1+cu126",
        "torchvision": "0.29.1+cu126",
    }
    assert locked(project, "cpu") == {"torch": "2.13.0+cpu", "torchvision": "0.28.0+cpu"}


def test_with_stack_adds_the_profiles_other_pins(tmp_path: Path, env: dict[str, str]) -> None:
    project = make(tmp_path, env)
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    path = project / "pyproject.toml"
    write(path, [profiles.get("cpu")], WriteOptions())
    assert [line.split(" ;")[0] for line in extras(project)["cpu"]] == ["torch==2.13.0+cpu"]
    # another option is another block: stale until rewritten
    write(path, [profiles.get("cpu")], WriteOptions(with_stack=True, force=False))
    assert [line.split(" ;")[0] for line in extras(project)["cpu"]] == [
        "torch==2.13.0+cpu",
        "mylib==1.0",
    ]
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cpu") == {"torch": "2.13.0+cpu", "mylib": "1.0"}
    assert check(path, profiles).state == "fresh"


def test_the_users_own_torch_extras_join_the_conflict_set(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    own = (
        '\n[project.optional-dependencies]\nmine = ["torch==2.12.0+cpu"]\n\n'
        '[tool.uv.sources]\ntorch = [\n    { index = "mine-cpu", extra = "mine" },  # mine\n]\n\n'
        f'[[tool.uv.index]]\nname = "mine-cpu"\nurl = "{env["cpu"]}"\nexplicit = true\n'
    )
    path.write_text(path.read_text() + own)
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    write(path, [profiles.get("cuda126"), profiles.get("cpu")], WriteOptions())
    text = path.read_text()
    assert '    { index = "mine-cpu", extra = "mine" },  # mine\n' in text
    assert '[{extra = "cuda126"}, {extra = "cpu"}, {extra = "mine"}]' in text
    assert extras(project)["cuda126"][0] == (
        "nvidia-cuda-runtime-cu12==12.6.77 ; sys_platform == 'linux' and platform_machine =="
        f" 'x86_64' and python_version == '{PY}'"
    )
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "mine") == {"torch": "2.12.0+cpu"}
    assert locked(project, "cuda126")["torch"] == "2.14.1+cu126"
    assert locked(project, "cpu")["torch"] == "2.13.0+cpu"


def test_candidates_vouch_for_the_pin_and_older_builds_of_its_variant_only(tmp_path: Path) -> None:
    profiles = load_profiles(profiles_root(tmp_path, {"cu126": "u", "cpu": "v"}) / "profiles")
    gpu = profiles.get("cuda126")
    assert accepts(gpu, "2.14.1+cu126") == TorchBuild(
        version="2.14.1+cu126", index=gpu.indexes[0], source="profile cuda126 pins.torch"
    )
    older = accepts(gpu, "2.12.0+cu126")
    assert older is not None and older.source.startswith("index pytorch-cu126: the newest")
    for version in ("2.15.0+cu126", "2.12.0+cu128", "2.12.0", "2.14.1"):  # newer, other variant
        assert accepts(gpu, version) is None, version
    plain = profiles_root(tmp_path / "plain", {"cu126": "u", "cpu": "v"}, cu_pin="2.7.1")
    pypi = load_profiles(plain / "profiles").get("cuda126")
    assert accepts(pypi, "2.7.1") is not None
    assert accepts(pypi, "2.6.0") is None  # PyPI's plain builds change variant between releases


def test_a_plain_pypi_pin_is_pinned_from_the_default_index(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env, cu_pin="2.14.1")
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    result = write(project / "pyproject.toml", [profiles.get("cuda126"), profiles.get("cpu")],
                   WriteOptions())  # fmt: skip
    gpu = result.block.extras[0]
    assert (gpu.index, gpu.routed, [r.text().split(" ;")[0] for r in gpu.requirements]) == (
        None,
        (),
        ["torch==2.14.1"],
    )
    assert result.block.indexes == (BlockIndex(name="pytorch-cpu", url=env["cpu"]),)
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126") == {"torch": "2.14.1"}
    assert locked(project, "cpu") == {"torch": "2.13.0+cpu"}


def test_a_build_table_plugs_in_as_one_more_candidate_source(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain PyPI pin outside the project's range: refused from the profile alone; with a
    source of published builds (the build table's place), its build on its index is taken."""
    project = make(tmp_path, env, deps='"torch<2.14"', cu_pin="2.14.1")
    gpu = load_profiles(tmp_path / "gc" / "profiles").get("cuda126")
    path = project / "pyproject.toml"
    with pytest.raises(NoBuildInRange, match=r"asked uv for torch==2\.14\.1; uv says"):
        write(path, [gpu], WriteOptions())

    def table(profile: Profile) -> tuple[TorchBuild, ...]:
        index = Index(name="pytorch-cu126", url=env["cu126"])
        return (TorchBuild(version="2.13.0+cu126", index=index, source="table: cu126 builds"),)

    monkeypatch.setattr(candidates, "SOURCES", (*candidates.SOURCES, table))
    # an index that cannot be read is not "no build in range": uv's own error, exit 1
    broken = WriteOptions(prefix="x-")
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")  # nothing listens
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with pytest.raises(ToolError, match="uv could not lock the probe for profile cuda126") as err:
        write(path, [gpu], broken)
    assert err.value.exit_code == 1
    monkeypatch.setenv("UV_DEFAULT_INDEX", env["pypi"])
    result = write(path, [gpu], WriteOptions())
    assert result.block.extras[0].torch_source == "table: cu126 builds"
    assert result.block.indexes == (BlockIndex(name="pytorch-cu126", url=env["cu126"]),)
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126")["torch"] == "2.13.0+cu126"


def test_a_taken_extra_name_is_refused_and_prefix_writes_beside_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + '\n[project.optional-dependencies]\ncpu = ["mylib"]\n')
    stderr = refused(project, tmp_path / "gc")
    assert "project.optional-dependencies.cpu: the extra name is taken" in stderr
    assert "TIP" not in stderr or "--prefix" in stderr
    done = gen("uv-project", "write", "--root", tmp_path / "gc", "--profile", "cuda126",
               "--profile", "cpu", "--prefix", "gc-", cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(extras(project)) == {"cpu", "gc-cuda126", "gc-cpu"}
    assert extras(project)["cpu"] == ["mylib"]
    assert 'name = "gc-pytorch-cu126"' in path.read_text()
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "gc-cpu")["torch"] == "2.13.0+cpu"


USER_UV = """\
[project.optional-dependencies]
a = ["mylib"]
b = []

[tool.uv]
conflicts = [
    [{ extra = "a" }, { extra = "b" }],  # the user's own
]

[tool.uv.sources]
mylib = { index = "private" }   # kept

[[tool.uv.index]]
name = "private"
url = "{url}"
explicit = true  # the user's index
"""


def test_the_users_conflicts_indexes_and_sources_are_kept_and_rerunning_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + "\n" + USER_UV.replace("{url}", env["private"]))
    original = path.read_text()
    args = ("uv-project", "write", "--root", tmp_path / "gc", "--profile", "cuda126",
            "--profile", "cpu")  # fmt: skip
    assert gen(*args, cwd=project).returncode == 0
    text = path.read_text()
    for line in original.splitlines():
        assert line in text.splitlines(), line  # every line of the user's, byte for byte
    once = path.read_bytes()
    again = gen(*args, cwd=project)
    assert again.returncode == 0 and "unchanged" in again.stderr
    assert path.read_bytes() == once
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126")["torch"] == "2.14.1+cu126"
    assert locked(project, "a") == {"mylib": "1.0"}


USER_URLS = """
[tool.mytool]
repo = "git+ssh://git@github.com/org/x.git"
upload = "https://__token__:pypi-AgEIcHl@upload.example/legacy/"  # the user's own
"""


def test_urls_with_userinfo_the_user_wrote_are_kept_byte_for_byte(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The masking of every written file rewrote them to git+ssh://****@github.com/... and
    https://__token__:****@upload.example/...: the user's own file, broken."""
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + USER_URLS)
    args = ("uv-project", "write", "--root", tmp_path / "gc", "--profile", "cuda126",
            "--profile", "cpu")  # fmt: skip
    done = gen(*args, cwd=project)
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert "cuda126" in extras(project)  # the block was written
    assert USER_URLS.strip() in text


def test_a_hand_edited_block_is_refused_unless_forced_and_check_says_edited(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    root = tmp_path / "gc"
    assert (
        gen("uv-project", "write", "--root", root, "--profile", "cpu", cwd=project).returncode == 0
    )
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace("torch==2.13.0+cpu", "torch==2.12.0+cpu"))
    checked = gen("uv-project", "check", "--root", root, cwd=project)
    assert checked.returncode == 2 and "edited by hand" in checked.stderr
    stderr = gen("uv-project", "write", "--root", root, "--profile", "cpu", cwd=project).stderr
    assert "the block was edited by hand since it was written" in stderr and "--force" in stderr
    assert "torch==2.12.0+cpu" in path.read_text()
    forced = gen("uv-project", "write", "--root", root, "--profile", "cpu", "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert "torch==2.13.0+cpu" in path.read_text()
    assert gen("uv-project", "check", "--root", root, cwd=project).returncode == 0


def test_a_profile_change_makes_the_block_stale_until_refreshed_and_the_lock_is_compared(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    root = tmp_path / "gc"
    profiles = load_profiles(root / "profiles")
    path = project / "pyproject.toml"
    options = WriteOptions(command="gen-constraints uv-project write --profile cuda126")
    write(path, [profiles.get("cuda126")], options)
    unlocked = check(path, profiles)
    assert (unlocked.state, unlocked.notes) == (
        "fresh",
        ("no uv.lock beside pyproject.toml: the locked versions were not compared (run uv lock)",),
    )
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert (check(path, profiles).state, check(path, profiles).notes) == ("fresh", ())
    profiles_root(root, env, cu_pin="2.13.0+cu126")  # the profile moves to another build
    moved = load_profiles(root / "profiles")
    result = check(path, moved)
    assert result.state == "stale"
    assert result.reasons == (
        "the profiles (or their build table) changed since the block was written (cuda126):"
        " refresh it with"
        " `gen-constraints uv-project write --profile cuda126`",
    )
    assert gen("uv-project", "check", "--root", root, cwd=project).returncode == 1
    write(path, [moved.get("cuda126")], options)
    # the block is fresh again; uv.lock still holds the old build: stale, offline, until uv lock
    lock_stale = check(path, moved)
    assert lock_stale.state == "stale"
    assert (
        "extra cuda126: torch 2.14.1+cu126 is locked, the block pins 2.13.0+cu126"
        in (lock_stale.reasons[0])
    )
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert check(path, moved).state == "fresh"


def test_the_machine_picks_its_extra_and_a_machine_no_extra_fits_is_exit_1(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    root = tmp_path / "gc"
    write(project / "pyproject.toml", [load_profiles(root / "profiles").get("cuda126")],
          WriteOptions())  # fmt: skip
    gpu = gen("uv-project", "extra", "--root", root, "--hardware", GPU, cwd=project)
    assert (gpu.returncode, gpu.stdout) == (0, "cuda126\n")
    cpu = gen("uv-project", "extra", "--root", root, "--hardware", CPU, cwd=project)
    assert (cpu.returncode, cpu.stdout) == (1, "")
    assert "no extra of the block in" in cpu.stderr
    assert "cuda126 (profile cuda126): " in cpu.stderr and "no NVIDIA GPU visible" in cpu.stderr


def test_write_refuses_without_profiles_and_check_without_a_block(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    usage = gen("uv-project", "write", "--root", tmp_path / "gc", cwd=project)
    assert usage.returncode == 2 and "--profile NAME" in usage.stderr
    with pytest.raises(InputError, match="no block here"):
        check(project / "pyproject.toml", load_profiles(tmp_path / "gc" / "profiles"))


PROBE_IMPORTS = (
    "import sys\nfrom constraints_gen.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
    "print('exit', code, 'tomlkit' in sys.modules)\n"
)


def test_only_write_imports_tomlkit(tmp_path: Path, env: dict[str, str]) -> None:
    """tomlkit is for uv-project write: emit (its import budget) and check never load it."""
    project = make(tmp_path, env)
    root = str(tmp_path / "gc")
    runs = {
        ("--profile", "cpu", "--python", "3.11"): "exit 0 False",  # emit, built-in profiles
        ("uv-project", "write", "--root", root, "--profile", "cpu"): "exit 0 True",
        ("uv-project", "check", "--root", root): "exit 0 False",
        ("uv-project", "extra", "--root", root, "--hardware", str(CPU)): "exit 0 False",
    }
    for args, expected in runs.items():
        done = subprocess.run([sys.executable, "-c", PROBE_IMPORTS, *args], capture_output=True,
                              text=True, cwd=project)  # fmt: skip
        assert done.stdout.splitlines()[-1] == expected, (args, done.stderr)


def table_row(torch: str, url: str, **kw: object) -> str:
    """One [[build]] of a build table (profiles/builds/torch.toml), for the test's cuda126."""
    row: dict[str, object] = {
        "profile": "cuda126", "torch": torch, "variant": torch.split("+")[-1], "index": url,
        "system": "linux", "machine": "x86_64", "cuda": "12.6",
        "archs": ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"], "ptx": False,
        "min_driver": "525.60.13", "glibc": "2.28", "pythons": [PY], "archs_from": "published",
        "source": "stand-in", **kw,
    }  # fmt: skip
    lines = ["[[build]]"]
    for key, value in row.items():
        text = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"').lower()
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def with_table(root: Path, *rows: str) -> None:
    (root / "profiles" / "builds").mkdir(parents=True, exist_ok=True)
    (root / "profiles" / "builds" / "torch.toml").write_text("\n".join(rows))


def test_a_cap_below_the_pin_takes_the_newest_table_build_that_runs_on_the_hardware(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """torch<2.14 and a profile pinning 2.14.1+cu126: the table's newest build in range that
    runs on all of the profile's hardware, exactly, from that build's own index."""
    project = make(tmp_path, env, deps='"torch<2.14"')
    root = tmp_path / "gc"
    with_table(
        root,
        table_row("2.14.1+cu126", env["cu126"]),
        # in range and newer, but each misses one fact of the profile's hardware
        table_row("2.13.9+cu128", env["cu128"], archs=["7.5", "8.0", "8.6"]),  # no sm_90
        table_row("2.13.8+cu128", env["cu128"], min_driver="570.26"),  # driver floor > R525
        table_row("2.13.7+cu128", env["cu128"], glibc="2.34"),  # manylinux_2_28 profile
        table_row("2.13.6+cu128", env["cu128"], pythons=["3.9"]),  # no wheel for its Python
        table_row("2.13.5+cu128", env["cu128"], archs=["7.5", "8.0", "8.6", "9.0"]),  # runs
        table_row("2.13.0+cu126", env["cu126"]),
    )
    profiles = load_profiles(root / "profiles")
    gpu = profiles.get("cuda126")
    assert [(b.version, b.exact) for b in candidates.candidates(gpu)] == [
        ("2.14.1+cu126", True),
        ("2.13.5+cu128", True),
        ("2.13.0+cu126", True),
    ]
    path = project / "pyproject.toml"
    result = write(path, [gpu, profiles.get("cpu")], WriteOptions())
    extra = result.block.extras[0]
    assert (extra.index, extra.index_url) == ("pytorch-cu128", env["cu128"])
    assert extra.torch_source == (
        "build table torch.toml: 2.13.5+cu128 (cu128, profile cuda126's row) runs on profile"
        " cuda126's hardware"
    )
    assert f"extra cuda126: {extra.torch_source}" in result.notices
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126") == {"torch": "2.13.5+cu128"}
    assert check(path, profiles).state == "fresh"
    # the cu128 row leaves the table (the block is stale until refreshed): the cu126 index's
    # 2.13.0 (listed) wins over its 2.13.1 (on the index, not in the table: not taken)
    with_table(
        root, table_row("2.14.1+cu126", env["cu126"]), table_row("2.13.0+cu126", env["cu126"])
    )
    stale = check(path, load_profiles(root / "profiles"))
    assert (stale.state, stale.reasons[0][:50]) == (
        "stale",
        "the profiles (or their build table) changed since ",
    )
    write(path, [load_profiles(root / "profiles").get("cuda126")], WriteOptions())
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "cuda126")["torch"] == "2.13.0+cu126"


def test_no_table_build_in_range_is_refused_naming_each_build_range_and_hardware(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env, deps='"torch<2.13"')
    root = tmp_path / "gc"
    with_table(
        root, table_row("2.14.1+cu126", env["cu126"]), table_row("2.13.0+cu126", env["cu126"])
    )
    before = (project / "pyproject.toml").read_bytes()
    done = gen("uv-project", "write", "--root", root, "--profile", "cuda126", cwd=project)
    assert done.returncode == 2, done.stderr
    hardware = (
        "no torch build for profile cuda126 (CUDA 12.6, compute capabilities 7.5 8.0 8.6 9.0)"
    )
    assert done.stderr.count(hardware) == 2
    for build in ("2.14.1+cu126", "2.13.0+cu126"):
        assert f"asked uv for torch=={build} from index {env['cu126']}" in done.stderr
    assert "torch<2.13" in done.stderr  # uv's explanation names the project's range
    assert (project / "pyproject.toml").read_bytes() == before


def test_the_builtin_table_gives_each_profile_only_builds_for_its_whole_class() -> None:
    """Real data: profiles/builds/torch.toml against the built-in profiles."""
    from constraints_gen.profiles.project import builtin_root

    profiles = load_profiles(builtin_root() / "profiles")

    def versions(name: str) -> list[str]:
        return [b.version for b in candidates.candidates(profiles.get(name))]

    # Maxwell/Pascal on R525: nothing but its own cu126 build (cu128+ dropped sm_50, CUDA 13
    # needs R580)
    assert versions("pt_cu126") == ["2.14.1+cu126"]
    # CUDA 13.0 on R580, sm_75-sm_120: the cu132 build (same archs, same floor) when its pin is
    # out of range; never the cu126 build (no sm_100/sm_120 kernels)
    assert "2.15.0" in versions("cuda130") and "2.14.1+cu126" not in versions("cuda130")
    # CUDA 13.2: its pin, then CUDA 13.0's 2.14.1 (same archs, same R580 floor), newest first
    assert versions("cuda132")[:2] == ["2.15.0", "2.14.1"]
    # manylinux2014 (glibc 2.17): only its own glibc-2.17 build
    assert versions("cuda124_glibc217") == ["2.6.0"]
    # Windows profiles take Windows rows only
    assert all("+" in v for v in versions("win_cu130"))
    assert versions("rocm72") == ["2.13.0+rocm7.2"]  # the table is NVIDIA's


def vendor_profiles(root: Path, indexes: dict[str, str]) -> None:
    """ROCm and XPU profiles shaped like the built-in rocm72 and xpu, on the stand-in indexes."""
    folder = root / "profiles"
    (folder / "rocm72.toml").write_text(
        textwrap.dedent(f"""\
        name = "rocm72"
        [hardware]
        vendor = "amd"
        rocm = "7.2"
        gfx_targets = ["gfx90a", "gfx942"]
        [target]
        platform = "x86_64-manylinux_2_28"
        python = ["{PY}"]
        [pins]
        torch = "2.13.0+rocm7.2"
        [[indexes]]
        name = "pytorch-rocm7.2"
        url = "{indexes["rocm"]}"
        """)
    )
    (folder / "xpu.toml").write_text(
        textwrap.dedent(f"""\
        name = "xpu"
        [hardware]
        vendor = "intel"
        [target]
        platforms = ["x86_64-manylinux_2_28", "x86_64-pc-windows-msvc"]
        python = ["{PY}"]
        [pins]
        torch = "2.14.1+xpu"
        [[indexes]]
        name = "pytorch-xpu"
        url = "{indexes["xpu"]}"
        """)
    )


def test_rocm_and_xpu_builds_take_their_triton_from_their_own_index(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch+rocm7.2 needs pytorch-triton-rocm 3.5.0, torch+xpu pytorch-triton-xpu 3.6.0, each
    only on its index (PyPI's pytorch-triton-rocm is another release): routed per extra."""
    project = make(tmp_path, env)
    vendor_profiles(tmp_path / "gc", env)
    profiles = load_profiles(tmp_path / "gc" / "profiles")
    path = project / "pyproject.toml"
    chosen = [profiles.get("rocm72"), profiles.get("xpu"), profiles.get("cpu")]
    before = path.read_bytes()
    # must say no: without the vendor's triton routed, uv cannot find the build's triton
    monkeypatch.setattr(uvprobe, "ROUTED_BY_VENDOR", {})
    with pytest.raises(NoBuildInRange, match="pytorch-triton-rocm"):
        write(path, chosen, WriteOptions())
    assert path.read_bytes() == before
    monkeypatch.undo()
    monkeypatch.setenv("UV_DEFAULT_INDEX", env["pypi"])
    result = write(path, chosen, WriteOptions())
    assert [(e.name, e.index, e.routed) for e in result.block.extras] == [
        ("rocm72", "pytorch-rocm7.2", ("pytorch-triton-rocm", "torch")),
        ("xpu", "pytorch-xpu", ("pytorch-triton-xpu", "torch")),
        ("cpu", "pytorch-cpu", ("torch",)),
    ]
    text = path.read_text()
    assert 'pytorch-triton-rocm = [\n    {index = "pytorch-rocm7.2", extra = "rocm72"},\n]' in text
    assert 'pytorch-triton-xpu = [\n    {index = "pytorch-xpu", extra = "xpu"},\n]' in text
    assert uv("lock", "--offline", cwd=project).returncode == 0
    assert locked(project, "rocm72") == {"torch": "2.13.0+rocm7.2", "pytorch-triton-rocm": "3.5.0"}
    assert locked(project, "xpu") == {"torch": "2.14.1+xpu", "pytorch-triton-xpu": "3.6.0"}
    assert check(path, profiles).state == "fresh"


def test_check_extra_and_verify_find_the_root_write_recorded_from_anywhere(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    done = gen("uv-project", "write", "--root", tmp_path / "gc", "--profile", "cuda126",
               cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'root = "../gc"\n' in path.read_text()  # relative: the file stays portable
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = gen("uv-project", "check", "--project", project, cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr  # the built-in cuda126 would be stale
    picked = gen("uv-project", "extra", "--project", project, "--hardware", GPU, cwd=elsewhere)
    assert (picked.returncode, picked.stdout) == (0, "cuda126\n")
    again = gen("uv-project", "write", "--profile", "cuda126", cwd=project)  # no --root
    assert again.returncode == 0 and "unchanged" in again.stderr, again.stderr
    # must say no: the recorded root moved away: exit 2 naming the key, nothing guessed
    (tmp_path / "gc").rename(tmp_path / "gc-moved")
    lost = gen("uv-project", "check", "--project", project, cwd=elsewhere)
    assert lost.returncode == 2
    assert (
        f"{path}: tool.gen-constraints.uv-project.root: '../gc' ({project / '../gc'}) is not a"
        " constraints_gen root (expected profiles/manifest.toml in it)"
    ) in lost.stderr
    # an explicit --root wins over the record
    moved = gen("uv-project", "check", "--project", project, "--root", tmp_path / "gc-moved",
                cwd=elsewhere)  # fmt: skip
    assert moved.returncode == 0, moved.stderr


def test_the_builtin_cpu_profile_is_probed_through_the_projects_mirrors(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """download.pytorch.org/whl/cpu and PyPI mirrored by folders of wheels (constraints-gen.toml
    [mirrors] or $GEN_CONSTRAINTS_MIRRORS, as lock reads them); uv offline: nothing else."""
    project = make(tmp_path, env)
    path = project / "pyproject.toml"
    wheels = Path(env["pypi"].removeprefix("file://")).parent.parent
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.delenv("UV_DEFAULT_INDEX")
    # must say no: without the mirrors the published index cannot be read (exit 1, uv's words)
    unread = gen("uv-project", "write", "--profile", "cpu", cwd=project)
    assert unread.returncode == 1, unread.stderr
    assert "uv could not lock the probe for profile cpu" in unread.stderr
    monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pytorch-cpu={wheels / 'w-cpu'}")
    done = gen("uv-project", "write", "--profile", "cpu", "--mirror", f"pypi={wheels / 'w-pypi'}",
               cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'root = "builtin"' in path.read_text()
    assert extras(project)["cpu"][0].startswith("torch==2.13.0+cpu ;")
    # the block names the published index; a URL mirror of it is uv's own --index NAME=URL
    assert 'url = "https://download.pytorch.org/whl/cpu"' in path.read_text()
    assert str(wheels) not in path.read_text()
    locked_ = uv("lock", "--index", f"pytorch-cpu={env['cpu']}", "--default-index", env["pypi"],
                 cwd=project)  # fmt: skip
    assert locked_.returncode == 0, locked_.stderr
    assert locked(project, "cpu") == {"torch": "2.13.0+cpu"}


def test_a_mirrors_password_reaches_uv_through_its_environment_only(tmp_path: Path) -> None:
    profiles = load_profiles(profiles_root(tmp_path, {"cu126": "u", "cpu": "v"}) / "profiles")
    mirrors = {
        "pytorch-cpu": "https://me:s3cret@mirror.example/whl/cpu",
        "pypi": "https://me:s3cret@mirror.example/pypi/simple",
    }
    context = uvprobe.Context(
        pyproject=tmp_path / "pyproject.toml",
        data={"project": {"name": "demo", "version": "1"}},
        mirrors=mirrors,
    )
    plan = uvprobe.Plan(profile=profiles.get("cpu"), extra="cpu", prefix="", index="pytorch-cpu",
                        index_url="v", marker=None, stack=(),
                        read_from=mirrors["pytorch-cpu"])  # fmt: skip
    text, env = uvprobe._probe_text(context, plan, "torch==2.13.0+cpu", ["torch"])
    args = uvprobe._default_mirror(context, tmp_path, env)
    assert "s3cret" not in text and "s3cret" not in " ".join(args)
    assert 'url = "https://mirror.example/whl/cpu"' in text
    assert args == ["--default-index", "gen-constraints-default=https://mirror.example/pypi/simple"]
    assert env == {
        "UV_INDEX_PYTORCH_CPU_USERNAME": "me",
        "UV_INDEX_PYTORCH_CPU_PASSWORD": "s3cret",
        "UV_DEFAULT_INDEX": None,
        "UV_INDEX_URL": None,
        "UV_INDEX_GEN_CONSTRAINTS_DEFAULT_USERNAME": "me",
        "UV_INDEX_GEN_CONSTRAINTS_DEFAULT_PASSWORD": "s3cret",
    }
