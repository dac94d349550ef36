"""A finding as the CI writers and the HTML report read it, from its reproducer.

``finding_record`` turns a reproducer (and, for a controlled one, the outcome of its
replay) into a :class:`~harness.tools.ci_results.FindingRecord`; ``witness_sites``
names the schedule points the witnessing operations passed. ``replay_once`` replays a
reproducer in a worker process, so a target that crashes is an attempt, not our death.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.schedule import Schedule
from harness.run.execute import Outcome, RunSpec
from harness.run.reproducer import Reproducer
from harness.run.trust import replay_command
from harness.run.worker import Attempt, Worker
from harness.tools.candidates import WorkerRuns
from harness.tools.ci_results import FindingRecord
from harness.tools.explain import EV_BLOCKED, EV_POINT, op_index_map


def replay_once(r: Reproducer) -> Attempt:
    """One replay: the recorded decisions (controlled) or the same seed and noise (stress)."""
    with Worker(r.target_spec) as worker:
        return worker.attempts(r.schedule, [r.replay_spec()])[0]


class WorkerPool:
    """One worker process per target, reused across many reproducers (a corpus, a
    report); ``close`` ends them all."""

    def __init__(self) -> None:
        self._runs: dict[str, WorkerRuns] = {}

    def attempts(self, target_spec: str, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        if target_spec not in self._runs:
            self._runs[target_spec] = WorkerRuns(target_spec)
        return self._runs[target_spec].attempts(schedule, specs)

    def close(self) -> None:
        for runs in self._runs.values():
            runs.close()
        self._runs.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def witness_sites(r: Reproducer, outcome: Outcome) -> tuple[str, ...]:
    """Distinct schedule-point sites passed inside the witnessing operations, in the
    order the execution passed them (empty for stress mode, which logs no events)."""
    index = op_index_map(r)
    violations = outcome.violations or r.violations
    witness = {i for v in violations[:1] for i in v.ops}
    sites: dict[str, None] = {}
    for e in outcome.execution.events:
        if e.kind in (EV_POINT, EV_BLOCKED) and index.get((e.thread, e.op)) in witness:
            sites.setdefault(e.site, None)
    return tuple(sites)


def finding_record(
    r: Reproducer,
    path: Path | None,
    *,
    outcome: Outcome | None = None,
    hits: int = 1,
    execs_to_find: int | None = None,
) -> FindingRecord:
    """The record of a reproducer's main violation; ``outcome`` (its replay) gives sites."""
    v = r.violations[0] if r.violations else None
    return FindingRecord(
        cls=r.main_class,
        key=v.key if v else None,
        explanation=v.explanation if v else "no violation recorded",
        replay=replay_command(path, r.target_spec) if path is not None
        else "(no reproducer file)",
        reproducer=path,
        mode=r.spec.mode,
        target=r.target_name,
        target_path=r.target_path,
        variant=r.schedule.config.variant,
        sites=witness_sites(r, outcome) if outcome is not None else (),
        hits=hits,
        execs_to_find=execs_to_find,
    )
