"""`mapfuzz run`, `repro`, `show` and `explain`: one input, replayed and explained."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from harness.cli.ci_outputs import check_ci_outputs, ci_output_options, write_ci_outputs
from harness.cli.common import (
    EXIT_FINDING,
    EXIT_OK,
    artifacts_option,
    check_out_dir,
    cli,
    default_jobs,
    emit_json,
    err,
    exit_saved,
    fail,
    jobs_option,
    load,
    print_saved,
    print_violations,
    raw_option,
    run_attempts,
    target_option,
    trace_hash_of,
    verdict_of,
)
from harness.data.schedule import MapConfig, to_json
from harness.run.execute import RunSpec
from harness.run.inputs import LoadedInput, load_input
from harness.run.reproducer import Reproducer, Saved, save_safely, violation_json
from harness.run.target import Target, TargetError
from harness.run.worker import WorkerError
from harness.tools.candidates import Case, signature_of
from harness.tools.ci_results import ReplayRecord
from harness.tools.findings import WorkerPool, finding_record


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
@raw_option
@target_option
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
    raw: bool,
    target: str | None,
    variant: str | None,
    json_mode: bool,
) -> None:
    """Run one schedule (JSON, reproducer or raw fuzz bytes) once and judge it.

    --target/--variant run it on another target or variant than the one it names."""
    loaded = load(schedule, raw, target)
    if variant is not None:
        config = dataclasses.replace(loaded.schedule.config,
                                     variant=None if variant == "correct" else variant)
        loaded = dataclasses.replace(
            loaded, schedule=dataclasses.replace(loaded.schedule, config=config))
    check_out_dir(artifacts, "--artifacts")
    target_spec = loaded.schedule.config.target
    try:
        tgt = Target.load(target_spec)
        tgt.variant_index(loaded.schedule.config.variant)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
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
    saved: Saved | None = None
    if attempt.violations:
        r = Reproducer(
            target_name=tgt.name,
            target_path=tgt.path,
            abi_version=tgt.abi_version,
            spec=spec,
            schedule=loaded.schedule,
            trace=attempt.outcome.execution.trace if controlled and attempt.outcome else (),
            trace_hash=th,
            violations=attempt.violations,
            found={"engine": "run", "input": str(schedule)},
        )
        saved = save_safely(r, artifacts)
    if json_mode:
        emit_json(
            {
                "verdict": verdict,
                "violations": [violation_json(v) for v in attempt.violations],
                "trace_hash": trace_hash,
                "runs": 1,
                "reproduced": 1 if attempt.violations else 0,
                **_saved_json(saved),
            }
        )
    else:
        err.print(f"verdict: {verdict}" + (f"  (trace {trace_hash})" if trace_hash else ""))
        print_violations(attempt.violations)
        if saved:
            print_saved(saved, target_spec)
    exit_saved(saved, EXIT_FINDING if attempt.violations else EXIT_OK)


def _saved_json(saved: Saved | None) -> dict[str, str | None]:
    path = saved.path if saved else None
    return {"reproducer": None if path is None else str(path),
            "write_problem": saved.problem if saved else None}


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    default=None,
    help="raw fuzz input (a crash file): the target it was fuzzed on (default evacmap); "
    "reproducers: the target to load instead of the one the file names (naming a library "
    "the file names confirms it: one outside this project and mapfuzz's cache loads only then)",
)
@click.option("--variant", default=None, help="raw fuzz input: the variant it was fuzzed on")
@jobs_option("--to-controlled: worker processes that run the search's runs at once "
             "(same witness)")
@raw_option
@ci_output_options
@click.option("--json", "json_mode", is_flag=True)
def repro(
    files: tuple[Path, ...],
    runs: int | None,
    to_controlled: bool,
    budget: int,
    artifacts: Path,
    target: str | None,
    variant: str | None,
    jobs: int | None,
    raw: bool,
    junit: Path | None,
    sarif: Path | None,
    summary: Path | None,
    json_mode: bool,
) -> None:
    """Replay reproducers: exactly (controlled) or N times counting hits (stress).

    FILES are reproducers, or directories of them (a regression corpus: every *.json
    inside); exit 1 when any finding reproduced, so CI can gate on "every old finding
    still fixed" (--junit: one test case per reproducer, passed when it no longer
    reproduces). A raw fuzz input (a crash file an engine wrote) replays in
    controlled mode with the seed it carries, on --target/--variant. With
    --to-controlled, turn a stress finding into a controlled one instead."""
    paths = _expand(files)
    check_ci_outputs(junit=junit, sarif=sarif, summary=summary)
    if len(paths) > 1 or files[0].is_dir():
        if to_controlled:
            fail("--to-controlled takes one reproducer, not a corpus")
        loaded_all = [(p, load(p, target=target)) for p in paths]
        for p, loaded in loaded_all:
            if loaded.reproducer is None:
                fail(f"{p} is a {loaded.kind} file, not a reproducer; replay a corpus of "
                     "reproducers (raw inputs one at a time, with --target/--variant)")
        with WorkerPool() as pool:  # one worker per target, reused across the corpus
            records = [_replay(p, loaded, runs, json_mode, pool) for p, loaded in loaded_all]
        write_ci_outputs(junit, sarif, summary, replays=records)
        back = sum(1 for r in records if not r.fixed)
        if not json_mode:
            err.print(f"{len(records) - back} of {len(records)} reproducers no longer "
                      f"reproduce; {back} reproduced")
        sys.exit(EXIT_FINDING if back else EXIT_OK)
    file = paths[0]
    loaded = load(file, raw, None if raw else target)
    if loaded.kind == "bytes":
        if target is None and variant is None:
            fail(f"{file} is a raw fuzz input, which does not record the map it ran on; "
                 f"name it: mapfuzz repro {file} --variant V (a seeded evacmap bug), "
                 "or --target evacmap (the correct map) / --target T")
        check_out_dir(artifacts, "--artifacts")
        _repro_raw(file, target or "evacmap", variant, runs or 1, artifacts, json_mode)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; run it with: mapfuzz run {file}")
    if to_controlled:
        check_out_dir(artifacts, "--artifacts")
        _to_controlled(file, r, budget, artifacts, json_mode, jobs or default_jobs())
    record = _replay(file, loaded, runs, json_mode)
    write_ci_outputs(junit, sarif, summary, replays=[record])
    sys.exit(EXIT_OK if record.fixed else EXIT_FINDING)


def _expand(files: tuple[Path, ...]) -> list[Path]:
    """Files as given; a directory stands for the *.json files directly inside it."""
    out: list[Path] = []
    for f in files:
        if f.is_dir():
            inside = sorted(f.glob("*.json"))
            if not inside:
                fail(f"{f}: no *.json reproducers inside")
            out += inside
        elif not f.exists():
            fail(f"{f}: no such file or directory")
        else:
            out.append(f)
    return out


def _replay(
    file: Path,
    loaded: LoadedInput,
    runs: int | None,
    json_mode: bool,
    pool: WorkerPool | None = None,
) -> ReplayRecord:
    """Replay one reproducer (exactly, or N stress runs), print the result, return it.
    ``pool``: worker processes by target, kept for the next reproducer."""
    r = loaded.reproducer
    assert r is not None
    start = time.monotonic()
    controlled = r.spec.mode == "controlled"
    n = runs or (1 if controlled else 20)
    if controlled:
        specs = [r.replay_spec()] * n
    else:
        specs = [RunSpec(mode="stress", seed=r.spec.seed + i, noise=r.spec.noise) for i in range(n)]
    if pool is None:
        attempts = run_attempts(r.target_spec, loaded, specs)
    else:
        try:
            attempts = pool.attempts(r.target_spec, loaded.schedule, specs)
        except WorkerError as exc:
            fail(f"{file}: {str(exc).splitlines()[0]}")
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
                "file": str(file),
                "verdict": verdict_of(attempts),
                "violations": [violation_json(v) for v in first.violations],
                "trace_hash": trace_hash,
                "runs": n,
                "reproduced": reproduced,
            }
        )
    else:
        err.print(
            f"{file}: {wanted} reproduced in {reproduced} of {n} run{'s' if n != 1 else ''}"
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
        if all(a.outcome is None and not a.violations for a in attempts):
            err.print("note: the replay diverged from the recorded decisions (the target "
                      "changed), so the finding did not reproduce")
    outcome = first.outcome if controlled and reproduced else None
    return ReplayRecord(file, finding_record(r, file, outcome=outcome), n, reproduced,
                        time.monotonic() - start)


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
    raw = load_input(file, config, raw=True)
    assert raw.seed is not None  # raw inputs always carry one
    loaded = LoadedInput("bytes", fit_to_target(raw.schedule, target), seed=raw.seed)
    spec = controlled_spec(raw.seed)
    attempts = run_attempts(target_spec, loaded, [spec] * n)
    hits = [a for a in attempts if a.violations]
    saved: Saved | None = None
    if hits:
        first = hits[0]
        outcome = first.outcome
        saved = save_safely(
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
                **_saved_json(saved),
            }
        )
    else:
        err.print(
            f"{file}: raw input (seed {raw.seed}) on {target.name}"
            + (f" variant {variant}" if variant else "")
            + f": a finding in {len(hits)} of {n} run{'s' if n != 1 else ''}"
        )
        if hits and saved:
            print_violations(hits[0].violations)
            print_saved(saved, target.spec)
    exit_saved(saved, EXIT_FINDING if hits else EXIT_OK)


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
    saved = save_safely(w, artifacts) if w is not None else None
    if json_mode:
        emit_json(
            {
                "input": str(file),
                "class": r.main_class,
                "found": w is not None,
                "same_key": result.same_key,
                "attempts": result.attempts,
                "budget": budget,
                **_saved_json(saved),
            }
        )
    elif w is None or saved is None:
        err.print(
            f"{file}: no controlled witness of {r.main_class} in {result.attempts} attempts; "
            "the bug may need a hardware reordering (controlled mode cannot reach those), "
            "or a larger --budget"
        )
    else:
        where = "on the same key" if result.same_key else "on another key"
        err.print(
            f"controlled witness of {w.main_class} {where} after {result.attempts} "
            f"attempt{'s' if result.attempts != 1 else ''} "
            f"({w.spec.strategy}, seed {w.spec.seed})"
        )
        print_violations(w.violations)
        print_saved(saved, w.target_spec)
    exit_saved(saved, EXIT_FINDING if w is not None else EXIT_OK)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@raw_option
@click.option("--json", "json_mode", is_flag=True,
              help="one JSON object: kind, a raw input's seed, and the content")
def show(file: Path, raw: bool, json_mode: bool) -> None:
    """Print a schedule, reproducer or raw fuzz input as JSON."""
    loaded = load(file, raw, check=False)
    if loaded.reproducer is not None:
        from harness.run.reproducer import to_json_obj

        obj = to_json_obj(loaded.reproducer)
    else:
        if loaded.seed is not None and not json_mode:
            err.print(f"raw fuzz input: scheduler seed {loaded.seed}; the schedule follows")
        obj = to_json(loaded.schedule)
    if json_mode:  # one line, and a raw input's seed inside it
        emit_json({"kind": loaded.kind, "seed": loaded.seed, "content": obj})
    else:
        click.echo(json.dumps(obj, indent=1))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--context",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    help="schedule points shown around the witnessing operations",
)
@target_option
@click.option("--json", "json_mode", is_flag=True,
              help="the violations, witnessing operations, prefill and folded steps as JSON")
def explain(file: Path, context: int, target: str | None, json_mode: bool) -> None:
    """Show the interleaving around a reproducer's violation, one column per thread:
    the witnessing operations marked, the prefill listed, long stretches folded."""
    from harness.tools.explain import explain_json, render

    loaded = load(file, target=target)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; find one with mapfuzz fuzz or run")
    attempt = run_attempts(r.target_spec, loaded, [r.replay_spec()])[0]
    if attempt.outcome is None:
        print_violations(attempt.violations)
        err.print("no interleaving to show: the target died before the execution finished")
        sys.exit(EXIT_FINDING)
    if json_mode:
        emit_json({"file": str(file), **explain_json(r, attempt.outcome, context=context)})
    else:
        console = Console(highlight=False)
        console.print(render(r, attempt.outcome, context=context, width=console.width))
    sys.exit(EXIT_FINDING if attempt.violations else EXIT_OK)
