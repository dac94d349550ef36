"""The random engine: input i of a campaign is a pure function of (campaign seed, i).

Determinism is what lets a crashed worker be explained after the fact: the parent
knows which input index the worker had started, regenerates that exact schedule
and scheduler seed, and writes the reproducer. Each generated schedule runs under
``seeds_per_schedule`` scheduler seeds before the next is drawn, which spreads the
cost of generating and compiling a schedule over several executions.

Which indices run (``next_index``): a big schedule (a large prefill) gets fewer
seeds, down to one, since the oracle's cost grows with its records. Feedback from
structural events (targets with MF_CAP_EVENTS): a schedule keeps getting seeds while
its executions grow the map during the parallel phase; after
``seeds_without_growth`` seeds, one that grows nothing moves on to the next schedule.
The campaign so spends its time on shapes whose parallel phase overlaps a growth.
Input i is still the same pure function of (seed, i); only which indices run
depends on outcomes. (Where the generator aims its prefills comes from a
calibration probe run once before the campaign, harness.search.calibrate: a pure
function of the target, the same in every worker.)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from harness.data.plan import Plan, compile_schedule
from harness.data.schedule import MapConfig, Schedule
from harness.run.execute import Outcome, RunSpec, execute
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.generate import GenConfig, generate

_MASK64 = (1 << 64) - 1


def mix64(*parts: int) -> int:
    """A 64-bit mix of integers (splitmix64 finaliser over a running fold)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 29
    return h


@dataclass(frozen=True, slots=True)
class Input:
    """Input ``index`` of a campaign: the schedule, its compiled plan and how to run it."""

    index: int
    schedule: Schedule
    plan: Plan
    spec: RunSpec


SMALL_RECORDS = 200
"""A schedule with at most this many records (prefill, parallel ops, post-phase
reads) gets every scheduler seed; a bigger one proportionally fewer."""


def seeds_for(plan: Plan, seeds_per_schedule: int) -> int:
    """Scheduler seeds a schedule gets: all for small ones, fewer (at least one) as
    its records grow, so a few big prefills do not eat the campaign's time."""
    records = 2 * len(plan.prefill) + sum(len(t) for t in plan.threads) + len(plan.keys)
    return max(1, min(seeds_per_schedule, seeds_per_schedule * SMALL_RECORDS // max(1, records)))


@dataclass(frozen=True, slots=True)
class RandomEngine:
    seed: int
    base: MapConfig
    gen: GenConfig
    spec: RunSpec
    seeds_per_schedule: int = 8
    events: bool = False
    """The target reports structural events: favour schedules that grow it."""
    seeds_without_growth: int = 2

    def schedule(self, index: int) -> Schedule:
        rng = random.Random(mix64(self.seed, index // self.seeds_per_schedule, 1))
        return generate(rng, self.gen, self.base)

    def run_spec(self, index: int) -> RunSpec:
        return replace(self.spec, seed=mix64(self.seed, index, 2) >> 1, replay=None)

    def inputs(self, variants: Sequence[str], start: int = 0) -> Iterator[Input]:
        """Inputs ``start, start + 1, ...``; a schedule is compiled once for all its seeds."""
        index = start
        cached: tuple[int, Schedule, Plan] | None = None
        while True:
            group = index // self.seeds_per_schedule
            if cached is None or cached[0] != group:
                schedule = self.schedule(index)
                cached = (group, schedule, compile_schedule(schedule, variants))
            yield Input(index, cached[1], cached[2], self.run_spec(index))
            index += 1


    def next_index(self, index: int, outcome: Outcome, plan: Plan) -> int:
        """The input to run after ``index`` (whose outcome is given): the next one,
        or the next schedule's first when this schedule had its share of seeds: a
        big schedule (the oracle's cost grows with its records) gets fewer, down to
        one (``seeds_for``); and on a target that reports structural events, one
        whose last execution ran no growth in its parallel phase stops after
        ``seeds_without_growth``."""
        sps = self.seeds_per_schedule
        ran = index % sps + 1
        share = seeds_for(plan, sps)
        if self.events and ran >= self.seeds_without_growth and \
                not outcome.execution.grows_in_parallel(len(plan.prefill)):
            share = min(share, ran)
        return index + 1 if ran < share else index - index % sps + sps


def walk(engine: RandomEngine, runner: Runner, target: Target) -> Iterator[tuple[Input, Outcome]]:
    """Run the engine's inputs from input 0 in this process, following its feedback
    (``next_index``): each input with its outcome, for as long as the caller draws.
    (The CLI runs inputs in a worker process instead, so a crash cannot take it down.)"""
    items = engine.inputs(target.variants)
    while True:
        item = next(items)
        outcome = execute(runner, target, item.plan, item.spec)
        yield item, outcome
        index = engine.next_index(item.index, outcome, item.plan)
        if index != item.index + 1:
            items = engine.inputs(target.variants, index)


def first_finding(
    engine: RandomEngine, runner: Runner, target: Target, budget: int
) -> tuple[Input, Outcome] | None:
    """Run up to ``budget`` executions (``walk``); the first one with a violation, or None."""
    for item, outcome in itertools.islice(walk(engine, runner, target), budget):
        if outcome.violations:
            return item, outcome
    return None


def growth_share(engine: RandomEngine, runner: Runner, target: Target, execs: int) -> float:
    """The fraction of ``execs`` executions of the engine (``walk``) that ran a growth
    during their parallel phase, as the target's structural events tell (0.0 for a
    target that reports none)."""
    grew = sum(outcome.execution.grows_in_parallel(len(item.plan.prefill))
               for item, outcome in itertools.islice(walk(engine, runner, target), execs))
    return grew / execs if execs else 0.0
