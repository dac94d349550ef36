"""The random engine: input i of a campaign is a pure function of (campaign seed, i).

Determinism is what lets a crashed worker be explained after the fact: the parent
knows which input index the worker had started, regenerates that exact schedule
and scheduler seed, and writes the reproducer. Each generated schedule runs under
``seeds_per_schedule`` scheduler seeds before the next is drawn, which spreads the
cost of generating and compiling a schedule over several executions.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class RandomEngine:
    seed: int
    base: MapConfig
    gen: GenConfig
    spec: RunSpec
    seeds_per_schedule: int = 8

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


def first_finding(
    engine: RandomEngine, runner: Runner, target: Target, budget: int
) -> tuple[Input, Outcome] | None:
    """Run inputs 0..budget-1 in this process; the first one with a violation, or None.
    (The CLI runs inputs in a worker process instead, so a crash cannot take it down.)"""
    for item in engine.inputs(target.variants):
        if item.index >= budget:
            return None
        outcome = execute(runner, target, item.plan, item.spec)
        if outcome.violations:
            return item, outcome
    return None
