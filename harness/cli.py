"""The `mapfuzz` command line.

Exit codes (every command): 0 ran with no finding; 1 a finding (or a reproducer
reproduced); 2 a usage or input error; 3 an internal error or a failed canary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.campaign import CampaignConfig, CampaignResult, CanaryFailed, Report, run_campaign
from harness.execute import RunSpec
from harness.history import History
from harness.inputs import InputError, LoadedInput, load_input
from harness.oracle import Violation
from harness.reproducer import Reproducer, save, violation_json
from harness.runner import Target, TargetError
from harness.schedule import to_json
from harness.worker import Attempt, Worker, WorkerError

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mapfuzz")
def cli() -> None:
    """mapfuzz: race-detection fuzzer for concurrent hash maps."""


# ---------------------------------------------------------------------------- fuzz


class FuzzProgress:
    """Progress of a campaign on stderr: a live rich bar on a terminal, a plain line
    every few seconds otherwise (CI logs), nothing but findings with --json."""

    PLAIN_PERIOD_S = 5.0

    def __init__(self, json_mode: bool, seconds: float, execs: int | None) -> None:
        self.json_mode = json_mode
        self.live = err.is_terminal and not json_mode
        self.last = 0.0
        self.canary_shown = False
        self.by_execs = execs is not None
        self.bar = Progress(
            TextColumn("[bold]fuzzing"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task("fuzz", total=execs if execs else seconds, status="")

    def __enter__(self) -> FuzzProgress:
        if self.live:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bar.stop()

    def _print(self, text: str) -> None:
        (self.bar.console if self.live else err).print(text, markup=True)

    def __call__(self, result: CampaignResult, report: Report | None) -> None:
        if result.canary and not self.canary_shown and not self.json_mode:
            self.canary_shown = True
            self._print(
                f"canary: found {result.canary['variant']} after "
                f"{result.canary['found_after_execs']} executions; fuzzing the target now"
            )
        if report is not None:
            where = f" on key {report.key}" if report.key else ""
            self._print(
                f"[bold red]finding:[/] {report.cls}{where} after {report.execs_to_find} "
                f"executions ({report.first_found_s:.2f} s)\n  {report.explanation}\n"
                f"  written to {report.reproducer}\n"
                f"  replay with: mapfuzz repro {report.reproducer}"
            )
            return
        rate = result.execs / result.elapsed_s if result.elapsed_s else 0.0
        status = (
            f"{result.execs} execs  {rate:,.0f}/s  features {result.features}  "
            f"unknown {result.unknown}  findings {len(result.findings)}"
        )
        if self.live:
            done = result.execs if self.by_execs else result.elapsed_s
            self.bar.update(self.task, completed=done, status=status)
            return
        now = time.monotonic()
        if self.json_mode or now - self.last < self.PLAIN_PERIOD_S:
            return
        self.last = now
        err.print(f"{result.elapsed_s:6.1f} s  {status}")


@cli.command()
@click.option(
    "--target", default="evacmap", show_default=True, help="evacmap or a path to a target .so"
)
@click.option("--variant", default=None, help="seeded bug to run (default: the correct map)")
@click.option("--engine", type=click.Choice(["random"]), default="random", show_default=True)
@click.option(
    "--mode", type=click.Choice(["controlled", "stress"]), default="controlled", show_default=True
)
@click.option("--strategy", type=click.Choice(["pct", "random"]), default="pct", show_default=True)
@click.option(
    "--time",
    "seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="time budget in seconds",
)
@click.option("--execs", type=click.IntRange(min=1), default=None, help="execution budget")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("artifacts"),
    show_default=True,
    help="where reproducers are written",
)
@click.option("--keep-going", is_flag=True, help="do not stop at the first finding")
@click.option("--no-canary", is_flag=True, help="skip the canary self-check (not recommended)")
@click.option("--json", "json_mode", is_flag=True, help="print one JSON object at the end")
def fuzz(
    target: str,
    variant: str | None,
    engine: str,
    mode: str,
    strategy: str,
    seconds: float,
    execs: int | None,
    seed: int,
    artifacts: Path,
    keep_going: bool,
    no_canary: bool,
    json_mode: bool,
) -> None:
    """Fuzz a map: generated schedules on real threads, every execution judged by the oracle."""
    cfg = CampaignConfig(
        target=target,
        variant=variant,
        mode=mode,
        strategy=strategy,
        seed=seed,
        seconds=seconds,
        max_execs=execs,
        artifacts=artifacts,
        keep_going=keep_going,
        canary=not no_canary,
    )
    try:
        Target.load(target).variant_index(variant)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    if not json_mode:
        what = f"{target}" + (f" variant {variant}" if variant else "")
        err.print(
            f"fuzzing {what}: {mode} mode"
            + (f", {strategy}" if mode == "controlled" else "")
            + f", seed {seed}, budget {seconds:g} s"
            + (f" / {execs} execs" if execs else "")
        )
        if cfg.canary:
            err.print("canary: checking that a planted bug is found first ...")
    try:
        with FuzzProgress(json_mode, seconds, execs) as progress:
            result = run_campaign(cfg, progress)
    except CanaryFailed as exc:
        fail(str(exc), EXIT_INTERNAL)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    if json_mode:
        emit_json(
            {
                "target": result.target,
                "variant": result.variant,
                "engine": result.engine,
                "mode": result.mode,
                "seed": result.seed,
                "elapsed_s": round(result.elapsed_s, 3),
                "execs": result.execs,
                "execs_per_s": round(result.execs / result.elapsed_s, 1)
                if result.elapsed_s
                else 0.0,
                "canary": result.canary,
                "findings": [
                    {
                        "class": f.cls,
                        "key": f.key,
                        "first_found_s": round(f.first_found_s, 3),
                        "execs_to_find": f.execs_to_find,
                        "reproducer": str(f.reproducer),
                    }
                    for f in result.findings
                ],
            }
        )
    else:
        rate = result.execs / result.elapsed_s if result.elapsed_s else 0.0
        err.print(
            f"done: {result.execs} executions in {result.elapsed_s:.1f} s ({rate:,.0f}/s), "
            f"{len(result.findings)} finding(s), {result.unknown} undecided (unknown)"
        )
    sys.exit(EXIT_FINDING if result.findings else EXIT_OK)


# ---------------------------------------------------------------------------- run / repro


def _load(path: Path) -> LoadedInput:
    try:
        return load_input(path)
    except InputError as exc:
        fail(str(exc))


def _attempts(target_spec: str, loaded: LoadedInput, specs: list[RunSpec]) -> list[Attempt]:
    """Run in a worker process: a crash or hang of the target is an attempt, not our death."""
    try:
        with Worker(target_spec) as worker:
            return worker.attempts(loaded.schedule, specs)
    except WorkerError as exc:
        fail(str(exc).splitlines()[0])


def _verdict_of(attempts: list[Attempt]) -> str:
    if any(a.violations for a in attempts):
        return "violation"
    if any(a.outcome is not None and a.outcome.verdict.status == "unknown" for a in attempts):
        return "unknown"
    return "ok"


def _trace_hash(attempt: Attempt) -> int | None:
    o = attempt.outcome
    return o.execution.trace_hash if o is not None and o.execution.trace else None


def _print_violations(violations: tuple[Violation, ...]) -> None:
    for v in violations:
        where = f" on key {v.key}" if v.key else ""
        err.print(f"[bold red]{v.cls}[/]{where}: {v.explanation}", markup=True)


@cli.command()
@click.argument("schedule", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=click.Choice(["controlled", "stress"]), default="controlled", show_default=True
)
@click.option("--strategy", type=click.Choice(["pct", "random"]), default="pct", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--noise",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="stress mode: probability of noise at a schedule point",
)
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("artifacts"),
    show_default=True,
)
@click.option("--json", "json_mode", is_flag=True)
def run(
    schedule: Path,
    mode: str,
    strategy: str,
    seed: int,
    noise: float,
    artifacts: Path,
    json_mode: bool,
) -> None:
    """Run one schedule (JSON, reproducer or raw fuzz bytes) once and judge it."""
    loaded = _load(schedule)
    target_spec = loaded.schedule.config.target
    try:
        target = Target.load(target_spec)
    except TargetError as exc:
        fail(str(exc))
    spec = RunSpec(
        mode=mode, strategy=strategy, seed=seed, noise=noise if mode == "stress" else 0.0
    )
    attempt = _attempts(target_spec, loaded, [spec])[0]
    verdict = _verdict_of([attempt])
    controlled = mode == "controlled"
    th = _trace_hash(attempt) if controlled else None
    trace_hash = None if th is None else f"0x{th:016x}"
    path = None
    if attempt.violations:
        r = Reproducer(
            target_name=target.name,
            target_path=target.path,
            abi_version=target.abi_version,
            spec=spec,
            schedule=loaded.schedule,
            trace=attempt.outcome.execution.trace if controlled and attempt.outcome else (),
            trace_hash=th,
            violations=attempt.violations,
            found={"engine": "run", "input": str(schedule)},
        )
        path = save(r, artifacts)
    if json_mode:
        emit_json(
            {
                "verdict": verdict,
                "violations": [violation_json(v) for v in attempt.violations],
                "trace_hash": trace_hash,
                "runs": 1,
                "reproduced": 1 if attempt.violations else 0,
                "reproducer": str(path) if path else None,
            }
        )
    else:
        err.print(f"verdict: {verdict}" + (f"  (trace {trace_hash})" if trace_hash else ""))
        _print_violations(attempt.violations)
        if path:
            err.print(f"written to {path}\nreplay with: mapfuzz repro {path}")
    sys.exit(EXIT_FINDING if attempt.violations else EXIT_OK)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=None,
    help="replays (default 1 for controlled reproducers, 20 for stress)",
)
@click.option("--json", "json_mode", is_flag=True)
def repro(file: Path, runs: int | None, json_mode: bool) -> None:
    """Replay a reproducer: exactly (controlled) or N times counting hits (stress)."""
    loaded = _load(file)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; run it with: mapfuzz run {file}")
    controlled = r.spec.mode == "controlled"
    n = runs or (1 if controlled else 20)
    if controlled:
        specs = [r.replay_spec()] * n
    else:
        specs = [RunSpec(mode="stress", seed=r.spec.seed + i, noise=r.spec.noise) for i in range(n)]
    attempts = _attempts(r.target_spec, loaded, specs)
    wanted = r.main_class
    reproduced = sum(1 for a in attempts if any(v.cls == wanted for v in a.violations))
    hashes = {_trace_hash(a) for a in attempts} if controlled else set()
    trace_hash = f"0x{next(iter(hashes)):016x}" if len(hashes) == 1 and None not in hashes else None
    first = next((a for a in attempts if a.violations), attempts[0])
    if json_mode:
        emit_json(
            {
                "verdict": _verdict_of(attempts),
                "violations": [violation_json(v) for v in first.violations],
                "trace_hash": trace_hash,
                "runs": n,
                "reproduced": reproduced,
            }
        )
    else:
        err.print(
            f"{file}: {wanted} reproduced in {reproduced} of {n} run(s)"
            + (f", trace {trace_hash}" if trace_hash else "")
        )
        if (
            controlled
            and r.trace_hash is not None
            and trace_hash is not None
            and int(trace_hash, 16) != r.trace_hash
        ):
            err.print(
                "note: the replay's trace hash differs from the recorded one: "
                "the target or mapfuzz changed since the reproducer was written"
            )
        _print_violations(first.violations)
    sys.exit(EXIT_FINDING if reproduced else EXIT_OK)


# ---------------------------------------------------------------------------- show / explain


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def show(file: Path) -> None:
    """Print a schedule, reproducer or raw fuzz input as JSON."""
    loaded = _load(file)
    if loaded.reproducer is not None:
        from harness.reproducer import to_json_obj

        click.echo(json.dumps(to_json_obj(loaded.reproducer), indent=1))
    else:
        click.echo(json.dumps(to_json(loaded.schedule), indent=1))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--context",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    help="schedule points shown around the witnessing operations",
)
def explain(file: Path, context: int) -> None:
    """Show the interleaving around a reproducer's violation, one column per thread."""
    from harness.explain import render

    loaded = _load(file)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; find one with mapfuzz fuzz or run")
    attempt = _attempts(r.target_spec, loaded, [r.replay_spec()])[0]
    if attempt.outcome is None:
        _print_violations(attempt.violations)
        err.print("no interleaving to show: the target died before the execution finished")
        sys.exit(EXIT_FINDING)
    Console(highlight=False).print(render(r, attempt.outcome, context=context))
    sys.exit(EXIT_FINDING if attempt.violations else EXIT_OK)


# ---------------------------------------------------------------------------- check-history


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
    from harness.history_file import HistoryFileError, read_history
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


# ---------------------------------------------------------------------------- targets / bench


CAP_NAMES = {1: "multi-writer", 2: "put-if-absent", 4: "iterate", 8: "exact-len"}


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "json_mode", is_flag=True)
def targets(paths: tuple[str, ...], json_mode: bool) -> None:
    """List targets: the built-in evacmap and any target .so given."""
    rows: list[dict[str, Any]] = []
    for spec in ("evacmap", *paths):
        try:
            t = Target.load(spec)
        except TargetError as exc:
            fail(str(exc))
        caps = [name for bit, name in CAP_NAMES.items() if t.caps & bit]
        rows.append(
            {
                "name": t.name,
                "path": t.path,
                "abi_version": t.abi_version,
                "caps": caps,
                "variants": list(t.variants),
            }
        )
    if json_mode:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}  ({row['path'] or 'built-in'}, ABI v{row['abi_version']})")
        click.echo(f"  caps: {', '.join(row['caps']) or 'none'}")
        variants = row["variants"]
        click.echo(f"  variants ({len(variants)}): {', '.join(variants) or 'none'}")


@cli.command()
@click.option("--quick", is_flag=True, help="fewer seeds and shorter budgets")
@click.option("--json", "json_mode", is_flag=True)
@click.option(
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("BENCHMARKS.md"),
    show_default=True,
)
def bench(quick: bool, json_mode: bool, output: Path) -> None:
    """Measure detection of every seeded bug, throughput and oracle speed; write BENCHMARKS.md."""
    from harness.bench import run_bench, write_markdown

    results = run_bench(quick=quick, log=None if json_mode else err.print)
    write_markdown(results, output)
    if json_mode:
        emit_json(results)
    else:
        err.print(f"written to {output}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        err.print_exception()
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", markup=True)
        sys.exit(EXIT_INTERNAL)
