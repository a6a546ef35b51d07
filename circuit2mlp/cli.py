"""Command line: the ``circuit2mlp`` click group and :func:`main`.

Every command lives in a module of :mod:`circuit2mlp.commands` and joins the group through its
registry. Bad input never produces a traceback: every :class:`UserError` (and click's usage
errors) becomes one line on stderr and exit status 2. Verification failures exit 1.
"""

from __future__ import annotations

import sys

import click

from circuit2mlp import __version__
from circuit2mlp.commands.common import stderr
from circuit2mlp.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="circuit2mlp")
def cli() -> None:
    """Compile sparse boolean circuits (YAML, BLIF, ISCAS .bench) into ReLU MLP weights that
    compute them, and verify the result against the circuit.

    \b
    Typical use:
      circuit2mlp compile circuits/generated/uand60.yaml -s 2 -o uand60.npz
      circuit2mlp verify uand60.npz
      circuit2mlp check circuits/
    """


def _register_commands() -> None:
    from circuit2mlp.commands import register

    register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one line and exit status 2."""
    try:
        code = cli.main(args=argv, prog_name="circuit2mlp", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        stderr.print(str(exc), markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        stderr.print("aborted", markup=False)
        sys.exit(130)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "circuit2mlp"
        stderr.print(f"{command}: error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(2)
    except click.ClickException as exc:
        stderr.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except MemoryError:
        stderr.print("error: out of memory", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
