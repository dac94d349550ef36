"""Candidates of the tools that re-run a finding (tmin, the witness search).

A ``Case`` is a schedule with the decision trace to replay it and the role each key
had in the input; a ``Signature`` is what a candidate must show to count as the same
finding (violation class and key role, see harness.tools.tmin); ``Runs`` runs a
schedule under a list of RunSpecs, in this process (``LocalRuns``) or in a worker
process (``WorkerRuns``) where a crash or hang of the target is an attempt, or in
several (``PoolRuns``, --jobs: one call's specs in parallel, same attempts in order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from harness.data.plan import compile_schedule
from harness.data.schedule import Schedule
from harness.data.values import Key, format_key
from harness.oracle import Violation
from harness.run.execute import ExecutionSetupError, RunSpec, execute
from harness.run.runner import Runner
from harness.run.target import Target
from harness.run.worker import Attempt, Worker, WorkerError, key_role
from harness.search.schedule_search import AttemptRunner

# ---- running candidates ------------------------------------------------------------


class Runs(AttemptRunner, Protocol):
    """Runs one schedule under each spec. An attempt with ``outcome is None`` and no
    violations is a run that could not be judged (a replay that diverged)."""

    def close(self) -> None: ...


class LocalRuns:
    """Runs in this process: fastest, but a target crash ends the process."""

    def __init__(self, target_spec: str) -> None:
        self.target = Target.load(target_spec)
        self.runner = Runner(self.target)

    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        plan = compile_schedule(schedule, self.target.variants)
        out = []
        for spec in specs:
            try:
                o = execute(self.runner, self.target, plan, spec, events=True)
            except ExecutionSetupError:
                out.append(Attempt((), None))
                continue
            out.append(Attempt(o.violations, o))
        return out

    def close(self) -> None:
        self.runner.close()


class WorkerRuns:
    """Runs in a worker process (harness.run.worker): a crash or hang is an attempt."""

    def __init__(self, target_spec: str) -> None:
        self.worker = Worker(target_spec)

    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        out = []
        for spec in specs:
            try:
                out.extend(self.worker.attempts(schedule, [spec]))
            except WorkerError as exc:
                if "ExecutionSetupError" not in str(exc):
                    raise
                out.append(Attempt((), None))
        return out

    def close(self) -> None:
        self.worker.close()


class PoolRuns:
    """Runs in ``jobs`` worker processes: the specs of one call are cut into ``jobs``
    contiguous parts that run at once, and the attempts come back in spec order, so a
    search over them (tmin, the witness search) decides exactly as with one worker."""

    def __init__(self, target_spec: str, jobs: int) -> None:
        self.pool = [WorkerRuns(target_spec) for _ in range(max(1, jobs))]

    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        n = min(len(self.pool), len(specs))
        if n <= 1:
            return self.pool[0].attempts(schedule, specs)
        cut = [len(specs) * i // n for i in range(n + 1)]
        parts = [specs[cut[i]:cut[i + 1]] for i in range(n)]
        with ThreadPoolExecutor(n) as ex:  # each thread waits on its own worker process
            done = list(ex.map(lambda rp: rp[0].attempts(schedule, rp[1]),
                               zip(self.pool, parts, strict=False)))
        return [a for part in done for a in part]

    def close(self) -> None:
        for runs in self.pool:
            runs.close()


# ---- cases and signatures ----------------------------------------------------------


EventKey = tuple[int, int, int]
"""(thread, op index in its list, event kind) of one schedule point."""


@dataclass(frozen=True)
class Case:
    """What the shrinker shrinks. Identity (hash, equality) is schedule, trace and
    origin; ``events`` and ``preemptions`` describe the run that produced the case."""

    schedule: Schedule
    trace: tuple[int, ...]
    origin: tuple[int, ...]
    """origin[i]: the index key i had in the input schedule (its role)."""
    events: tuple[EventKey, ...] = field(default=(), compare=False)
    preemptions: int = field(default=0, compare=False)
    violations: tuple[Violation, ...] = field(default=(), compare=False)
    search: bool = False
    """Controlled: when replaying ``trace`` does not fail the same way, search for an
    interleaving that does (harness.search.schedule_search; a reduction that reshaped the
    run, see tiny_table)."""


_SIGNAL = re.compile(r"signal (\d+)")


def crash_signal(v: Violation) -> int | None:
    """The signal number a ``crash`` finding names (None for other classes, or an
    exit without a signal)."""
    m = _SIGNAL.search(v.explanation) if v.cls == "crash" else None
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Signature:
    """A violation class and the role of its key (None: a whole-map finding); for a
    crash, the signal that killed the target (the same signal = the same crash)."""

    cls: str
    role: int | None
    signal: int | None = None

    def describe(self, keys: Sequence[Key]) -> str:
        if self.signal is not None:
            return f"{self.cls} (signal {self.signal})"
        if self.role is None:
            return self.cls
        return f"{self.cls} on keys[{self.role}] ({format_key(keys[self.role])})"

    def matches(self, violations: Sequence[Violation], case: Case) -> bool:
        for v in violations:
            if v.cls != self.cls:
                continue
            if self.signal is not None and crash_signal(v) != self.signal:
                continue
            if self.role is None:
                return True
            if v.key is None:
                continue
            for i, k in enumerate(case.schedule.keys):
                if case.origin[i] == self.role and format_key(k) == v.key:
                    return True
        return False


def lead_with(sig: Signature, case: Case) -> tuple[Violation, ...]:
    """The case's violations, the first one matching the signature moved to the front
    (a reproducer's class is its first violation's)."""
    vs = case.violations
    for i, v in enumerate(vs):
        if sig.matches((v,), case):
            return (v, *vs[:i], *vs[i + 1 :])
    return vs


def signature_of(violation: Violation, schedule: Schedule) -> Signature:
    if violation.key is None:
        return Signature(violation.cls, None, crash_signal(violation))
    return Signature(violation.cls, key_role(violation.key, schedule))
