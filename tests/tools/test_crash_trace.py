"""Crash findings are first-class: a controlled run that kills the target leaves its
decision trace (the C host mirrors each decision into memory shared with the parent),
the trace replays the crash exactly, tmin shrinks it (same signal = same finding) and
the witness search accepts a crash as a controlled witness.

tests/fixtures/crashmap.c dereferences NULL when a delete finds its key absent. With
thread 0 putting key 0 and thread 1 deleting it, only the interleavings where the
delete runs first crash: the decisions, not the schedule alone, decide.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.data.schedule import MapConfig, Op, Schedule
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer
from harness.run.target import Target
from harness.run.worker import Attempt, Worker
from harness.tools.candidates import WorkerRuns, crash_signal
from harness.tools.tmin import minimise
from harness.tools.witness import find_witness
from tests.fixtures.runner_support import ROOT, build_so

SEGV = int(signal.SIGSEGV)


@pytest.fixture(scope="module")
def crashmap(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("crashmap")
    return str(build_so(ROOT / "tests" / "fixtures" / "crashmap.c", d / "crashmap.so"))


def _schedule(path: str) -> Schedule:
    t0 = (Op("get", 1), Op("put", 0, "int"), Op("get", 1), Op("get", 0))
    t1 = (Op("get", 1), Op("delete", 0), Op("get", 1))
    return Schedule(MapConfig(path, None, 1, 8), (1, 2), (Op("put", 1, "int"),),
                    (t0, t1)).validate()


def _crashes(a: Attempt) -> bool:
    return a.outcome is None and any(crash_signal(v) == SEGV for v in a.violations)


def _first_crash(path: str) -> tuple[RunSpec, Attempt, int]:
    s = _schedule(path)
    with Worker(path) as w:
        attempts = w.attempts(s, [RunSpec(seed=i) for i in range(24)])
    crashed = [(i, a) for i, a in enumerate(attempts) if _crashes(a)]
    clean = [a for a in attempts if a.outcome is not None]
    assert crashed and clean, "the schedule must crash under some interleavings only"
    i, a = crashed[0]
    return RunSpec(seed=i), a, len(crashed)


def _reproducer(path: str, spec: RunSpec, a: Attempt) -> Reproducer:
    return Reproducer(Target.load(path).name, path, 1, spec, _schedule(path), a.trace, None,
                      a.violations)


def test_crash_leaves_its_trace_and_replays_exactly(crashmap: str) -> None:
    spec, a, _ = _first_crash(crashmap)
    assert a.trace and a.trace[:2] == (0, a.trace[1])      # whole (step, thread) pairs
    assert len(a.trace) % 2 == 0
    with Worker(crashmap) as w:
        again = w.attempts(_schedule(crashmap), [RunSpec(replay=a.trace)] * 3)
        # the same seed without the trace crashes too (controlled mode is deterministic)
        same = w.attempts(_schedule(crashmap), [spec])
    assert all(_crashes(x) for x in again + same)
    assert {x.trace for x in again} == {a.trace}


def test_tmin_shrinks_a_crash_keeping_its_signal(crashmap: str) -> None:
    spec, a, _ = _first_crash(crashmap)
    r = _reproducer(crashmap, spec, a)
    runs = WorkerRuns(crashmap)
    try:
        res = minimise(r, runs, seconds=60)
    finally:
        runs.close()
    assert res.signature.signal == SEGV
    after = res.reproducer.schedule
    assert after.nops < r.schedule.nops
    assert any(op.kind == "delete" for t in after.threads for op in t)
    with Worker(crashmap) as w:
        replay = w.attempts(after, [res.reproducer.replay_spec()] * 2)
    assert all(_crashes(x) for x in replay)


def test_to_controlled_accepts_a_crash_with_the_same_signal(crashmap: str, tmp_path: Path) -> None:
    stress = Reproducer(Target.load(crashmap).name, crashmap, 1, RunSpec(mode="stress", seed=1),
                        _schedule(crashmap), (), None, (_crash_violation(),))
    runs = WorkerRuns(crashmap)
    try:
        res = find_witness(stress, runs, budget=64)
    finally:
        runs.close()
    assert res.reproducer is not None, "no controlled crash witness"
    w = res.reproducer
    assert w.spec.mode == "controlled" and w.trace and w.main_class == "crash"
    with Worker(crashmap) as worker:
        assert _crashes(worker.attempts(w.schedule, [w.replay_spec()])[0])


def _crash_violation():  # type: ignore[no-untyped-def]
    from harness.oracle import Violation

    return Violation("crash", None, (), f"the target crashed (worker killed by signal {SEGV} "
                     "(SIGSEGV) while running)")
