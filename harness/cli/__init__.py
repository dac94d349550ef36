"""Stage 8, the `mapfuzz` command line: one module per family of commands, all on one
group. May import every stage."""

from __future__ import annotations

import sys

import click

from harness.cli import cc, fuzz, history, info, replay, report, tools  # noqa: F401  (they register commands)
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
