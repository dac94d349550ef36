"""A fuzz campaign: canary, then batches of executions until the budget or a finding.

The canary comes first: a known-broken evacmap variant must be caught within a
small budget, or the campaign stops with ``CanaryFailed`` (exit code 3): a run
that cannot find a planted bug must never report green.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.data.schedule import MapConfig, from_json, to_json
from harness.run.execute import RunSpec, allowed_kinds
from harness.run.reproducer import Reproducer, save_safely
from harness.run.target import Target
from harness.run.worker import Finding, Worker, WorkerDied
from harness.search.collide import evacmap_colliding_keys
from harness.search.engine import RandomEngine
from harness.search.generate import GenConfig

CANARY_VARIANT = "reader-no-seq-validate"
"""A seeded evacmap bug the canary must find; controlled PCT finds it within tens of executions."""
CANARY_EXECS = 20_000
CANARY_SECONDS = 30.0
BATCH_SECONDS = 0.25
DEFAULT_NOISE = 0.05
"""Stress mode: chance of noise (spin, yield, short sleep) at a schedule point."""


class CanaryFailed(Exception):
    """The planted bug was not found: detection does not work on this machine/build."""


@dataclass(slots=True)
class Report:
    """One finding as the CLI reports it."""

    cls: str
    key: str | None
    first_found_s: float
    execs_to_find: int
    reproducer: Path | None
    """Where the reproducer was written (a fallback directory when ``write_problem`` says
    why the one asked for could not take it); None when no directory could."""
    explanation: str
    write_problem: str | None = None
    reproducer_text: str = ""
    """The reproducer's JSON: printed when no file could hold it."""


@dataclass(slots=True)
class CampaignResult:
    target: str
    variant: str | None
    engine: str
    mode: str
    seed: int
    elapsed_s: float = 0.0
    execs: int = 0
    unknown: int = 0
    features: int = 0
    canary: dict[str, object] | None = None
    findings: list[Report] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    target: str = "evacmap"
    variant: str | None = None
    mode: str = "controlled"
    strategy: str = "pct"
    seed: int = 0
    seconds: float = 60.0
    max_execs: int | None = None
    artifacts: Path = Path("artifacts")
    keep_going: bool = False
    canary: bool = True
    noise: float = DEFAULT_NOISE
    pct_depth: int = 3
    threads: int | None = None
    """Workload shape of the generated schedules; None keeps the generator's default
    (3 threads x 16 operations over 8 contended keys, capacity hint 8)."""
    ops: int | None = None
    keys: int | None = None
    capacity: int | None = None


Progress = Callable[[CampaignResult, Report | None], None]


def make_engine(cfg: CampaignConfig, target: Target) -> RandomEngine:
    """The random engine of a campaign; ValueError names a workload knob out of range."""
    shape: dict[str, Any] = {
        "threads": cfg.threads, "ops_per_thread": cfg.ops, "keys": cfg.keys,
        "capacity": cfg.capacity,
    }
    gen = replace(gen_config_for(target), **{k: v for k, v in shape.items() if v is not None})
    gen.check()
    # the generator takes target and variant from base; hash seed and capacity are its own
    base = MapConfig(target=target.spec, variant=cfg.variant)
    spec = RunSpec(
        mode=cfg.mode,
        strategy=cfg.strategy,
        pct_depth=cfg.pct_depth,
        noise=cfg.noise if cfg.mode == "stress" else 0.0,
    )
    return RandomEngine(seed=cfg.seed, base=base, gen=gen, spec=spec)


def gen_config_for(target: Target) -> GenConfig:
    """The generator's defaults, less the operations the target does not offer:
    put_if_absent without MF_CAP_PUT_IF_ABSENT, concurrent iterate without MF_CAP_ITERATE."""
    gen = GenConfig()
    kinds = allowed_kinds(target)
    ops = {kind: w for kind, w in gen.op_weights.items() if kind in kinds}
    if target.name == "evacmap" and target.path is None:
        # a quarter of the contended keys share a home group: probe runs across groups
        return replace(gen, op_weights=ops, colliding_keys=0.25, collide=evacmap_colliding_keys)
    return replace(gen, op_weights=ops)


def finding_reproducer(target: Target, finding: Finding, found: dict[str, object]) -> Reproducer:
    """The reproducer file's content for a finding of a fuzz batch."""
    return Reproducer(
        target_name=target.name,
        target_path=target.path,
        abi_version=target.abi_version,
        spec=finding.spec,
        schedule=from_json(finding.schedule),
        trace=finding.trace if finding.spec.mode == "controlled" else (),
        trace_hash=finding.trace_hash if finding.spec.mode == "controlled" else None,
        violations=finding.violations,
        found=found,
        history=finding.history,
    )


def _died_finding(engine: RandomEngine, died: WorkerDied) -> Finding:
    return Finding(
        index=died.index,
        schedule=to_json(engine.schedule(died.index)),
        spec=engine.run_spec(died.index),
        violations=(died.violation(),),
        trace=(),
        trace_hash=0,
    )


def hunt(worker: Worker, engine: RandomEngine, seconds: float) -> tuple[Finding | None, float, int]:
    """Fuzz in ``worker`` until the first finding or ``seconds``: (finding or None,
    seconds taken, executions made). A run that kills the worker is a finding."""
    start = time.perf_counter()
    done = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        try:
            batch = worker.fuzz_batch(engine, done, 1 << 40, min(BATCH_SECONDS, seconds - elapsed))
        except WorkerDied as died:
            return _died_finding(engine, died), time.perf_counter() - start, died.index + 1
        done += batch.execs
        if batch.findings:
            return batch.findings[0], time.perf_counter() - start, done
    return None, time.perf_counter() - start, done


def run_canary(seed: int = 0) -> dict[str, object]:
    """Find CANARY_VARIANT on evacmap within the canary budget, or raise CanaryFailed."""
    cfg = CampaignConfig(variant=CANARY_VARIANT, seed=seed, canary=False)
    target = Target.load("evacmap")
    if CANARY_VARIANT not in target.variants:
        raise CanaryFailed(f"evacmap has no variant {CANARY_VARIANT!r}; this build is broken")
    engine = make_engine(cfg, target)
    start = time.perf_counter()
    done = 0
    with Worker("evacmap") as worker:
        while done < CANARY_EXECS and time.perf_counter() - start < CANARY_SECONDS:
            batch = worker.fuzz_batch(engine, done, CANARY_EXECS - done, BATCH_SECONDS)
            done += batch.execs
            if batch.findings:
                return {"variant": CANARY_VARIANT, "found_after_execs": done}
    raise CanaryFailed(
        f"the canary (evacmap variant {CANARY_VARIANT!r}) was not found in {done} executions: "
        "detection does not work here, so a green run would mean nothing. "
        "Rebuild with `pip install -e .` and run `pytest tests/quality`."
    )


def run_campaign(cfg: CampaignConfig, progress: Progress | None = None) -> CampaignResult:
    target = Target.load(cfg.target)
    target.variant_index(cfg.variant)  # raises ValueError naming the variants
    engine = make_engine(cfg, target)
    result = CampaignResult(
        target=target.name, variant=cfg.variant, engine="random", mode=cfg.mode, seed=cfg.seed
    )
    if cfg.canary:
        result.canary = run_canary(cfg.seed)
    seen_classes: set[str] = set()
    start = time.perf_counter()
    limit = cfg.max_execs if cfg.max_execs is not None else 1 << 62
    with Worker(cfg.target) as worker:
        index = 0
        while index < limit:
            elapsed = time.perf_counter() - start
            if elapsed >= cfg.seconds:
                break
            seconds = min(BATCH_SECONDS, cfg.seconds - elapsed)
            try:
                batch = worker.fuzz_batch(engine, index, limit - index, seconds)
                findings = batch.findings
                index += batch.execs
                result.execs += batch.execs
                result.unknown += batch.unknown
                result.features = max(result.features, batch.features)
            except WorkerDied as died:
                findings = [_died_finding(engine, died)]
                result.execs += died.index - index + 1
                index = died.index + 1
            for finding in findings:
                cls = finding.violations[0].cls
                if cls in seen_classes:
                    continue
                seen_classes.add(cls)
                t = time.perf_counter() - start
                found = {
                    "engine": "random",
                    "campaign_seed": cfg.seed,
                    "input": finding.index,
                    "execs": result.execs,
                }
                # no wall-clock time in the file: the same finding (controlled mode is
                # deterministic) gets the same content, hence the same name, every time
                saved = save_safely(finding_reproducer(target, finding, found), cfg.artifacts)
                v = finding.violations[0]
                report = Report(
                    cls=cls,
                    key=v.key,
                    first_found_s=t,
                    execs_to_find=result.execs,
                    reproducer=saved.path,
                    explanation=v.explanation,
                    write_problem=saved.problem,
                    reproducer_text=saved.text if saved.path is None else "",
                )
                result.findings.append(report)
                if progress:
                    progress(result, report)
            result.elapsed_s = time.perf_counter() - start
            if progress:
                progress(result, None)
            if result.findings and not cfg.keep_going:
                break
    result.elapsed_s = time.perf_counter() - start
    return result
