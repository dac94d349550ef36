"""One execution, judged: run a Plan on a Runner, build the History, ask the oracle.

This is the unit every front end shares (the fuzz loop, `run`, `repro`, `explain`,
the minimiser): it turns the execution's own status (hang, target error, failed
invariant check) into findings beside the oracle's verdict, so a caller sees one
list of violations whatever their source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.data.history import History
from harness.data.plan import Plan, to_history
from harness.data.schedule import OP_KINDS
from harness.oracle import Verdict, Violation, check
from harness.run.runner import Execution, Runner
from harness.run.target import Target

MF_CAP_PUT_IF_ABSENT = 2
MF_CAP_ITERATE = 4
MF_CAP_EXACT_LEN = 8
MF_CAP_EVENTS = 16

def allowed_kinds(target: Target) -> tuple[str, ...]:
    """Op kinds a schedule may use on ``target``: no put_if_absent without
    MF_CAP_PUT_IF_ABSENT, no concurrent iterate without MF_CAP_ITERATE."""
    kinds = list(OP_KINDS)
    if not target.caps & MF_CAP_PUT_IF_ABSENT:
        kinds.remove("put_if_absent")
    if not target.caps & MF_CAP_ITERATE:
        kinds.remove("iterate")
    return tuple(kinds)


EXECUTION_CLASSES = {"hang": "hang", "target-error": "target-error", "invariant": "invariant"}
"""Execution statuses that are findings in themselves, and their class."""


class ExecutionSetupError(Exception):
    """The execution could not be judged: a bad plan or a replay that diverged."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """How to run a plan: mode and scheduler settings (everything but the plan)."""

    mode: str = "controlled"
    strategy: str = "pct"
    seed: int = 0
    pct_depth: int = 3
    noise: float = 0.0
    replay: tuple[int, ...] | None = None
    step_bound: int = 0

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "strategy": self.strategy,  # the runner switches to replay when given a trace
            "seed": self.seed,
            "pct_depth": self.pct_depth,
            "noise": self.noise,
            "replay": self.replay,
            "step_bound": self.step_bound,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """An execution and its verdict; ``violations`` merges execution-level findings."""

    execution: Execution
    history: History
    verdict: Verdict
    violations: tuple[Violation, ...]

    @property
    def status(self) -> str:
        if self.violations:
            return "violation"
        return self.verdict.status


def execution_violations(execution: Execution) -> list[Violation]:
    cls = EXECUTION_CLASSES.get(execution.status)
    if cls is None:
        return []
    text = execution.message or f"the execution ended with status {execution.status}"
    if cls == "hang" and not execution.message:
        text = "the step bound ran out: a thread spun or waited forever (livelock or deadlock)"
    return [Violation(cls=cls, key=None, ops=(), explanation=text)]


def judge(plan: Plan, execution: Execution, target: Target, *, budget: int = 100_000) -> Outcome:
    if execution.status in ("bad-plan", "replay-diverged"):
        raise ExecutionSetupError(f"{execution.status}: {execution.message}")
    history = to_history(
        plan,
        execution,
        iterate_concurrent=bool(target.caps & MF_CAP_ITERATE),
        exact_len=bool(target.caps & MF_CAP_EXACT_LEN),
    )
    verdict = check(history, budget=budget)
    violations = tuple(execution_violations(execution)) + verdict.violations
    return Outcome(execution=execution, history=history, verdict=verdict, violations=violations)


def execute(
    runner: Runner, target: Target, plan: Plan, spec: RunSpec, *, events: bool = False,
    trace_mirror: Any = None,
) -> Outcome:
    """Run and judge. ``events`` keeps the per-point event log (for explain); the
    fuzz loop leaves it off because decoding it costs more than the run itself.
    ``trace_mirror``: see Runner.run (a crash-safe copy of the decisions)."""
    execution = runner.run(plan, record_events=events, trace_mirror=trace_mirror,
                           **spec.as_kwargs())
    return judge(plan, execution, target)
