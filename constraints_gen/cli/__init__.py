"""The command line: parse options, call the core, render results. No work happens here.

The error boundary (:func:`main`) turns every known error into one ``ERROR`` line (and a ``TIP``)
on stderr with its exit code: 1 an expected "no", 2 bad input or usage, 3 a bug, 130 Ctrl-C.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from constraints_gen import __version__
from constraints_gen.cli.core import detect_cmd, emit_options, explain_cmd, run_emit
from constraints_gen.errors import EXIT_BUG, ConstraintsGenError

#: Subcommands imported only when named (or listed by --help): the default command, emit, runs
#: on every install and commit and must not pay for their imports (bench/: emit's budget).
LAZY_COMMANDS: Mapping[str, str] = {
    "env": "constraints_gen.cli.env:env_cmd",
    "lock": "constraints_gen.cli.lock:lock_cmd",
    "sync": "constraints_gen.cli.sync:sync_cmd",
    "verify": "constraints_gen.cli.verify:verify_cmd",
    "wheelhouse": "constraints_gen.cli.wheelhouse:wheelhouse_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands in :data:`LAZY_COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command: Any = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


EPILOG = """\b
Examples:
  gen-constraints > constraints.txt           # this machine's exact constraints
  gen-constraints --hardware h200.json        # for a machine read elsewhere (detect --json)
  gen-constraints --profile cpu --python 3.11 # a named profile, for another Python
  gen-constraints explain                     # which profile fits, and why
  gen-constraints lock                        # re-lock the profiles whose inputs changed
  gen-constraints lock --check                # are the committed locks fresh? (exit 1: no)
  eval "$(gen-constraints env)"               # make pip and uv obey the constraints
"""


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@emit_options
@click.option("-v", "--verbose", is_flag=True, help="Show each uv/pip/git command on stderr.")
@click.version_option(__version__, prog_name="gen-constraints")
@click.pass_context
def cli(ctx: click.Context, /, verbose: bool, **options: object) -> None:
    """Print the exact constraints for this machine's GPU and driver (default command).

    Detects the GPUs with NVML, selects the best fitting hardware profile, and prints that
    profile's constraints.txt from its committed, hashed lock: no resolution, no network.
    """
    if verbose:
        from constraints_gen import runner

        runner.VERBOSE = True
    if ctx.invoked_subcommand is None:
        run_emit(**options)  # type: ignore[arg-type]


cli.add_command(detect_cmd)
cli.add_command(explain_cmd)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI behind one error boundary."""
    try:
        code = cli.main(args=argv, prog_name="gen-constraints", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(n) / click.exceptions.Exit(n)
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except ConstraintsGenError as exc:
        click.echo(f"ERROR: {exc.message}", err=True)
        if exc.tip:
            click.echo(f"TIP: {exc.tip}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except Exception:
        import traceback

        traceback.print_exc()
        click.echo(
            f"BUG: gen-constraints {__version__} crashed; please report the traceback above",
            err=True,
        )
        sys.exit(EXIT_BUG)
    sys.exit(0)
