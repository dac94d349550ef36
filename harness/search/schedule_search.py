"""Controlled schedule search: the fixed order in which mapfuzz tries interleavings
of one schedule until a run shows what it looks for.

Used for stress -> controlled witnesses (``harness.tools.witness``) and by tmin when a
reduction changes the shape of a run so much that the old decision trace means
nothing (``harness.tools.tmin``'s tiny-table pass). Attempt ``i`` uses scheduler seed
``i``; PCT with depth 2, 3, 4 and the random walk take turns. PCT finds shallow
bugs (few preemptions) quickly; the random walk covers what PCT's priority
discipline makes unlikely. The order depends on nothing but the attempt number,
so a search is as deterministic as the runs it makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from harness.data.schedule import Schedule
from harness.run.execute import RunSpec
from harness.run.worker import Attempt

_PLAN = (("pct", 2), ("pct", 3), ("pct", 4), ("random", 3))
CHUNK = 25
"""Runs handed to the runner at once (one round trip to a worker process)."""


class AttemptRunner(Protocol):
    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]: ...


def search_specs(budget: int) -> Iterator[RunSpec]:
    """The controlled specs tried, in order: attempt i uses scheduler seed i."""
    for i in range(budget):
        strategy, depth = _PLAN[i % len(_PLAN)]
        yield RunSpec(mode="controlled", strategy=strategy, seed=i, pct_depth=depth)


def search(
    runs: AttemptRunner, schedule: Schedule, budget: int
) -> Iterator[tuple[RunSpec, Attempt]]:
    """Every attempt of the search, in order; stop iterating to stop running."""
    specs = list(search_specs(budget))
    for lo in range(0, len(specs), CHUNK):
        chunk = specs[lo : lo + CHUNK]
        yield from zip(chunk, runs.attempts(schedule, chunk), strict=True)


__all__ = ["CHUNK", "AttemptRunner", "search", "search_specs"]
