"""The check every front end shares: run one schedule in controlled mode, judge it.

``check_schedule(schedule, seed)`` runs a schedule once in controlled PCT mode with
the given scheduler seed on a cached per-process runner and returns the judged
outcome; ``check_or_raise`` raises ``FindingError`` on a finding. Deterministic:
the same schedule and seed give the same decisions, trace and verdict, which is
what lets hypothesis shrink and replay, and libFuzzer crash files replay.
No hypothesis or atheris import here: both front ends build on this module.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.data.plan import compile_schedule
from harness.data.schedule import OP_KINDS, Op, Schedule
from harness.oracle import Violation
from harness.run.execute import Outcome, RunSpec, allowed_kinds, execute
from harness.run.reproducer import Reproducer, Saved, save_safely
from harness.run.runner import Runner
from harness.run.target import Target

_RUNNERS: dict[str, tuple[Target, Runner]] = {}


def runner_for(target_spec: str) -> tuple[Target, Runner]:
    """A Target and a Runner for ``target_spec`` ("evacmap" or a .so path), one per
    process (a runner owns a thread pool: reuse it for every execution)."""
    hit = _RUNNERS.get(target_spec)
    if hit is None:
        target = Target.load(target_spec)
        hit = _RUNNERS[target_spec] = (target, Runner(target))
    return hit


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

    def save(self, directory: Path, found: dict[str, Any]) -> Saved:
        """Never loses the finding: see ``save_safely``."""
        return save_safely(self.reproducer(found), directory)


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
