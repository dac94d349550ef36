"""Shared pieces of the `mapfuzz` command line: the command group, exit codes,
error output, and running inputs in a worker process.

Exit codes (every command): 0 ran with no finding; 1 a finding (or a reproducer
reproduced); 2 a usage or input error; 3 an internal error or a failed canary; 130
interrupted by Ctrl-C (fuzz prints the statistics so far first).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # the rest of harness.run loads where used: check-history needs none
    from harness.oracle import Violation
    from harness.run.execute import RunSpec
    from harness.run.inputs import LoadedInput
    from harness.run.reproducer import Saved
    from harness.run.worker import Attempt

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), after the statistics so far are printed."""

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

    MODULES = ("cc", "fuzz", "history", "info", "replay", "report", "tools")

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


def load(
    path: Path, raw: bool = False, target: str | None = None, check: bool = True
) -> LoadedInput:
    """A schedule, reproducer or raw input; the target library it names is loaded only
    when trusted (harness.run.trust) or confirmed with ``target`` (--target), which
    also replaces it (``check`` False: the caller never loads it, as ``show``)."""
    from harness.run.inputs import InputError, load_input
    from harness.run.trust import check_named_targets

    try:
        loaded = load_input(path, raw=raw)
    except InputError as exc:
        fail(str(exc))
    if target is not None:
        return with_target(loaded, target)
    if loaded.kind == "bytes" or not check:
        return loaded  # a raw input names no target
    hint = check_named_targets(path, loaded, click.get_current_context().info_name or "run")
    if hint:
        fail(hint)
    return loaded


def with_target(loaded: LoadedInput, spec: str) -> LoadedInput:
    """The input with its target replaced by ``spec`` (a name or a library path)."""
    from harness.run.target import Target

    path = None if Target.is_named(spec) else os.path.abspath(spec)
    schedule = replace(loaded.schedule,
                       config=replace(loaded.schedule.config, target=path or spec))
    r = loaded.reproducer
    if r is not None:
        r = replace(r, target_name=spec if path is None else r.target_name,
                    target_path=path, schedule=schedule)
    return replace(loaded, schedule=schedule, reproducer=r)


raw_option = click.option(
    "--raw",
    is_flag=True,
    help="read FILE as a raw fuzz input whatever its name (raw inputs are otherwise "
    "taken only from libFuzzer-style names: crash-*, a 40-hex corpus name)",
)


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


def check_out_dir(path: Path, flag: str) -> None:
    """Before any work: a directory files can be written to (exit 2 naming it otherwise)."""
    from harness.run.reproducer import output_dir_problem

    problem = output_dir_problem(path)
    if problem:
        fail(f"{flag} {path}: {problem}; pass a writable directory with {flag} DIR")


def saved_lines(path: Path | None, problem: str | None, text: str, target: str | None,
                indent: str = "") -> list[str]:
    """Where a finding's reproducer went, as rich markup lines: a failed write says why
    and where the file went instead, or gives the reproducer itself (``text``) when no
    directory could take it; then how to replay it (``target``: the spec it ran on)."""
    from harness.run.trust import replay_command

    lines = [f"{indent}[bold red]{escape(problem)}[/]"] if problem else []
    if path is None:
        return [*lines, f"{indent}the reproducer follows (save it as FILE.json, then: "
                        "mapfuzz repro FILE.json)", escape(text)]
    instead = " instead" if problem else ""
    return [*lines, f"{indent}written to {escape(str(path))}{instead}",
            f"{indent}replay with: {escape(replay_command(path, target))}"]


def print_saved(saved: Saved, target: str | None = None) -> None:
    """Where a finding's reproducer went (``saved_lines``), on stderr."""
    err.print("\n".join(saved_lines(saved.path, saved.problem, saved.text, target)),
              markup=True)


def exit_saved(saved: Saved | None, code: int) -> NoReturn:
    """Exit with ``code``, or with the one-line error of a write that failed (exit 2)
    once the finding has been printed."""
    if saved is not None and saved.problem:
        fail(f"{escape(saved.problem)} (the finding is printed above)")
    sys.exit(code)


F = TypeVar("F", bound=Callable[..., Any])

target_option = click.option(
    "--target",
    default=None,
    help="the target to load instead of the one the file names (evacmap, an adapter, or "
    "a library path); naming a library path the file names confirms it (a library outside "
    "this project and mapfuzz's cache is loaded only then)",
)


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
