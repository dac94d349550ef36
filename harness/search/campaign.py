"""A fuzz campaign: canary, then batches of executions until the budget or a finding.

The random engine's inputs are cut into slices (harness.search.slices) that
``jobs`` worker processes run (harness.search.jobs); findings come back in input
order and are deduplicated by signature into the reports of a
:class:`~harness.search.results.CampaignResult`.

The canary comes first: a known-broken evacmap variant must be caught within a
small budget, or the campaign stops with ``CanaryFailed`` (exit code 3): a run
that cannot find a planted bug must never report green.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.data.schedule import MapConfig, from_json
from harness.run.execute import MF_CAP_EVENTS, RunSpec, allowed_kinds
from harness.run.reproducer import Reproducer, save_safely
from harness.run.target import Target
from harness.run.worker import Finding, Worker, WorkerDied
from harness.search.calibrate import calibrate
from harness.search.collide import evacmap_colliding_keys
from harness.search.engine import RandomEngine
from harness.search.generate import GenConfig
from harness.search.jobs import Done, Feed, run_jobs
from harness.search.results import CampaignResult, FindingSignature, Report
from harness.search.slices import BATCH_SECONDS, Ledger, died_finding

CANARY_VARIANT = "reader-no-seq-validate"
"""A seeded evacmap bug the canary must find; controlled PCT finds it within tens of executions."""
CANARY_EXECS = 20_000
CANARY_SECONDS = 30.0
DEFAULT_NOISE = 0.05
"""Stress mode: chance of noise (spin, yield, short sleep) at a schedule point."""


class CanaryFailed(Exception):
    """The planted bug was not found: detection does not work on this machine/build."""


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
    """Workload shape of the generated schedules; None lets each schedule draw its
    own (swarm testing, harness.search.generate.draw_shape); a value pins it."""
    ops: int | None = None
    keys: int | None = None
    capacity: int | None = None
    jobs: int = 1
    """Worker processes on this machine (the random engine; harness.search.jobs)."""
    cluster: str | None = None
    """A Dask scheduler address, or "local" for a LocalCluster on this machine
    (harness.search.cluster); None runs on this machine with ``jobs`` workers."""


Progress = Callable[[CampaignResult, Report | None], None]


def make_engine(cfg: CampaignConfig, target: Target) -> RandomEngine:
    """The random engine of a campaign; ValueError names a workload knob out of range."""
    shape: dict[str, Any] = {
        "threads": cfg.threads, "ops_per_thread": cfg.ops, "keys": cfg.keys,
        "capacity": cfg.capacity,
    }
    pinned = {k: v for k, v in shape.items() if v is not None}
    gen = replace(gen_config_for(target), **pinned, pinned=frozenset(pinned))
    gen.check()
    # the generator takes target and variant from base; hash seed and capacity are its own
    base = MapConfig(target=target.spec, variant=cfg.variant)
    spec = RunSpec(
        mode=cfg.mode,
        strategy=cfg.strategy,
        pct_depth=cfg.pct_depth,
        noise=cfg.noise if cfg.mode == "stress" else 0.0,
    )
    events = bool(target.caps & MF_CAP_EVENTS)
    if events and gen.swarm:
        probe_capacity = cfg.capacity if cfg.capacity is not None else 0
        gen = replace(gen, growths=calibrate(target, base, probe_capacity),
                      growths_capacity=probe_capacity)
    return RandomEngine(seed=cfg.seed, base=base, gen=gen, spec=spec, events=events)


def gen_config_for(target: Target) -> GenConfig:
    """The random engine's generator: swarm shapes, less the operations the target
    does not offer (put_if_absent without MF_CAP_PUT_IF_ABSENT, concurrent iterate
    without MF_CAP_ITERATE)."""
    gen = GenConfig(swarm=True)
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


def hunt(worker: Worker, engine: RandomEngine, seconds: float) -> tuple[Finding | None, float, int]:
    """Fuzz in ``worker`` until the first finding or ``seconds``: (finding or None,
    seconds taken, executions made). A run that kills the worker is a finding."""
    start = time.perf_counter()
    done = index = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        try:
            batch = worker.fuzz_batch(engine, index, 1 << 40, min(BATCH_SECONDS, seconds - elapsed))
        except WorkerDied as died:
            return died_finding(engine, died), time.perf_counter() - start, done + 1
        done += batch.execs
        index = batch.next_index
        if batch.findings:
            return batch.findings[0], time.perf_counter() - start, done
    return None, time.perf_counter() - start, done


def run_canary(seed: int = 0, target: Target | None = None) -> dict[str, object]:
    """Find CANARY_VARIANT on evacmap within the canary budget, or raise CanaryFailed.
    When ``target`` (the campaign's) is another target with seeded variants, also
    find its first variant, so detection is proved on the user's own target; the
    result names both (``target_variant``)."""
    proof = _evacmap_canary(seed)
    if target is None or target.path is None or not target.variants:
        return proof
    variant = target.variants[0]
    cfg = CampaignConfig(target=target.spec, variant=variant, seed=seed, canary=False)
    with Worker(target.spec) as worker:
        finding, _, execs = hunt(worker, make_engine(cfg, target), CANARY_SECONDS)
    if finding is None:
        raise CanaryFailed(
            f"the canary on {target.name}: its first seeded variant {variant!r} was not found "
            f"in {CANARY_SECONDS:g} s ({execs} executions); a green run of this target would "
            f"mean little. Check it alone: mapfuzz fuzz --target {target.spec} "
            f"--variant {variant} --no-canary")
    proof["target_variant"] = {"target": target.name, "variant": variant,
                               "class": finding.violations[0].cls, "found_after_execs": execs}
    return proof


def _evacmap_canary(seed: int) -> dict[str, object]:
    cfg = CampaignConfig(variant=CANARY_VARIANT, seed=seed, canary=False)
    target = Target.load("evacmap")
    if CANARY_VARIANT not in target.variants:
        raise CanaryFailed(f"evacmap has no variant {CANARY_VARIANT!r}; this build is broken")
    engine = make_engine(cfg, target)
    start = time.perf_counter()
    done = index = 0
    with Worker("evacmap") as worker:
        while done < CANARY_EXECS and time.perf_counter() - start < CANARY_SECONDS:
            batch = worker.fuzz_batch(engine, index, CANARY_EXECS - done, BATCH_SECONDS)
            done += batch.execs
            index = batch.next_index
            if batch.findings:
                return {"variant": CANARY_VARIANT, "found_after_execs": done}
    raise CanaryFailed(
        f"the canary (evacmap variant {CANARY_VARIANT!r}) was not found in {done} executions: "
        "detection does not work here, so a green run would mean nothing. "
        "Rebuild with `pip install -e .` and run `pytest tests/quality`."
    )


class _Books:
    """The campaign's bookkeeping, in the calling thread: totals, progress, and the
    deduplication of findings released by the ledger (in input order) into reports."""

    def __init__(
        self, cfg: CampaignConfig, target: Target, gen: GenConfig, result: CampaignResult,
        feed: Feed, progress: Progress | None,
    ) -> None:
        self.cfg, self.target, self.result, self.feed = cfg, target, result, feed
        self.progress = progress
        self.gen = gen
        self.start = time.perf_counter()
        self.by_signature: dict[FindingSignature, Report] = {}

    def slice_done(self, done: Done) -> None:
        res = done.result
        r = self.result
        r.execs += res.execs
        r.unknown += res.unknown
        r.features = max(r.features, res.features)
        self.commit(done.released)
        r.elapsed_s = time.perf_counter() - self.start
        if self.progress:
            self.progress(r, None)

    def commit(self, findings: list[Finding]) -> None:
        for finding in findings:
            sig = FindingSignature.of(finding, self.gen)
            known = self.by_signature.get(sig)
            if known is not None:
                known.hits += 1
                continue
            found = {
                "engine": "random",
                "campaign_seed": self.cfg.seed,
                "input": finding.index,
                "execs": finding.index + 1,
            }
            # no wall-clock time in the file: the same finding (controlled mode is
            # deterministic) gets the same content, hence the same name, every time
            saved = save_safely(finding_reproducer(self.target, finding, found),
                                self.cfg.artifacts)
            v = finding.violations[0]
            report = Report(
                cls=v.cls, key=v.key, first_found_s=time.perf_counter() - self.start,
                execs_to_find=finding.index + 1, reproducer=saved.path,
                explanation=v.explanation, mode=finding.spec.mode, target=self.target.name,
                index=finding.index, signature=sig, write_problem=saved.problem,
                reproducer_text=saved.text if saved.path is None else "",
                target_spec=self.target.spec,
            )
            self.by_signature[sig] = report
            self.result.findings.append(report)
            if self.progress:
                self.progress(self.result, report)


def run_campaign(cfg: CampaignConfig, progress: Progress | None = None) -> CampaignResult:
    """The random engine's campaign: canary, then inputs 0, 1, ... on ``cfg.jobs``
    worker processes (or a Dask cluster) until the budget, or the first finding
    unless ``keep_going``. Findings are reported in input order, one per signature."""
    target = Target.load(cfg.target)
    target.variant_index(cfg.variant)  # raises ValueError naming the variants
    engine = make_engine(cfg, target)
    result = CampaignResult(
        target=target.name, variant=cfg.variant, engine="random", mode=cfg.mode, seed=cfg.seed,
        jobs=cfg.jobs, cluster=cfg.cluster,
    )
    if cfg.canary:
        result.canary = run_canary(cfg.seed, target)
    with contextlib.ExitStack() as stack:
        client = None
        if cfg.cluster is not None:
            from harness.search import cluster  # the cluster extra, only when asked for

            client = stack.enter_context(cluster.connect(cfg.cluster))
        limit = cfg.max_execs if cfg.max_execs is not None else 1 << 62
        first_only = not cfg.keep_going
        start = time.perf_counter()
        ledger = Ledger(limit, first_only=first_only, align=engine.seeds_per_schedule)
        feed = Feed(ledger, start + cfg.seconds, first_only=first_only)
        books = _Books(cfg, target, engine.gen, result, feed, progress)
        books.start = start
        try:
            if client is not None:
                result.jobs = cluster.threads_of(client)
                cluster.run_on_cluster(client, cfg.target, engine, feed, books.slice_done)
            else:
                run_jobs(max(1, cfg.jobs), cfg.target, engine, feed, books.slice_done)
        finally:
            with feed.lock:
                rest = feed.ledger.flush()
            books.commit(rest)
            result.elapsed_s = time.perf_counter() - start
    return result
