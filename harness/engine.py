"""The random engine: input i of a campaign is a pure function of (campaign seed, i).

Determinism is what lets a crashed worker be explained after the fact: the parent
knows which input index the worker had started, regenerates that exact schedule
and scheduler seed, and writes the reproducer. Each generated schedule runs under
``seeds_per_schedule`` scheduler seeds before the next is drawn, which spreads the
cost of generating and compiling a schedule over several executions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from harness.execute import RunSpec
from harness.generate import GenConfig, generate
from harness.schedule import MapConfig, Schedule

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
