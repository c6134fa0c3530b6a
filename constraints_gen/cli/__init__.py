"""The command line: parse options, call the core, render results. No work happens here.

The error boundary (:func:`main`) turns every known error into one ``ERROR`` line (and a ``TIP``)
on stderr with its exit code: 1 an expected "no", 2 bad input or usage, 3 a bug, 130 Ctrl-C.
Whatever it prints, a traceback included, goes through the reporter, so credentials are masked.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
from click.core import ParameterSource

from constraints_gen import __version__
from constraints_gen.cli import output
from constraints_gen.cli.core import detect_cmd, emit_options, explain_cmd, run_emit
from constraints_gen.errors import EXIT_BUG, EXIT_INPUT, ConstraintsGenError
from constraints_gen.reporter import REPORT, Level

#: Subcommands imported only when named (or listed by --help): the default command, emit, runs
#: on every install and commit and must not pay for their imports (bench/: emit's budget).
LAZY_COMMANDS: Mapping[str, str] = {
    "env": "constraints_gen.cli.env:env_cmd",
    "lock": "constraints_gen.cli.lock:lock_cmd",
    "plan": "constraints_gen.cli.plan:plan_cmd",
    "profiles": "constraints_gen.cli.profiles:profiles_cmd",
    "sync": "constraints_gen.cli.sync:sync_cmd",
    "uv-project": "constraints_gen.cli.uvproject:uv_project_cmd",
    "verify": "constraints_gen.cli.verify:verify_cmd",
    "wheelhouse": "constraints_gen.cli.wheelhouse:wheelhouse_cmd",
}


def _set_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """-v/-q, accepted by every command: set the run's reporter level; both at once is an error."""
    if not value or ctx.resilient_parsing:
        return
    level: Level = "verbose" if param.name == "verbose" else "quiet"
    if REPORT.level not in ("normal", level):  # main() starts each run at "normal"
        raise click.UsageError("-v/--verbose and -q/--quiet exclude each other", ctx=ctx)
    REPORT.level = level


def verbosity_options() -> list[click.Option]:
    return [
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_set_flag,
            help="Show each uv/pip/git command on stderr.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_flag,
            help="Fewer messages on stderr (errors always show).",
        ),
    ]


def _add_verbosity(command: click.Command) -> None:
    """Give ``command`` and every command below it -v/-q (once)."""
    if not any(param.name == "verbose" for param in command.params):
        command.params.extend(verbosity_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbosity(sub)


def _explicit(ctx: click.Context) -> list[click.Option]:
    """The group's own options that were given on the command line (not -v/-q, not from env)."""
    return [
        param
        for param in ctx.command.params
        if isinstance(param, click.Option)
        and param.expose_value
        and param.name is not None
        and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    ]


def _raw(param: click.Option, value: object) -> list[str]:
    """The command-line words that give ``param`` its ``value`` again."""
    if param.is_flag:
        return [param.opts[0]]
    return [param.opts[0], str(value)]


def _forward(
    ctx: click.Context,
    path: str,
    command: click.Command,
    args: list[str],
    given: Sequence[tuple[click.Option, object]],
) -> list[str]:
    """Place the group options ``given`` before ``path`` into the arguments of ``command``.

    An option given before a subcommand applies to that subcommand (through nested groups, to
    the one finally run): it becomes the same words after the subcommand's name. A subcommand
    without such an option, or the same option after it with another value, is a usage error.
    """
    probe = click.Context(command, parent=ctx, info_name=path, resilient_parsing=True)
    try:
        opts, rest, _ = command.make_parser(probe).parse_args(list(args))
    except click.UsageError:  # let the real parse say what is wrong
        return args
    if isinstance(command, click.Group):
        if not rest:
            return args
        sub = command.get_command(probe, rest[0])
        if sub is None:
            return args
        head = args[: len(args) - len(rest)]
        return [*head, rest[0], *_forward(ctx, f"{path} {rest[0]}", sub, rest[1:], given)]
    added: list[str] = []
    for option, value in given:
        added += _one(ctx, path, command, probe, opts, option, value)
    return [*added, *args]


def _one(
    ctx: click.Context,
    path: str,
    command: click.Command,
    probe: click.Context,
    opts: dict[str, Any],
    option: click.Option,
    value: object,
) -> list[str]:
    """The words that give ``command`` the group option ``option`` (``value``): none when the
    same value follows the subcommand already; a usage error when it cannot take it."""
    name = option.opts[0]
    target = next(
        (
            p
            for p in command.params
            if isinstance(p, click.Option) and set(p.opts) & set(option.opts)
        ),
        None,
    )
    if target is None or target.is_flag != option.is_flag:
        raise click.UsageError(
            f"{name} was given before `{path}`, which has no option {name}; see `{path} --help`",
            ctx=ctx,
        )
    if target.metavar != option.metavar:  # same word, another meaning (X.Y vs an interpreter)
        raise click.UsageError(
            f"{name} before `{path}` means {option.metavar}, but `{path}` takes"
            f" {name} {target.metavar}; give it after `{path}`",
            ctx=ctx,
        )
    words = _raw(option, value)
    if target.name in opts:
        raw = opts[target.name]
        after = [str(v) for v in raw] if isinstance(raw, (list, tuple)) else [str(raw)]
        if not option.is_flag and [_norm(target, probe, v) for v in after] != [
            _norm(target, probe, words[1])
        ]:
            raise click.UsageError(
                f"{name} given twice with different values: {words[1]!r} before `{path}`"
                f" and {', '.join(map(repr, after))} after it",
                ctx=ctx,
            )
        return []  # the same value in both places: once is enough
    return [next(o for o in target.opts if o in option.opts), *words[1:]]


def _norm(param: click.Option, ctx: click.Context, raw: str) -> object:
    """``raw`` as ``param`` reads it (``./x`` and ``x`` are the same folder)."""
    try:
        return param.type.convert(raw, param, ctx)
    except click.BadParameter:
        return raw


class LazyGroup(click.Group):
    """The top-level group: subcommands in :data:`LAZY_COMMANDS` are imported on first use, every
    command accepts -v/-q, and options given before a subcommand apply to it (see _forward)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            command = super().get_command(ctx, cmd_name)
        else:
            module, _, attr = target.partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
        if command is not None:
            _add_verbosity(command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        given = [(option, ctx.params[option.name or ""]) for option in _explicit(ctx)]
        if command is not None and given:
            try:
                rest = _forward(ctx, f"{ctx.command_path} {name}", command, rest, given)
            except click.UsageError:
                if not ctx.resilient_parsing:  # while completing: offer what the words allow
                    raise
        return name, command, rest


EPILOG = """\b
Examples:
  gen-constraints > constraints.txt           # this machine's exact constraints
  gen-constraints --hardware h200.json        # for a machine read elsewhere (detect --json)
  gen-constraints --profile cpu --python 3.11 # a named profile, for another Python
  gen-constraints explain                     # which profile fits, and why
  gen-constraints lock                        # re-lock the profiles whose inputs changed
  gen-constraints lock --check                # are the committed locks fresh? (exit 1: no)
  gen-constraints plan readouts/              # a fleet: each machine's profile, the targets
  eval "$(gen-constraints env)"               # make pip and uv obey the constraints
  eval "$(_GEN_CONSTRAINTS_COMPLETE=bash_source gen-constraints)"  # TAB completion (README)

Emit prints a constraints.txt (name==version lines, each with a comment saying where it came
from; no hashes): exit 0, 1 when no profile fits this machine or (--strict) the lock is stale,
2 bad input. The hashed lock that sync and wheelhouse install from is
generated/<profile>/py3.X.lock.txt.

Options before a subcommand apply to it (gen-constraints --root R lock = gen-constraints lock
--root R); one the subcommand does not take is a usage error. -v and -q go anywhere.
"""


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@emit_options
@click.version_option(__version__, prog_name="gen-constraints")
@click.pass_context
def cli(ctx: click.Context, /, **options: object) -> None:
    """Print the exact constraints for this machine's GPU and driver (default command).

    Detects the GPUs with NVML, selects the best fitting hardware profile, and prints that
    profile's constraints.txt from its committed, hashed lock: no resolution, no network.
    """
    if ctx.invoked_subcommand is None:
        run_emit(**options)  # type: ignore[arg-type]


cli.params.extend(verbosity_options())
cli.add_command(detect_cmd)
cli.add_command(explain_cmd)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI behind one error boundary."""
    REPORT.level = "normal"  # a second main() in one process (tests) starts afresh
    try:
        code = cli.main(args=argv, prog_name="gen-constraints", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(n) / click.exceptions.Exit(n)
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # a usage error may quote a value: masked too
        import io

        shown = io.StringIO()
        exc.show(file=shown)
        REPORT.always(shown.getvalue().rstrip("\n"))
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        REPORT.always("Aborted.")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except ConstraintsGenError as exc:
        if isinstance(exc, output.OutputError):
            output.drop_stdout()
        output.echo_error(exc)
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `gen-constraints | head`: the reader is gone, nothing to say
        output.drop_stdout()
        sys.exit(1)
    except OSError as exc:  # a file or folder the command needed: name it, no traceback
        output.echo_error(ConstraintsGenError(output.describe_os_error(exc)))
        sys.exit(EXIT_INPUT)
    except Exception:
        import traceback

        REPORT.always(traceback.format_exc().rstrip("\n"))  # masked like every message
        REPORT.always(
            f"BUG: gen-constraints {__version__} crashed; please report the traceback above"
        )
        sys.exit(EXIT_BUG)
    sys.exit(0)
