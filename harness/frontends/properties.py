"""The check every front end shares, and the hypothesis property built on it.

``check_schedule(schedule, seed)`` runs one schedule in controlled mode with the
given scheduler seed on a cached runner, judges it, and returns the outcome. It is
deterministic: the same schedule and seed give the same decisions and verdict, so
a failing example replays and shrinks (no FlakyFailure).

``NoFindingProperty`` is the property "this target yields no finding": schedules
from ``harness.strategies.contended_schedules`` and the scheduler seed are both
drawn by hypothesis. ``prop.test`` is the hypothesis test; call it to run it, or
feed bytes to ``prop.test.hypothesis.fuzz_one_input`` (how atheris runs it: see
``fuzz/hypothesis_evacmap.py``). A failure raises ``FindingError``; the last
failing call (after shrinking: the shrunk example) is kept in ``prop.last_failure``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import target as hypothesis_target

from harness.data.schedule import Schedule
from harness.frontends.check import (
    FindingError,
    check_or_raise,
    check_schedule,
    fit_to_target,
    interleaving_features,
    runner_for,
)
from harness.run.execute import Outcome, allowed_kinds
from harness.search.strategies import contended_schedules, scheduler_seeds

__all__ = [
    "CI_SETTINGS",
    "FindingError",
    "NoFindingProperty",
    "allowed_kinds",
    "check_or_raise",
    "check_schedule",
    "fit_to_target",
    "runner_for",
]

CI_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
"""Deadline off (an execution's time depends on the machine, never on the input),
no example database (the reproducer file is what a failure leaves behind)."""

settings.register_profile("mapfuzz-ci", CI_SETTINGS)


@dataclass
class NoFindingProperty:
    """The property "``target_spec`` (with ``variant``) yields no finding".

    Build it, then call ``prop.test()`` (hypothesis runs and shrinks) or feed bytes
    to ``prop.test.hypothesis.fuzz_one_input``. ``calls`` counts executions,
    ``first_failure_call`` is the call that first failed, ``last_failure`` the last
    failing FindingError (the shrunk example once ``test()`` has raised).
    """

    target_spec: str = "evacmap"
    variant: str | None = None
    max_examples: int = 100
    max_threads: int = 4
    max_ops: int = 12
    pct_depth: int = 3
    settings: settings | None = None
    calls: int = 0
    first_failure_call: int | None = None
    first_failure_at: float | None = None
    """``time.perf_counter()`` at the first failing call."""
    last_failure: FindingError | None = None
    test: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        target, _ = runner_for(self.target_spec)
        target.variant_index(self.variant)  # ValueError naming the variants
        name = target.spec
        strategy = contended_schedules(
            name,
            self.variant,
            max_threads=self.max_threads,
            max_ops=self.max_ops,
            kinds=allowed_kinds(target),
        )

        @given(schedule=strategy, seed=scheduler_seeds())
        def no_finding(schedule: Schedule, seed: int) -> None:
            self.run_one(schedule, seed)

        base = self.settings if self.settings is not None else CI_SETTINGS
        self.test = settings(base, max_examples=self.max_examples)(no_finding)

    def run_one(self, schedule: Schedule, seed: int) -> Outcome:
        self.calls += 1
        try:
            outcome = check_or_raise(
                schedule, seed, target_spec=self.target_spec, pct_depth=self.pct_depth
            )
        except FindingError as exc:
            if self.first_failure_call is None:
                self.first_failure_call = self.calls
                self.first_failure_at = time.perf_counter()
            self.last_failure = exc
            raise
        # Steer generation towards schedules that reach more interleavings.
        hypothesis_target(float(interleaving_features(self.target_spec)), label="interleavings")
        return outcome
