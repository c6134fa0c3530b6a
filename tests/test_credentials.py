"""Credentials never leave: no output, JSON, -v line, file or child argv holds a password, and an
explicit --wheelhouse / --mirror wins over every ambient uv setting (issue 16, sections 1 and 5).

A loopback index that demands ``me:PASSWORD`` serves the wheels; every command is run as a user
runs it, and every byte it printed or wrote (project, wheelhouse, user cache, uv's cache, the
target venv) is searched for the password in each form it could take."""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.faulty_server import FaultyServer, Route, faulty_server
from support.index import write_simple_index
from support.sync_project import LINUX, PY, gen, make_venv, scenario_project, scenario_wheels

from constraints_gen import runner
from constraints_gen.cli import main
from constraints_gen.errors import InputError
from constraints_gen.fsutil import atomic_write
from constraints_gen.redact import parse_url

PASSWORD = "S3cr/t#Pw?d:@%z"
ENCODED = urllib.parse.quote(PASSWORD, safe="")
FORMS = (
    PASSWORD,
    ENCODED,
    "S3cr",  # any piece of it
    base64.b64encode(f"me:{PASSWORD}".encode()).decode(),  # the Authorization header
)
COMMON = ("--profile", "demo", "--root", "proj")
DEAD = "http://127.0.0.1:9/simple"  # nothing listens: a uv sent there fails
INCIDENT = ["transformers==4.57.3", "torch==2.5.1+cu124", "peft==0.13.2", "extra==1.0"]


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def leaking_files(*folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else ():
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(form.encode() in data for form in FORMS):
                    found.append(str(path))
    return found


def credentialed(server: FaultyServer) -> str:
    return server.url.replace("http://", f"http://me:{ENCODED}@") + "/simple"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FaultyServer, Path]]:
    """(a server demanding me:PASSWORD for the project's wheels, the venv to sync)."""
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "public")
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    with faulty_server(root=tmp_path / "public") as server:
        server.credentials = f"me:{PASSWORD}"
        yield server, tmp_path / "venv"


def test_a_password_reaches_no_output_and_no_file(
    tmp_path: Path, served: tuple[FaultyServer, Path]
) -> None:
    server, _ = served
    url = credentialed(server)
    sync = ("sync", *COMMON, "--python", "venv", "--wheelhouse", url)
    runs = {}
    # uv's relayed output and our own client's error, when the index answers 500
    torch = (tmp_path / "public" / "simple" / "torch" / "index.html").read_bytes()
    server.routes["/simple/torch/"] = Route(
        body=torch,
        content_type="text/html",
        failures=[(500, {})] * 40,
        credentials=f"me:{PASSWORD}",
    )
    runs["500"] = gen(*sync, "-v", cwd=tmp_path)
    del server.routes["/simple/torch/"]
    assert runs["500"].returncode != 0
    # the index lacks a locked wheel: our error names the wheelhouse
    lacking = tmp_path / "lacking"
    files = (tmp_path / "public" / "files").glob("*.whl")
    write_simple_index([p for p in files if "cu121" not in p.name], lacking)
    with faulty_server(root=lacking) as other:
        other.credentials = f"me:{PASSWORD}"
        runs["lacking"] = gen(*sync[:-1], credentialed(other), "--json", "-v", cwd=tmp_path)
    assert runs["lacking"].returncode == 2, runs["lacking"].stderr
    assert "lacks 1 wheels of profile demo" in runs["lacking"].stderr
    assert "http://me:****@127.0.0.1:" in runs["lacking"].stderr
    # --check, -v, --json; then the sync itself (uv is given the password in its environment)
    runs["check"] = gen(*sync, "--check", "-v", "--json", cwd=tmp_path)
    assert runs["check"].returncode == 1, runs["check"].stderr
    runs["sync"] = gen(*sync, "-v", "--json", cwd=tmp_path)
    assert runs["sync"].returncode == 0, runs["sync"].stderr
    assert '"wheelhouse": "http://me:****@127.0.0.1:' in runs["sync"].stdout
    assert "--default-index wheelhouse=http://127.0.0.1:" in runs["sync"].stderr  # -v line
    runs["in sync"] = gen(*sync, "--check", cwd=tmp_path)
    assert runs["in sync"].returncode == 0, runs["in sync"].stderr
    # fill from the same index, credentials in --index-url
    runs["fill"] = gen(
        "wheelhouse",
        "fill",
        *COMMON,
        "--wheelhouse",
        "wh",
        "--index-url",
        url,
        "--json",
        cwd=tmp_path,
    )
    assert runs["fill"].returncode == 0, runs["fill"].stderr
    for name, run in runs.items():
        assert not leaks(run.stdout + run.stderr), (name, run.stdout, run.stderr)
    cache = Path(os.environ["GEN_CONSTRAINTS_CACHE_DIR"])
    uv_cache = Path(os.environ["UV_CACHE_DIR"])
    assert not leaking_files(tmp_path, cache, uv_cache)


def test_print_command_runs_as_printed_and_never_prints_the_password(
    tmp_path: Path, served: tuple[FaultyServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setenv("UV_INDEX", DEAD)  # set in the shell that runs the line: unset by it
    sync = ("sync", *COMMON, "--python", "venv", "--wheelhouse", credentialed(server))
    printed = gen(*sync, "--print-command", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert not leaks(printed.stdout + printed.stderr)
    words = shlex.split(printed.stdout)
    assert words[:4] == ["env", "-u", "UV_INDEX", "UV_INDEX_WHEELHOUSE_USERNAME=me"]
    assert f"wheelhouse={server.url}/simple" in words
    assert printed.stderr == (
        "gen-constraints: warning: the password is not printed: export"
        " UV_INDEX_WHEELHOUSE_PASSWORD (or put it in ~/.netrc) before running the command\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    refused = subprocess.run(
        printed.stdout, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0  # no password: the index says 401
    env["UV_INDEX_WHEELHOUSE_PASSWORD"] = PASSWORD
    done = subprocess.run(
        printed.stdout, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "+ torch==2.5.1+cu121" in done.stderr


class Recorder:
    """subprocess.run, recording each child's argv and environment."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.real = subprocess.run

    def __call__(self, args: Sequence[str], **kwargs: Any) -> Any:
        self.calls.append((list(args), dict(kwargs.get("env") or os.environ)))
        return self.real(args, **kwargs)


def run_main(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_uv_gets_credentials_through_its_environment_never_argv(
    tmp_path: Path,
    served: tuple[FaultyServer, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = served
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)  # runner calls subprocess.run
    monkeypatch.chdir(tmp_path)
    code = run_main("sync", *COMMON, "--python", "venv", "--wheelhouse", credentialed(server))
    out, err = capsys.readouterr()
    assert code == 0, err
    uv = [(argv, env) for argv, env in recorder.calls if argv[0] == runner.uv_bin()]
    assert len(uv) >= 2  # the drift check and the sync
    for argv, env in uv:
        assert not leaks(" ".join(argv)), argv  # what ps and /proc/PID/cmdline show
        assert env["UV_INDEX_WHEELHOUSE_USERNAME"] == "me"
        assert env["UV_INDEX_WHEELHOUSE_PASSWORD"] == PASSWORD
    assert not leaks(out + err)


@pytest.mark.parametrize("password", ["pa/ss", "p#ss", "p?ss"])
@pytest.mark.parametrize("command", ["sync", "fill", "lock", "mirrors-env"])
def test_a_url_that_cannot_be_read_is_exit_2_masked(
    tmp_path: Path, command: str, password: str
) -> None:
    scenario_project(tmp_path)
    bad = f"https://me:{password}@127.0.0.1:9/simple"
    env = None
    args: tuple[str, ...] = {
        "sync": ("sync", "--check", *COMMON, "--python", sys.executable, "--wheelhouse", bad),
        "fill": ("wheelhouse", "fill", *COMMON, "--wheelhouse", "wh", "--index-url", bad),
        "lock": ("lock", "demo", "--root", "proj", "--mirror", f"pypi={bad}"),
        "mirrors-env": ("wheelhouse", "fill", *COMMON, "--wheelhouse", "wh"),
    }[command]
    if command == "mirrors-env":
        env = {"GEN_CONSTRAINTS_MIRRORS": f"pypi={bad}"}
    done = gen(*args, cwd=tmp_path) if env is None else _gen_env(tmp_path, env, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "ERROR: https://me:****@127.0.0.1:9/simple: not a URL that can be read" in done.stderr
    assert "percent-encode the password" in done.stderr
    assert password not in done.stderr + done.stdout


def _gen_env(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return gen(*args, cwd=cwd)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("machine 127.0.0.1 login me password S3cr t#Pw\n", 2),  # an unquoted space
        ("machine h login me password x\nmachine 127.0.0.1 login me password S3cr stray\n", 3),
    ],
)
def test_a_netrc_that_does_not_parse_is_named_never_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, line: int
) -> None:
    scenario_project(tmp_path)
    netrc = tmp_path / "netrc"
    netrc.write_text(body)
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    done = gen(
        "wheelhouse",
        "fill",
        *COMMON,
        "--wheelhouse",
        "wh",
        "--index-url",
        "http://127.0.0.1:9/simple",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"ERROR: {netrc}: not a valid .netrc file near line {line} (")
    assert "S3cr" not in done.stderr and "t#Pw" not in done.stderr and "stray" not in done.stderr


@pytest.mark.parametrize("where", ["env", "constraints-gen.toml"])
def test_mirrors_with_credentials_are_never_printed_or_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    scenario_project(tmp_path)
    mirror = f"https://me:{ENCODED}@mirror.example/simple"
    if where == "env":
        monkeypatch.setenv("GEN_CONSTRAINTS_MIRRORS", f"pypi={mirror}")
    else:
        (tmp_path / "proj" / "constraints-gen.toml").write_text(f'[mirrors]\npypi = "{mirror}"\n')
    for _ in range(2):  # computed, then answered from the cache
        done = gen("--profile", "demo", "--root", "proj", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert not leaks(done.stdout + done.stderr)
    env = gen("env", "--profile", "demo", "--root", "proj", cwd=tmp_path)
    assert env.returncode == 0 and not leaks(env.stdout + env.stderr)
    cache = Path(os.environ["GEN_CONSTRAINTS_CACHE_DIR"])
    assert list((cache / "answers").iterdir()), "emit stored no answer"
    assert not leaking_files(cache, tmp_path / "proj" / "generated")


# -- explicit beats ambient ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "redirects"),
    [
        ({"UV_DEFAULT_INDEX": DEAD}, True),
        ({"UV_INDEX": DEAD}, True),
        ({"UV_EXTRA_INDEX_URL": DEAD}, True),
        ({"UV_FIND_LINKS": DEAD}, True),
        ({"UV_CONFIG_FILE": "uv.toml"}, True),
        ({"UV_NO_CONFIG": None}, True),  # ./uv.toml, read unless --no-config
        # uv 0.13.9 lets --index-url win over these two already; cleared all the same
        ({"UV_INDEX_URL": DEAD}, False),
        ({"UV_NO_INDEX": "1"}, False),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else str(value),
)
def test_an_explicit_wheelhouse_wins_over_every_ambient_uv_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: dict[str, str | None], redirects: bool
) -> None:
    _, wheels = scenario_project(tmp_path)
    write_simple_index(sorted(wheels.glob("*.whl")), tmp_path / "public")
    make_venv(tmp_path / "venv", wheels, INCIDENT)
    (tmp_path / "uv.toml").write_text(f'[pip]\nindex-url = "{DEAD}"\nno-index = true\n')
    lock = tmp_path / "proj" / "generated" / "demo" / f"py{PY}.lock.txt"
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # no page cached before
    with faulty_server(root=tmp_path / "public") as server:
        url = server.url + "/simple"
        for key, value in setting.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        # the command sync ran before: does the ambient setting send it elsewhere?
        plain = subprocess.run(
            [runner.uv_bin(), "pip", "sync", "--check", "--index-url", url, "--require-hashes",
             "--python", "venv/bin/python", lock],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )  # fmt: skip
        went_elsewhere = plain.returncode == 2 or "index lookups were disabled" in plain.stderr
        assert went_elsewhere == redirects, plain.stderr
        done = gen(
            "sync", "--check", *COMMON, "--python", "venv", "--wheelhouse", url, cwd=tmp_path
        )
        assert done.returncode == 1, done.stderr  # the drift, found from --wheelhouse
        assert done.stdout == (
            "- extra 1.0\n~ torch 2.5.1+cu124 -> 2.5.1+cu121\n~ transformers 4.57.3 -> 4.51.3\n"
        )
        synced = gen(
            "sync", *COMMON, "--python", "venv", "--wheelhouse", url, "--no-deep", cwd=tmp_path
        )
        assert synced.returncode == 0, synced.stderr


def test_lock_with_a_credentialed_mirror_wins_and_keeps_the_password_out_of_argv(
    tmp_path: Path,
    served: tuple[FaultyServer, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--mirror pypi=URL`` wins over $UV_DEFAULT_INDEX and $UV_INDEX (both name a dead index
    here), and its credentials reach uv only through its environment."""
    server, _ = served
    monkeypatch.setenv("UV_DEFAULT_INDEX", DEAD)
    monkeypatch.setenv("UV_INDEX", DEAD)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    monkeypatch.chdir(tmp_path)
    mirror = f"pypi={credentialed(server)}"
    code = run_main("lock", "demo", "--root", "proj", "--force", "-v", "--mirror", mirror)
    out, err = capsys.readouterr()
    assert code == 0, err
    (argv, env), *_ = [
        (a, e) for a, e in recorder.calls if a[:3] == [runner.uv_bin(), "pip", "compile"]
    ]
    assert not leaks(" ".join(argv)) and "--default-index" in argv
    assert argv[argv.index("--default-index") + 1] == f"cg0={server.url}/simple"
    assert (env["UV_INDEX_CG0_USERNAME"], env["UV_INDEX_CG0_PASSWORD"]) == ("me", PASSWORD)
    assert "UV_DEFAULT_INDEX" not in env and "UV_INDEX" not in env
    assert any(seen.headers.get("authorization") for seen in server.seen)
    assert not leaks(out + err)
    assert not leaking_files(tmp_path / "proj", Path(os.environ["GEN_CONSTRAINTS_CACHE_DIR"]))


def test_pip_compile_gets_credentialed_indexes_through_its_environment(tmp_path: Path) -> None:
    from constraints_gen.locks.compile import resolver_for
    from constraints_gen.locks.resolver import LockOptions
    from constraints_gen.profiles.load import load_profiles
    from constraints_gen.uvplatforms import running_python

    scenario_project(tmp_path)
    profile = load_profiles(tmp_path / "proj" / "profiles").get("demo")
    url = f"https://me:{ENCODED}@mirror.example/simple"
    options = LockOptions(mirrors={"pypi": url})
    pip_tools = resolver_for("pip-tools")
    args = pip_tools.compile_args(profile, running_python(), options)
    assert not leaks(" ".join(args)) and "--index-url" not in args
    assert pip_tools.env(profile, options)["PIP_INDEX_URL"] == url
    plain = LockOptions(mirrors={"pypi": "https://mirror.example/simple"})
    assert "--index-url" in pip_tools.compile_args(profile, running_python(), plain)
    assert pip_tools.env(profile, plain)["PIP_INDEX_URL"] is None  # the ambient one removed


@pytest.mark.parametrize(
    "args",
    [
        ("lock", "--mirror", f"https://me:{ENCODED}@h.example/simple"),  # our InputError
        ("wheelhouse", "fill", "--timeout", f"https://me:{ENCODED}@h.example/simple"),  # click's
    ],
    ids=["input-error", "usage-error"],
)
def test_errors_quoting_a_credentialed_value_are_masked(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = gen(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "https://me:****@h.example/simple" in done.stderr
    assert not leaks(done.stdout + done.stderr)


@pytest.mark.parametrize(
    "password",
    ["sec[ret", "sec]ret", "se cret", 'se"cret', "se'cret", "se`cret", "se<cret", "se\tcret"],
)
def test_a_password_the_mask_would_not_cover_whole_is_refused(password: str) -> None:
    """A raw "[" is a ValueError in urlsplit (was a traceback); a raw space, quote, "<" or
    backtick ends a URL inside a text, so every later message would show the rest of the
    password (was accepted, and then only "me:se" was masked)."""
    url = f"https://me:{password}@127.0.0.1:9/simple"
    with pytest.raises(InputError) as caught:
        parse_url(url)
    assert caught.value.message.startswith("https://me:****@127.0.0.1:9/simple: not a URL")
    assert "cret" not in caught.value.message + str(caught.value.tip)
    for fine in ("https://me:se%20cret@[::1]:9/simple", "https://me:s@c@h/p@th", "https://t@h/"):
        assert parse_url(fine).hostname in ("::1", "h")


def test_a_password_with_a_bracket_is_exit_2_not_a_traceback(tmp_path: Path) -> None:
    scenario_project(tmp_path)
    bad = "https://me:sec[ret@127.0.0.1:9/simple"
    done = gen(
        "sync", "--check", *COMMON, "--python", sys.executable, "--wheelhouse", bad, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "ERROR: https://me:****@127.0.0.1:9/simple: not a URL that can be read" in done.stderr
    assert "cret" not in done.stdout + done.stderr


def test_an_edited_file_keeps_the_urls_its_owner_wrote_and_masks_what_is_added(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pyproject.toml"
    old = 'repo = "git+ssh://git@github.com/o/x.git"\n'
    added = 'url = "https://me:S3cr@127.0.0.1:9/simple"\n'
    atomic_write(path, old + added, edited=old)
    assert path.read_text() == old + 'url = "https://me:****@127.0.0.1:9/simple"\n'
    atomic_write(path, old + added)  # a file the tool owns: everything masked
    assert "git@" not in path.read_text() and "S3cr" not in path.read_text()


def test_a_profile_index_with_credentials_locks_into_a_pair_every_reader_accepts(
    tmp_path: Path,
) -> None:
    """The "# Index" line was sealed with the password and masked when written: lock said
    "locked", then emit, lock --check and sync refused the pair as edited, forever."""
    wheels = scenario_wheels(tmp_path / "wheels")
    folder = tmp_path / "proj" / "profiles"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text('[requirements]\ntransformers = ">=4.51"\n')
    (folder / "demo.toml").write_text(
        f'name = "demo"\n[hardware]\nvendor = "cpu"\n[target]\nplatform = "{LINUX}"\n'
        f'python = ["{PY}"]\n[pins]\ntorch = "2.5.1+cu121"\n[[indexes]]\nname = "priv"\n'
        f'url = "https://me:{ENCODED}@127.0.0.1:9/simple"\n'
    )
    mirrors = ("--mirror", f"priv={wheels}", "--mirror", f"pypi={wheels}")
    runs = {"lock": gen("lock", "demo", "--root", "proj", *mirrors, cwd=tmp_path)}
    assert runs["lock"].returncode == 0, runs["lock"].stderr
    runs["emit"] = gen("--profile", "demo", "--root", "proj", cwd=tmp_path)
    assert runs["emit"].returncode == 0, runs["emit"].stderr
    assert "--extra-index-url https://127.0.0.1:9/simple\n" in runs["emit"].stdout
    runs["check"] = gen("lock", "--check", "--root", "proj", cwd=tmp_path)
    assert runs["check"].returncode == 0, runs["check"].stderr
    for name, run in runs.items():
        assert not leaks(run.stdout + run.stderr), name
    assert not leaking_files(tmp_path / "proj" / "generated")
