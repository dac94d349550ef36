"""Shared pieces of the `mapfuzz` command line: the command group, exit codes,
error output, and running inputs in a worker process.

Exit codes (every command): 0 ran with no finding; 1 a finding (or a reproducer
reproduced); 2 a usage or input error; 3 an internal error or a failed canary.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console

if TYPE_CHECKING:
    from harness.oracle import Violation
    from harness.run.execute import RunSpec
    from harness.run.inputs import LoadedInput
    from harness.run.worker import Attempt

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Progress, findings and errors go to stderr; stdout carries only results (--json)."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj))


class _Commands(click.Group):
    """The command group. Each family of commands is a module of harness.cli, imported
    when a command it holds is asked for: ``check-history`` starts without loading
    the runner or the engines."""

    MODULES = ("cc", "fuzz", "history", "info", "replay", "tools")

    def _load_all(self) -> None:
        for m in self.MODULES:
            importlib.import_module(f"harness.cli.{m}")

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is None:
            self._load_all()
            cmd = super().get_command(ctx, name)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return super().list_commands(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mapfuzz")
def cli() -> None:
    """mapfuzz: race-detection fuzzer for concurrent hash maps."""


def load(path: Path) -> LoadedInput:
    from harness.run.inputs import InputError, load_input

    try:
        return load_input(path)
    except InputError as exc:
        fail(str(exc))


def run_attempts(target_spec: str, loaded: LoadedInput, specs: list[RunSpec]) -> list[Attempt]:
    """Run in a worker process: a crash or hang of the target is an attempt, not our death."""
    from harness.run.worker import Worker, WorkerError

    try:
        with Worker(target_spec) as worker:
            return worker.attempts(loaded.schedule, specs)
    except WorkerError as exc:
        fail(str(exc).splitlines()[0])


def verdict_of(attempts: list[Attempt]) -> str:
    if any(a.violations for a in attempts):
        return "violation"
    if any(a.outcome is not None and a.outcome.verdict.status == "unknown" for a in attempts):
        return "unknown"
    return "ok"


def trace_hash_of(attempt: Attempt) -> int | None:
    o = attempt.outcome
    return o.execution.trace_hash if o is not None and o.execution.trace else None


def print_violations(violations: tuple[Violation, ...]) -> None:
    for v in violations:
        where = f" on key {v.key}" if v.key else ""
        err.print(f"[bold red]{v.cls}[/]{where}: {v.explanation}", markup=True)


F = TypeVar("F", bound=Callable[..., Any])


def artifacts_option(help: str) -> Callable[[F], F]:
    """The --artifacts option every command that writes reproducers shares."""
    return click.option(
        "--artifacts",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("artifacts"),
        show_default=True,
        help=help,
    )


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def jobs_option(help: str) -> Callable[[F], F]:
    """--jobs N for the commands that run candidates in worker processes."""
    return click.option("--jobs", type=click.IntRange(min=1), default=None,
                        help=f"{help} (default: every core, here {default_jobs()})")
