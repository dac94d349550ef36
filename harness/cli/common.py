"""Shared pieces of the `mapfuzz` command line: the command group, exit codes,
error output, and running inputs in a worker process.

Exit codes (every command): 0 ran with no finding; 1 a finding (or a reproducer
reproduced); 2 a usage or input error; 3 an internal error or a failed canary; 130
interrupted by Ctrl-C (fuzz prints the statistics so far first).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.inputs import InputError, LoadedInput, load_input
from harness.run.reproducer import Saved, output_dir_problem
from harness.run.target import Target
from harness.run.trust import check_named_targets, replay_command
from harness.run.worker import Attempt, Worker, WorkerError

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mapfuzz")
def cli() -> None:
    """mapfuzz: race-detection fuzzer for concurrent hash maps."""


def load(
    path: Path, raw: bool = False, target: str | None = None, check: bool = True
) -> LoadedInput:
    """A schedule, reproducer or raw input; the target library it names is loaded only
    when trusted (harness.run.trust) or confirmed with ``target`` (--target), which
    also replaces it (``check`` False: the caller never loads it, as ``show``)."""
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
    problem = output_dir_problem(path)
    if problem:
        fail(f"{flag} {path}: {problem}; pass a writable directory with {flag} DIR")


def print_saved(saved: Saved, target: str | None = None) -> None:
    """Where a finding's reproducer went; a failed write says why and where it went
    instead, or prints the reproducer itself when no directory could take it."""
    if saved.problem:
        err.print(f"[bold red]{escape(saved.problem)}[/]", markup=True)
    if saved.path is None:
        err.print("the reproducer follows (save it as FILE.json, then: mapfuzz repro FILE.json)")
        err.print(saved.text, markup=False)
        return
    instead = " instead" if saved.problem else ""
    err.print(f"written to {saved.path}{instead}\n"
              f"replay with: {replay_command(saved.path, target)}", markup=False)


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
