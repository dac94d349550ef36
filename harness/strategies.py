"""Hypothesis strategies for mapfuzz schedules (public API).

``schedules()``, ``contended_schedules()``, ``keys()``, ``type_twins()``, ``ops()``,
``map_configs()`` and ``scheduler_seeds()``; documented in harness.search.strategies,
where they live with the other schedule generators.
"""

from harness.search.strategies import (
    contended_schedules,
    keys,
    map_configs,
    ops,
    scheduler_seeds,
    schedules,
    type_twins,
)

__all__ = [
    "contended_schedules",
    "keys",
    "map_configs",
    "ops",
    "scheduler_seeds",
    "schedules",
    "type_twins",
]
