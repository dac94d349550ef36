"""`mapfuzz tmin` and `mapfuzz cmin`: shrink one reproducer, shrink a corpus."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from harness.cli.common import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
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
    raw_option,
    target_option,
)
from harness.data.schedule import MapConfig
from harness.run.reproducer import (
    Reproducer,
    ReproducerError,
    Saved,
    fallback_dir,
    save,
    save_safely,
    to_json_obj,
)
from harness.run.target import Target, TargetError
from harness.run.worker import WorkerError
from harness.tools.candidates import LocalRuns, PoolRuns, Runs
from harness.tools.cmin import (
    CminError,
    MergeError,
    check_output,
    libfuzzer_merge,
    minimise_corpus,
    output_name,
    write_output,
)
from harness.tools.tmin import StressPolicy, TminError, minimise, size_text, sizes


def write_reproducer(r: Reproducer, target: str) -> Path:
    """``target`` a directory (existing, or ending in /): a content-hash name inside it.
    Otherwise the exact file; an existing file with other content is never overwritten."""
    out = Path(target)
    if out.is_dir() or target.endswith("/"):
        return save(r, out)
    text = json.dumps(to_json_obj(r), indent=1) + "\n"
    if out.exists():
        if out.read_text() == text:
            return out
        raise ReproducerError(
            f"{out} exists; refusing to overwrite it (pass a new name or a "
            "directory, where the result gets a content-hash name)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.rename(out)
    return out


def _out_problem(target: str) -> str | None:
    """Why tmin's -o cannot take the result (checked before minimising). An existing
    file is checked after: the same result again leaves it as it is, another one is
    refused (and goes to the fallback directory)."""
    from harness.run.reproducer import output_dir_problem

    out = Path(target)
    if out.is_dir() or target.endswith("/"):
        return output_dir_problem(out)
    return output_dir_problem(out.parent)


def _write_result(r: Reproducer, target: str) -> Saved:
    """write_reproducer, never losing the result: a failed write goes to the fallback
    directory (see save_safely)."""
    try:
        return Saved(write_reproducer(r, target), None, "")
    except (OSError, ReproducerError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        saved = save_safely(r, fallback_dir())
        return Saved(saved.path, f"cannot write {target}: {why}", saved.text)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(),
    required=True,
    help="result file (never overwritten) or directory (content-hash name)",
)
@click.option(
    "--time",
    "seconds",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="time budget; the best result so far is kept",
)
@click.option(
    "--runs",
    "n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="stress reproducers: runs per candidate (N)",
)
@click.option(
    "--min-hits",
    "k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="stress reproducers: failing runs a candidate needs (k of N)",
)
@click.option(
    "--in-process",
    is_flag=True,
    help="run candidates in this process (faster; a target crash ends tmin)",
)
@target_option
@jobs_option("worker processes that run a search's candidates at once (same result)")
@click.option("--json", "json_mode", is_flag=True)
def tmin(
    file: Path, out: str, seconds: float, n: int, k: int, in_process: bool,
    target: str | None, jobs: int | None, json_mode: bool,
) -> None:
    """Shrink a reproducer: fewer threads, ops, prefill, keys and preemptions, same failure.

    Keeps the failure signature: the violation class on the key that plays the same
    part (descends from the same key of the input). Controlled reproducers take one
    deterministic run per candidate; stress ones need k of N failing runs."""
    if k > n:
        fail(f"--min-hits {k} is more than --runs {n}")
    problem = _out_problem(out)
    if problem:
        fail(f"-o {out}: {problem}")
    loaded = load(file, target=target)
    r = loaded.reproducer
    if r is None:
        fail(f"{file} is a {loaded.kind} file, not a reproducer; get one with mapfuzz run or fuzz")
    start = time.monotonic()
    if in_process and jobs is not None and jobs > 1:
        fail("--in-process runs candidates here, one at a time; --jobs is for worker processes")
    runs: Runs = (LocalRuns(r.target_spec) if in_process
                  else PoolRuns(r.target_spec, jobs or default_jobs()))
    try:
        res = minimise(
            r,
            runs,
            seconds=seconds,
            stress=StressPolicy(k=k, n=n),
            found={"engine": "tmin", "input": file.name, "input_found": r.found},
        )
    except TminError as exc:
        fail(f"{file}: {exc}")
    except WorkerError as exc:
        fail(str(exc).splitlines()[0])
    finally:
        runs.close()
    saved = _write_result(res.reproducer, out)
    path = saved.path
    elapsed = time.monotonic() - start
    before, after = sizes(res.before), sizes(res.after)
    if json_mode:
        emit_json(
            {
                "input": str(file),
                "output": None if path is None else str(path),
                "write_problem": saved.problem,
                "class": res.signature.cls,
                "before": before,
                "after": after,
                "elapsed_s": round(elapsed, 3),
                "reproduction_rate": res.reproduction_rate,
            }
        )
    else:
        err.print(f"signature: {res.signature.describe(r.schedule.keys)}")
        err.print(f"before: {size_text(before)}")
        err.print(
            f"after:  {size_text(after)}  ({res.calls} candidate runs, {elapsed:.1f} s"
            + (", time budget ran out" if res.exhausted else "")
            + ")"
        )
        if res.reproduction_rate is not None:
            err.print(f"reproduction rate: {res.reproduction_rate:.0%} of stress runs")
        print_saved(saved, res.reproducer.target_spec)
    exit_saved(saved, EXIT_OK)


@cli.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="new (or empty) directory for the minimised corpus",
)
@click.option(
    "--variant",
    default=None,
    help="evacmap variant that raw byte inputs run on (schedules carry their own)",
)
@click.option(
    "--target",
    "target_spec",
    default="evacmap",
    show_default=True,
    help="target that raw byte inputs run on",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="PCT seed of the feature run (inputs without a recorded trace)",
)
@click.option(
    "--engine",
    type=click.Choice(["native", "libfuzzer"]),
    default="native",
    show_default=True,
    help="libfuzzer: libFuzzer's -set_cover_merge=1 through the atheris front end "
    "(its features: interleaving counters plus any code coverage; raw fuzz inputs "
    "only; inputs that fail on the target are kept)",
)
@raw_option
@click.option("--json", "json_mode", is_flag=True)
def cmin(
    dirs: tuple[Path, ...],
    out: Path,
    variant: str | None,
    target_spec: str,
    seed: int,
    engine: str,
    raw: bool,
    json_mode: bool,
) -> None:
    """Minimise a corpus: the fewest inputs keeping every interleaving feature and
    verdict class (greedy set cover). Inputs are left untouched; the output files are
    named by the SHA-1 of their content."""
    start = time.monotonic()
    config = MapConfig(target=target_spec, variant=variant)
    try:
        Target.load(target_spec).variant_index(variant)
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    check_out_dir(out, "-o")
    try:
        check_output(out, list(dirs))
        if engine == "libfuzzer":
            res = libfuzzer_merge(list(dirs), config, raw=raw)
        else:
            res = minimise_corpus(list(dirs), config, seed=seed, raw=raw)
        if not res.kept and not res.skipped:
            fail(f"no input files in {', '.join(map(str, dirs))}")
        state = write_output(res.kept, out, list(dirs))
    except CminError as exc:
        fail(str(exc), EXIT_USAGE)
    except MergeError as exc:
        fail(str(exc), EXIT_INTERNAL)
    elapsed = time.monotonic() - start
    for path, why in res.skipped:
        err.print(f"skipped {path}: {why}")
    report: dict[str, object] = {
        "inputs": res.inputs,
        "input_bytes": res.input_bytes,
        "unique": res.unique,
        "kept": len(res.kept),
        "kept_bytes": res.kept_bytes,
        "features": res.features,
        "kept_features": res.kept_features,
        "skipped": len(res.skipped),
        "output": str(out),
        "state": state,
        "engine": res.engine,
        "elapsed_s": round(elapsed, 3),
    }
    if engine == "libfuzzer":
        report["failing"] = len(res.failing)
        report["merge_log"] = res.merge_log
    if json_mode:
        emit_json(report)
        sys.exit(EXIT_OK)
    err.print(f"before: {res.inputs} inputs ({res.unique} distinct), {res.input_bytes} bytes")
    err.print(
        f"after:  {len(res.kept)} inputs, {res.kept_bytes} bytes in {out}"
        + (" (already up to date)" if state == "unchanged" else "")
    )
    err.print(f"features: {res.features} reached, {res.kept_features} kept  ({elapsed:.1f} s)")
    if res.failing:
        err.print(f"{len(res.failing)} inputs fail on this target and variant (kept); "
                  f"replay one with: mapfuzz repro {out / output_name(res.failing[0])}"
                  + (f" --target {target_spec}" if target_spec != "evacmap" else "")
                  + (f" --variant {variant}" if variant else ""))
    if res.merge_log:
        err.print(res.merge_log[-1])
    sys.exit(EXIT_OK)
