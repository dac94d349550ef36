"""Stage 8, the `mapfuzz` command line: one module per family of commands, all on one
group. May import every stage."""

from __future__ import annotations

import sys

import click

# check-history's module registers at once; the others when a command of theirs is asked
# for (harness.cli.common._Commands), so that check-history starts quickly
from harness.cli import history  # noqa: F401
from harness.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, cli, err

__all__ = ["cli", "main"]


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        err.print_exception()
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", markup=True)
        sys.exit(EXIT_INTERNAL)
