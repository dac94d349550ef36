"""`mapfuzz run`, `repro`, `show` and `explain`: one input, replayed and explained."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from harness.cli.common import (
    EXIT_FINDING,
    EXIT_OK,
    artifacts_option,
    cli,
    default_jobs,
    emit_json,
    err,
    fail,
    jobs_option,
    load,
    print_violations,
    run_attempts,
    trace_hash_of,
    verdict_of,
)
from harness.data.schedule import MapConfig, to_json
from harness.run.execute import RunSpec
from harness.run.inputs import LoadedInput, load_input
from harness.run.reproducer import Reproducer, save, violation_json
from harness.run.target import Target, TargetError
from harness.run.worker import WorkerError
from harness.tools.candidates import Case, signature_of


@cli.command()
@click.argument("schedule", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=click.Choice(["controlled", "stress"]), default="controlled", show_default=True
)
@click.option("--strategy", type=click.Choice(["pct", "random"]), default="pct", show_default=True)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="scheduler seed (default: a raw fuzz input's own seed, else 0)",
)
@click.option(
    "--noise",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="stress mode: probability of noise at a schedule point",
)
@artifacts_option("where the reproducer of a finding is written")
@click.option(
    "--target",
    default=None,
    help="run on this target (a name or a .so path) instead of the schedule's own "
    "config.target (raw fuzz bytes: evacmap)",
)
@click.option("--variant", default=None,
              help="run this seeded variant (or `correct`) instead of the schedule's own")
@click.option("--json", "json_mode", is_flag=True)
def run(
    schedule: Path,
    mode: str,
    strategy: str,
    seed: int | None,
    noise: float,
    artifacts: Path,
    target: str | None,
    variant: str | None,
    json_mode: bool,
) -> None:
    """Run one schedule (JSON, reproducer or raw fuzz bytes) once and judge it.

    --target/--variant run it on another target or variant than the one it names."""
    loaded = load(schedule)
    if target is not None or variant is not None:
        config = dataclasses.replace(
            loaded.schedule.config,
            target=target if target is not None else loaded.schedule.config.target,
            variant=(None if variant == "correct" else variant) if variant is not None
            else loaded.schedule.config.variant)
        loaded = dataclasses.replace(
            loaded, schedule=dataclasses.replace(loaded.schedule, config=config))
    target_spec = loaded.schedule.config.target
    try:
        tgt = Target.load(target_spec)
        tgt.variant_index(loaded.schedule.config.variant)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    target_obj = tgt
    if seed is None:
        seed = loaded.seed or 0
    spec = RunSpec(
        mode=mode, strategy=strategy, seed=seed, noise=noise if mode == "stress" else 0.0
    )
    attempt = run_attempts(target_spec, loaded, [spec])[0]
    verdict = verdict_of([attempt])
    controlled = mode == "controlled"
    th = trace_hash_of(attempt) if controlled else None
    trace_hash = None if th is None else f"0x{th:016x}"
    path = None
    if attempt.violations:
        r = Reproducer(
            target_name=target_obj.name,
            target_path=target_obj.path,
            abi_version=target_obj.abi_version,
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
        print_violations(attempt.violations)
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
@click.option(
    "--to-controlled",
    is_flag=True,
    help="stress reproducer: search controlled schedules of the same operations for a "
    "deterministic witness of the same class, and write it as a new reproducer",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="--to-controlled: controlled runs to try",
)
@artifacts_option(
    "where new reproducers are written: the --to-controlled witness, or a raw input's finding"
)
@click.option(
    "--target",
    default="evacmap",
    show_default=True,
    help="raw fuzz input (a crash file): the target it was fuzzed on",
)
@click.option("--variant", default=None, help="raw fuzz input: the variant it was fuzzed on")
@jobs_option("--to-controlled: worker processes that run the search's runs at once "
             "(same witness)")
@click.option("--json", "json_mode", is_flag=True)
def repro(
    file: Path,
    runs: int | None,
    to_controlled: bool,
    budget: int,
    artifacts: Path,
    target: str,
    variant: str | None,
    jobs: int | None,
    json_mode: bool,
) -> None:
    """Replay a reproducer: exactly (controlled) or N times counting hits (stress).

    A raw fuzz input (a crash file an engine wrote) replays in controlled mode with
    the seed it carries, on --target/--variant. With --to-controlled, turn a stress
    finding into a controlled one instead."""
    loaded = load(file)
    if loaded.kind == "bytes":
        _repro_raw(file, target, variant, runs or 1, artifacts, json_mode)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; run it with: mapfuzz run {file}")
    if to_controlled:
        _to_controlled(file, r, budget, artifacts, json_mode, jobs or default_jobs())
    controlled = r.spec.mode == "controlled"
    n = runs or (1 if controlled else 20)
    if controlled:
        specs = [r.replay_spec()] * n
    else:
        specs = [RunSpec(mode="stress", seed=r.spec.seed + i, noise=r.spec.noise) for i in range(n)]
    attempts = run_attempts(r.target_spec, loaded, specs)
    wanted = r.main_class
    # a hit shows the finding's signature: its class on the same key (a crash: by the
    # same signal), not merely any violation of that class
    sig = signature_of(r.violations[0], r.schedule) if r.violations else None
    case = Case(r.schedule, (), tuple(range(len(r.schedule.keys))))
    reproduced = sum(1 for a in attempts if sig is not None and sig.matches(a.violations, case))
    hashes = {trace_hash_of(a) for a in attempts} if controlled else set()
    trace_hash = f"0x{next(iter(hashes)):016x}" if len(hashes) == 1 and None not in hashes else None
    first = next((a for a in attempts if a.violations), attempts[0])
    if json_mode:
        emit_json(
            {
                "verdict": verdict_of(attempts),
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
        print_violations(first.violations)
    sys.exit(EXIT_FINDING if reproduced else EXIT_OK)


def _repro_raw(
    file: Path, target_spec: str, variant: str | None, n: int, artifacts: Path, json_mode: bool
) -> NoReturn:
    """Replay a raw fuzz input as the engines ran it: controlled PCT with its own seed."""
    from harness.frontends.check import controlled_spec, fit_to_target

    try:
        target = Target.load(target_spec)
        target.variant_index(variant)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    config = MapConfig(target=target.spec, variant=variant)
    raw = load_input(file, config)
    assert raw.seed is not None  # raw inputs always carry one
    loaded = LoadedInput("bytes", fit_to_target(raw.schedule, target), seed=raw.seed)
    spec = controlled_spec(raw.seed)
    attempts = run_attempts(target_spec, loaded, [spec] * n)
    hits = [a for a in attempts if a.violations]
    path = None
    if hits:
        first = hits[0]
        outcome = first.outcome
        path = save(
            Reproducer(
                target_name=target.name,
                target_path=target.path,
                abi_version=target.abi_version,
                spec=spec,
                schedule=loaded.schedule,
                trace=outcome.execution.trace if outcome else (),
                trace_hash=trace_hash_of(first),
                violations=first.violations,
                found={"engine": "repro", "input": str(file)},
            ),
            artifacts,
        )
    if json_mode:
        emit_json(
            {
                "verdict": verdict_of(attempts),
                "violations": [violation_json(v) for v in (hits[0].violations if hits else ())],
                "trace_hash": None if not hits else _hex(trace_hash_of(hits[0])),
                "runs": n,
                "reproduced": len(hits),
                "reproducer": str(path) if path else None,
            }
        )
    else:
        err.print(
            f"{file}: raw input (seed {raw.seed}) on {target.name}"
            + (f" variant {variant}" if variant else "")
            + f": a finding in {len(hits)} of {n} run(s)"
        )
        if hits:
            print_violations(hits[0].violations)
            err.print(f"written to {path}\nreplay with: mapfuzz repro {path}")
    sys.exit(EXIT_FINDING if hits else EXIT_OK)


def _hex(value: int | None) -> str | None:
    return None if value is None else f"0x{value:016x}"


def _to_controlled(
    file: Path, r: Reproducer, budget: int, artifacts: Path, json_mode: bool, jobs: int,
) -> NoReturn:
    from harness.tools.candidates import PoolRuns
    from harness.tools.witness import find_witness

    if r.spec.mode == "controlled":
        fail(f"{file} is already a controlled reproducer; replay it with: mapfuzz repro {file}")
    runs = PoolRuns(r.target_spec, jobs)
    try:
        result = find_witness(r, runs, budget)
    except WorkerError as exc:
        fail(str(exc).splitlines()[0])
    finally:
        runs.close()
    w = result.reproducer
    path = save(w, artifacts) if w is not None else None
    if json_mode:
        emit_json(
            {
                "input": str(file),
                "class": r.main_class,
                "found": w is not None,
                "same_key": result.same_key,
                "attempts": result.attempts,
                "budget": budget,
                "reproducer": str(path) if path else None,
            }
        )
    elif w is None or path is None:
        err.print(
            f"{file}: no controlled witness of {r.main_class} in {result.attempts} attempts; "
            "the bug may need a hardware reordering (controlled mode cannot reach those), "
            "or a larger --budget"
        )
    else:
        where = "on the same key" if result.same_key else "on another key"
        err.print(
            f"controlled witness of {w.main_class} {where} after {result.attempts} attempt(s) "
            f"({w.spec.strategy}, seed {w.spec.seed})"
        )
        err.print(f"written to {path}\nreplay with: mapfuzz repro {path}")
    sys.exit(EXIT_FINDING if w is not None else EXIT_OK)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def show(file: Path) -> None:
    """Print a schedule, reproducer or raw fuzz input as JSON."""
    loaded = load(file)
    if loaded.reproducer is not None:
        from harness.run.reproducer import to_json_obj

        click.echo(json.dumps(to_json_obj(loaded.reproducer), indent=1))
    else:
        if loaded.seed is not None:
            err.print(f"raw fuzz input: scheduler seed {loaded.seed}; the schedule follows")
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
    from harness.tools.explain import render

    loaded = load(file)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; find one with mapfuzz fuzz or run")
    attempt = run_attempts(r.target_spec, loaded, [r.replay_spec()])[0]
    if attempt.outcome is None:
        print_violations(attempt.violations)
        err.print("no interleaving to show: the target died before the execution finished")
        sys.exit(EXIT_FINDING)
    Console(highlight=False).print(render(r, attempt.outcome, context=context))
    sys.exit(EXIT_FINDING if attempt.violations else EXIT_OK)
