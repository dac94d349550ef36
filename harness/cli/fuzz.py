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
    emit_json,
    err,
    fail,
)
from harness.data.schedule import MAX_CAPACITY, MAX_KEYS, MAX_OPS, MAX_THREADS
from harness.frontends.atheris_driver import (
    INSTALL_HINT,
    AtherisMissing,
    AtherisResult,
    atheris_available,
    run_atheris_campaign,
)
from harness.run.target import Target, TargetError
from harness.search.campaign import (
    DEFAULT_NOISE,
    CampaignConfig,
    CampaignResult,
    CanaryFailed,
    Report,
    make_engine,
    run_campaign,
)


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
            self._print(
                f"canary: found {result.canary['variant']} after "
                f"{result.canary['found_after_execs']:,} executions; fuzzing the target now"
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


def finding_text(report: Report) -> str:
    """A finding as printed (rich markup): class, key, explanation, where the reproducer
    went and how to replay it; a write that failed says so and where the file went
    instead (or prints the reproducer itself)."""
    where = f" on key {escape(report.key)}" if report.key else ""
    lines = [
        f"[bold red]finding:[/] {report.cls}{where} after {report.execs_to_find:,} "
        f"executions ({report.first_found_s:.2f} s)",
        f"  {escape(report.explanation)}",
    ]
    if report.write_problem:
        lines.append(f"  [bold red]{escape(report.write_problem)}[/]")
    if report.reproducer is None:
        lines.append("  the reproducer follows (save it as FILE.json, then: "
                     "mapfuzz repro FILE.json)")
        lines.append(escape(report.reproducer_text))
    else:
        instead = " instead" if report.write_problem else ""
        lines.append(f"  written to {escape(str(report.reproducer))}{instead}")
        lines.append(f"  replay with: mapfuzz repro {escape(str(report.reproducer))}")
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
    help="evacmap, cds_lfht, cuckoo, or a path to a target .so",
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
@click.option("--execs", type=click.IntRange(min=1), default=None, help="execution budget")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@artifacts_option("where reproducers are written")
@click.option("--keep-going", is_flag=True, help="do not stop at the first finding")
@click.option("--no-canary", is_flag=True, help="skip the canary self-check (not recommended)")
@click.option("--json", "json_mode", is_flag=True, help="print one JSON object at the end")
@_shape_option("--threads", 1, MAX_THREADS, "threads per schedule (default 3)")
@_shape_option("--ops", 1, MAX_OPS, "operations per thread (default 16)")
@_shape_option("--keys", 1, MAX_KEYS, "contended keys the threads share (default 8)")
@_shape_option("--capacity", 0, MAX_CAPACITY,
               "the map's capacity hint (default 8; small hints mean growth early)")
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
    )
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
        )
        if gen is not None and shape:
            err.print(
                f"workload: {gen.threads} threads x {gen.ops_per_thread} ops over {gen.keys} "
                f"contended keys, capacity hint {gen.capacity}"
                + (f", noise {cfg.noise:g}" if mode == "stress" else "")
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
    except AtherisMissing as exc:
        fail(escape(str(exc)))
    except (TargetError, ValueError) as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(escape(str(exc)), EXIT_INTERNAL)
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
                "interrupted": interrupted,
                "findings": [
                    {
                        "class": f.cls,
                        "key": f.key,
                        "first_found_s": round(f.first_found_s, 3),
                        "execs_to_find": f.execs_to_find,
                        "reproducer": None if f.reproducer is None else str(f.reproducer),
                        "write_problem": f.write_problem,
                    }
                    for f in result.findings
                ],
            }
        )
    else:
        rate = result.execs / result.elapsed_s if result.elapsed_s else 0.0
        n = len(result.findings)
        err.print(
            f"{'interrupted' if interrupted else 'done'}: {result.execs:,} executions in "
            f"{result.elapsed_s:.1f} s ({rate:,.0f}/s), {n} finding{'s' if n != 1 else ''}, "
            f"{result.unknown:,} undecided (unknown)"
        )
        if isinstance(result, AtherisResult):
            err.print(
                f"libFuzzer: {result.features} features, corpus {result.corpus} inputs"
                + (f" in {corpus}" if corpus else "")
            )
            for crash in result.crash_files:
                err.print(f"libFuzzer crash input: {crash}")
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
