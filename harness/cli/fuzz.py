"""`mapfuzz fuzz`: a campaign with live progress."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.ci_outputs import (
    campaign_record,
    check_ci_outputs,
    ci_output_options,
    write_ci_outputs,
)
from harness.cli.common import (
    EXIT_FINDING,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    artifacts_option,
    check_out_dir,
    cli,
    default_jobs,
    emit_json,
    err,
    fail,
    saved_lines,
)
from harness.data.schedule import MAX_CAPACITY, MAX_OPS, MAX_THREADS
from harness.frontends.atheris_driver import (
    INSTALL_HINT,
    AtherisMissing,
    AtherisResult,
    atheris_available,
    run_atheris_campaign,
)
from harness.run.target import Target, TargetError
from harness.run.worker import WorkerError
from harness.search.campaign import (
    DEFAULT_NOISE,
    CampaignConfig,
    CanaryFailed,
    make_engine,
    run_campaign,
)
from harness.search.cluster import ClusterError
from harness.search.generate import MAX_CONTENDED
from harness.search.results import CampaignResult, Report


class FuzzProgress:
    """Progress of a campaign on stderr: a live rich bar on a terminal, a plain line
    every few seconds otherwise (CI logs), nothing but findings with --json."""

    PLAIN_PERIOD_S = 5.0

    def __init__(
        self, json_mode: bool, seconds: float, execs: int | None, canary: bool = False
    ) -> None:
        self.json_mode = json_mode
        self.result: CampaignResult | None = None
        """The campaign's result as of the last call (what Ctrl-C reports)."""
        self.live = err.is_terminal and not json_mode
        self.last = 0.0
        self.canary_shown = False
        self.by_execs = execs is not None
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task("canary" if canary else "fuzzing",
                                      total=execs if execs else seconds, status="")

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
        self.result = result
        if self.live:
            self.bar.update(self.task, description="fuzzing")
        if result.canary and not self.canary_shown and not self.json_mode:
            self.canary_shown = True
            own = result.canary.get("target_variant")
            also = (f" and {own['target']}'s first variant {own['variant']} ({own['class']}) "
                    f"after {own['found_after_execs']}" if isinstance(own, dict) else "")
            self._print(
                f"canary: found evacmap's {result.canary['variant']} after "
                f"{result.canary['found_after_execs']:,} executions{also}; fuzzing the target now"
            )
        if report is not None:
            self._print(finding_text(report))
            return
        if not result.execs:
            return
        rate = result.execs / result.elapsed_s if result.elapsed_s else 0.0
        if isinstance(result, AtherisResult):
            extra = f"corpus {result.corpus}"
        else:
            extra = f"unknown {result.unknown}"
        status = f"{result.execs:,} execs  {rate:,.0f}/s  "
        if features_measured(result):
            status += f"features {result.features:,}  "
        status += f"{extra}  findings {len(result.findings)}"
        if self.live:
            done = result.execs if self.by_execs else result.elapsed_s
            self.bar.update(self.task, completed=done, status=status)
            return
        now = time.monotonic()
        if self.json_mode or now - self.last < self.PLAIN_PERIOD_S:
            return
        self.last = now
        err.print(f"{result.elapsed_s:6.1f} s  {status}")


def features_measured(result: CampaignResult) -> bool:
    """Interleaving features are counted by controlled runs of the random and atheris
    engines; stress mode has no schedule-point log and hypothesis does not count them."""
    return result.mode == "controlled" and result.engine != "hypothesis"


def found_at(report: Report) -> str:
    """Where a campaign met a finding: its input index for the random engine (whose
    feedback may skip inputs, so an index is not an execution count), else executions."""
    if report.index is not None:
        return f"at input {report.index:,}"
    return f"after {report.execs_to_find:,} execution{'s' if report.execs_to_find != 1 else ''}"


def finding_text(report: Report) -> str:
    """A finding as printed (rich markup): class, key, explanation, where the reproducer
    went and how to replay it; a write that failed says so and where the file went
    instead (or prints the reproducer itself)."""
    where = f" on key {escape(report.key)}" if report.key else ""
    lines = [
        f"[bold red]finding:[/] {report.cls}{where} {found_at(report)} "
        f"({report.first_found_s:.2f} s)",
        f"  {escape(report.explanation)}",
    ]
    lines += saved_lines(report.reproducer, report.write_problem, report.reproducer_text,
                         report.target_spec, indent="  ")
    return "\n".join(lines)


F = TypeVar("F", bound=Callable[..., Any])


def _shape_option(name: str, lo: int, hi: int, what: str) -> Callable[[F], F]:
    """A workload knob of the random engine (None: the generator's default)."""
    return click.option(name, type=click.IntRange(lo, hi), default=None,
                        help=f"random engine: {what}")


@cli.command()
@click.option(
    "--target",
    default="evacmap",
    show_default=True,
    help="evacmap, syncmap, rwmap, an adapter (cds_lfht, cuckoo, gomap, gosyncmap), "
    "or a path to a target .so",
)
@click.option("--variant", default=None, help="seeded bug to run (default: the correct map)")
@click.option(
    "--engine",
    type=click.Choice(["random", "atheris", "hypothesis"]),
    default="random",
    show_default=True,
    help="random: the built-in generator; atheris: libFuzzer with interleaving coverage "
    "(a subprocess; needs the fuzz extra); hypothesis: the no-finding property, shrunk",
)
@click.option(
    "--mode", type=click.Choice(["controlled", "stress"]), default="controlled", show_default=True
)
@click.option("--strategy", type=click.Choice(["pct", "random"]), default="pct", show_default=True)
@click.option(
    "--time",
    "seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="time budget in seconds (more than 0)",
)
@click.option(
    "--execs",
    type=click.IntRange(min=1),
    default=None,
    help="input budget: inputs 0..N-1 of the campaign (feedback may skip some, so at "
    "most N executions)",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@artifacts_option("where reproducers are written")
@click.option("--keep-going", is_flag=True, help="do not stop at the first finding")
@click.option("--no-canary", is_flag=True, help="skip the canary self-check (not recommended)")
@click.option("--json", "json_mode", is_flag=True, help="print one JSON object at the end")
@_shape_option("--threads", 1, MAX_THREADS, "pin the threads per schedule (default: drawn, 2..8)")
@_shape_option("--ops", 1, MAX_OPS, "pin the operations per thread (default: drawn, 4..160)")
@_shape_option("--keys", 1, MAX_CONTENDED,
               "pin the contended keys the threads share (default: drawn, 2..320)")
@_shape_option("--capacity", 0, MAX_CAPACITY,
               "pin the map's capacity hint (default: drawn; small hints mean growth early)")
@click.option(
    "--noise",
    type=click.FloatRange(0, 1),
    default=None,
    help="stress mode: chance of a spin, yield or short sleep at a schedule point "
    f"(default {DEFAULT_NOISE:g}; 0 runs the threads flat out)",
)
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="atheris: the corpus directory libFuzzer reads and grows (default: a temporary one)",
)
@ci_output_options
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="worker processes on one campaign (default: every core for --engine random, "
    f"here {default_jobs()}; 1 for the other engines)",
)
@click.option(
    "--cluster",
    default=None,
    metavar="ADDRESS",
    help="random engine: run the campaign on a Dask cluster (tcp://HOST:8786 of a "
    "`dask scheduler`; `local` starts 2 worker processes here); needs "
    "pip install 'mapfuzz[cluster]'",
)
@click.argument("libfuzzer_flags", nargs=-1, type=click.UNPROCESSED)
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
    threads: int | None,
    ops: int | None,
    keys: int | None,
    capacity: int | None,
    noise: float | None,
    corpus: Path | None,
    junit: Path | None,
    sarif: Path | None,
    summary: Path | None,
    jobs: int | None,
    cluster: str | None,
    libfuzzer_flags: tuple[str, ...],
) -> None:
    """Fuzz a map: generated schedules on real threads, every execution judged by the oracle.

    With --engine atheris, raw libFuzzer flags go after `--`, e.g.
    `mapfuzz fuzz --engine atheris --time 60 -- -max_len=4096 -use_value_profile=1`.
    """
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
        threads=threads,
        ops=ops,
        keys=keys,
        capacity=capacity,
        noise=DEFAULT_NOISE if noise is None else noise,
        jobs=jobs if jobs is not None else (default_jobs() if engine == "random" else 1),
        cluster=cluster,
    )
    if cluster is not None and engine != "random":
        fail(f"--cluster is for --engine random ({engine} runs on this machine; use --jobs)")
    if cluster is not None and jobs is not None:
        fail("--cluster and --jobs: the cluster's workers are the jobs; give one of them")
    if cluster is not None and importlib.util.find_spec("distributed") is None:
        fail(escape("--cluster needs Dask distributed; install it with: "
                    "pip install 'mapfuzz[cluster]'"))
    if jobs is not None and jobs > 1 and engine == "hypothesis":
        fail("--jobs is for --engine random and atheris (hypothesis runs one property)")
    shape = [f"--{n}" for n, v in (("threads", threads), ("ops", ops), ("keys", keys),
                                    ("capacity", capacity)) if v is not None]
    if shape and engine != "random":
        fail(f"{', '.join(shape)}: for --engine random, which generates the schedules "
             f"({engine} makes its own)")
    check_out_dir(artifacts, "--artifacts")
    check_ci_outputs(junit=junit, sarif=sarif, summary=summary)
    if noise is not None and mode != "stress":
        fail("--noise is for --mode stress (controlled mode schedules threads itself)")
    try:
        tgt = Target.load(target)
        tgt.variant_index(variant)
        # the random engine's workload, as the campaign will build it
        gen = make_engine(cfg, tgt).gen if engine == "random" else None
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    if libfuzzer_flags and engine != "atheris":
        fail(f"raw libFuzzer flags ({' '.join(libfuzzer_flags)}) need --engine atheris")
    if corpus is not None and engine != "atheris":
        fail("--corpus is for --engine atheris")
    if engine != "random" and mode != "controlled":
        fail(f"--engine {engine} runs in controlled mode only (the seed comes from the input)")
    if engine != "random" and keep_going:
        fail(f"--keep-going is for --engine random; {engine} stops at its first finding")
    if engine == "hypothesis" and importlib.util.find_spec("hypothesis") is None:
        fail(escape("hypothesis is not installed; install it with: pip install -e '.[fuzz]'"))
    if engine == "atheris" and not atheris_available():
        fail(escape(f"atheris is not installed; install it with: {INSTALL_HINT}"))
    if not json_mode:
        what = f"{target}" + (f" variant {variant}" if variant else "")
        err.print(
            f"fuzzing {what} with {engine}: {mode} mode"
            + (f", {strategy}" if mode == "controlled" else "")
            + f", seed {seed}, budget {seconds:g} s"
            + (f" / {execs} execs" if execs else "")
            + (f", on the Dask cluster {cluster}" if cluster else
               f", {cfg.jobs} jobs" if cfg.jobs > 1 else "")
        )
        if gen is not None:
            names = {"threads": "threads", "ops_per_thread": "ops per thread",
                     "keys": "contended keys", "capacity": "capacity hint"}
            pins = ", ".join(f"{names[k]} {getattr(gen, k)}" for k in names if k in gen.pinned)
            err.print(
                "workload: swarm (each schedule draws its threads, keys, prefill, ops, "
                "capacity hint, value and op mix)"
                + (f"; pinned: {pins}" if pins else "")
                + (f"; noise {cfg.noise:g}" if mode == "stress" else "")
            )
        if cfg.canary:
            err.print("canary: checking that a planted bug is found first ...")
    progress = FuzzProgress(json_mode, seconds, execs, canary=cfg.canary)
    interrupted = False
    try:
        result: CampaignResult
        with progress:
            if engine == "atheris":
                result = run_atheris_campaign(cfg, progress, corpus=corpus, extra=libfuzzer_flags)
            elif engine == "hypothesis":
                # hypothesis is a dev/fuzz dependency: import it only when asked for
                from harness.frontends.hypothesis_engine import run_hypothesis_campaign

                result = run_hypothesis_campaign(cfg, progress)
            else:
                result = run_campaign(cfg, progress)
    except KeyboardInterrupt:
        if progress.result is None:
            fail("interrupted before the first execution was counted", EXIT_INTERRUPTED)
        result, interrupted = progress.result, True
    except CanaryFailed as exc:
        fail(str(exc), EXIT_INTERNAL)
    except ClusterError as exc:
        fail(escape(str(exc)))
    except WorkerError as exc:  # the target failed to load in a worker (on a cluster node)
        fail(escape(f"a worker could not run the target: {str(exc).splitlines()[0]}"))
    except AtherisMissing as exc:
        fail(escape(str(exc)))
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(escape(str(exc)), EXIT_INTERNAL)
    if json_mode:
        emit_json(result_json(result, interrupted))
    else:
        print_summary(result, corpus, interrupted)
    if junit or sarif or summary:
        write_ci_outputs(junit, sarif, summary, campaign=campaign_record(result))
    lost = [f for f in result.findings if f.write_problem]
    if lost:
        fail(f"{lost[0].write_problem} (the finding is printed above"
             + (f"; its reproducer is in {lost[0].reproducer.parent})" if lost[0].reproducer
                else ")"))
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FINDING if result.findings else EXIT_OK)



def result_json(result: CampaignResult, interrupted: bool = False) -> dict[str, Any]:
    """The --json object of a campaign (``interrupted``: Ctrl-C ended it)."""
    return {
        "target": result.target,
        "variant": result.variant,
        "engine": result.engine,
        "mode": result.mode,
        "seed": result.seed,
        "jobs": result.jobs,
        "cluster": result.cluster,
        "elapsed_s": round(result.elapsed_s, 3),
        "execs": result.execs,
        "execs_per_s": round(result.execs / result.elapsed_s, 1) if result.elapsed_s else 0.0,
        "canary": result.canary,
        "interrupted": interrupted,
        "findings": [
            {
                "class": f.cls,
                "key": f.key,
                "explanation": f.explanation,
                "hits": f.hits,
                "first_found_s": round(f.first_found_s, 3),
                "execs_to_find": f.execs_to_find,
                "input": f.index,
                "mode": f.mode,
                "target": f.target or result.target,
                "reproducer": None if f.reproducer is None else str(f.reproducer),
                "replay": f.replay,
                "write_problem": f.write_problem,
            }
            for f in result.findings
        ],
    }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def print_summary(result: CampaignResult, corpus: Path | None, interrupted: bool = False) -> None:
    """The end-of-run summary: totals, then every distinct finding and how to replay it."""
    rate = result.execs / result.elapsed_s if result.elapsed_s else 0.0
    where = f" on {result.jobs} workers" if result.jobs > 1 else ""
    where = f" on the cluster at {result.cluster}" if result.cluster else where
    err.print(
        f"{'interrupted' if interrupted else 'done'}: {_plural(result.execs, 'execution')} in "
        f"{result.elapsed_s:.1f} s ({rate:,.0f}/s){where}, "
        f"{_plural(len(result.findings), 'distinct finding')} in {_plural(result.hits, 'hit')}, "
        f"{result.unknown:,} undecided (unknown)"
    )
    for n, f in enumerate(result.findings, 1):
        key = f" on key {f.key}" if f.key else ""
        hits = f"{f.hits} hit" + ("s" if f.hits != 1 else "")
        sig = f"; {f.signature.describe()}" if f.signature and f.signature.describe() else ""
        err.print(
            f"  {n}. {escape(f.cls)}{escape(key)} ({hits}{escape(sig)}, "
            f"first {found_at(f)})\n"
            f"     {escape(f.explanation)}\n     replay with: {escape(f.replay)}",
            markup=True,
        )
    if isinstance(result, AtherisResult):
        err.print(
            f"libFuzzer: {result.features} features, corpus {result.corpus} inputs"
            + (f" in {corpus}" if corpus else "")
        )
        for crash in result.crash_files:
            err.print(f"libFuzzer crash input: {crash}")
