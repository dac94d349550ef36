"""`mapfuzz check-history`: the oracle on histories recorded elsewhere."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from harness.cli.common import EXIT_FINDING, EXIT_OK, EXIT_USAGE, cli, emit_json, err
from harness.data.history import History
from harness.oracle import Violation


@cli.command("check-history")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--budget",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="search steps per key before the verdict is unknown",
)
@click.option("--json", "json_mode", is_flag=True)
def check_history(files: tuple[Path, ...], budget: int, json_mode: bool) -> None:
    """Check recorded histories (JSON lines) for linearizability, per key."""
    from harness.data.history_file import HistoryFileError, read_history
    from harness.oracle import check

    any_violation = False
    bad_input = False
    for path in files:
        try:
            history = read_history(path)
        except HistoryFileError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True)
            bad_input = True
            continue
        t0 = time.perf_counter()
        verdict = check(history, budget=budget)
        dt = time.perf_counter() - t0
        any_violation |= verdict.status == "violation"

        def lines(v: Violation, history: History = history) -> list[int]:
            return [history.ops[i].line or i + 1 for i in v.ops]

        if json_mode:
            emit_json(
                {
                    "file": str(path),
                    "verdict": verdict.status,
                    "ops": len(history.ops),
                    "keys": len(history.keys),
                    "elapsed_s": round(dt, 6),
                    "violations": [
                        {
                            "class": v.cls,
                            "key": v.key,
                            "ops": lines(v),
                            "explanation": v.explanation,
                        }
                        for v in verdict.violations
                    ],
                }
            )
        else:
            click.echo(
                f"{path}: {verdict.status} ({len(history.ops)} ops, "
                f"{len(history.keys)} keys, {dt * 1000:.1f} ms)"
            )
            for v in verdict.violations:
                click.echo(
                    f"  {v.cls} on key {v.key}: {v.explanation} (lines "
                    f"{', '.join(map(str, lines(v)))})"
                )
            if verdict.unknown_keys:
                click.echo(
                    f"  undecided within the budget: {', '.join(verdict.unknown_keys)} "
                    "(raise --budget)"
                )
    if bad_input:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDING if any_violation else EXIT_OK)
