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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import target as hypothesis_target

from harness.execute import MF_CAP_ITERATE, MF_CAP_PUT_IF_ABSENT, Outcome, RunSpec, execute
from harness.oracle import Violation
from harness.plan import compile_schedule
from harness.reproducer import Reproducer, save
from harness.runner import Runner, Target
from harness.schedule import OP_KINDS, Op, Schedule
from harness.strategies import contended_schedules, scheduler_seeds

_RUNNERS: dict[str, tuple[Target, Runner]] = {}


def runner_for(target_spec: str) -> tuple[Target, Runner]:
    """A Target and a Runner for ``target_spec`` ("evacmap" or a .so path), one per
    process (a runner owns a thread pool: reuse it for every execution)."""
    hit = _RUNNERS.get(target_spec)
    if hit is None:
        target = Target.load(target_spec)
        hit = _RUNNERS[target_spec] = (target, Runner(target))
    return hit


def allowed_kinds(target: Target) -> tuple[str, ...]:
    """Op kinds the target offers (as the random engine: no put_if_absent without
    MF_CAP_PUT_IF_ABSENT, no concurrent iterate without MF_CAP_ITERATE)."""
    kinds = list(OP_KINDS)
    if not target.caps & MF_CAP_PUT_IF_ABSENT:
        kinds.remove("put_if_absent")
    if not target.caps & MF_CAP_ITERATE:
        kinds.remove("iterate")
    return tuple(kinds)


def fit_to_target(schedule: Schedule, target: Target) -> Schedule:
    """The schedule with ops the target does not offer replaced: put_if_absent by put,
    a concurrent iterate by len. (Byte inputs decode to any op kind.)"""
    kinds = allowed_kinds(target)
    if len(kinds) == len(OP_KINDS):
        return schedule

    def fix(op: Op) -> Op:
        if op.kind == "put_if_absent" and "put_if_absent" not in kinds:
            return Op("put", op.key, op.vtype, op.vsize)
        if op.kind == "iterate" and "iterate" not in kinds:
            return Op("len")
        return op

    threads = tuple(tuple(fix(op) for op in ops) for ops in schedule.threads)
    return replace(schedule, threads=threads)


def controlled_spec(seed: int, pct_depth: int = 3, strategy: str = "pct") -> RunSpec:
    return RunSpec(mode="controlled", strategy=strategy, seed=seed, pct_depth=pct_depth)


def check_schedule(
    schedule: Schedule, seed: int, *, target_spec: str = "evacmap", pct_depth: int = 3
) -> Outcome:
    """Run ``schedule`` (its config names the variant) once in controlled PCT mode with
    scheduler ``seed`` on ``target_spec``, and judge it."""
    target, runner = runner_for(target_spec)
    schedule = fit_to_target(schedule, target)
    plan = compile_schedule(schedule, target.variants)
    return execute(runner, target, plan, controlled_spec(seed, pct_depth))


def interleaving_features(target_spec: str = "evacmap") -> int:
    """Interleaving-coverage counters hit by the last run on ``target_spec``'s runner."""
    _, runner = runner_for(target_spec)
    cov = runner.coverage()
    return len(cov) - cov.count(0)


class FindingError(AssertionError):
    """The target produced a finding; carries everything a reproducer needs."""

    def __init__(
        self, target: Target, schedule: Schedule, spec: RunSpec, outcome: Outcome
    ) -> None:
        v = outcome.violations[0]
        where = f" on key {v.key}" if v.key else ""
        super().__init__(f"{v.cls}{where}: {v.explanation}")
        self.target = target
        self.schedule = schedule
        self.spec = spec
        self.outcome = outcome

    @property
    def violations(self) -> tuple[Violation, ...]:
        return self.outcome.violations

    def reproducer(self, found: dict[str, Any]) -> Reproducer:
        return reproducer_of(self.target, self.schedule, self.spec, self.outcome, found)

    def save(self, directory: Path, found: dict[str, Any]) -> Path:
        return save(self.reproducer(found), directory)


def reproducer_of(
    target: Target, schedule: Schedule, spec: RunSpec, outcome: Outcome, found: dict[str, Any]
) -> Reproducer:
    exe = outcome.execution
    controlled = spec.mode == "controlled"
    return Reproducer(
        target_name=target.name,
        target_path=target.path,
        abi_version=target.abi_version,
        spec=spec,
        schedule=schedule,
        trace=exe.trace if controlled else (),
        trace_hash=exe.trace_hash if controlled else None,
        violations=outcome.violations,
        found=found,
    )


def check_or_raise(
    schedule: Schedule, seed: int, *, target_spec: str = "evacmap", pct_depth: int = 3
) -> Outcome:
    """``check_schedule``, raising FindingError when there is a finding."""
    target, _ = runner_for(target_spec)
    schedule = fit_to_target(schedule, target)
    outcome = check_schedule(schedule, seed, target_spec=target_spec, pct_depth=pct_depth)
    if outcome.violations:
        raise FindingError(target, schedule, controlled_spec(seed, pct_depth), outcome)
    return outcome


CI_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
"""Deadline off (an execution's time depends on the machine, never on the input),
no example database (the reproducer file is what a failure leaves behind)."""


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
        name = target.path or target.name
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
