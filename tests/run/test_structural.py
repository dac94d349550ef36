"""Structural events (MF_CAP_EVENTS): recorded where the target reported them.

evacmap reports a growth's begin and end. A capacity hint of 8 gives it one group
whose growth starts at the 8th distinct insert (growth_threshold(8) == 7 entries
fit), so the tests below know which operation grows the map.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.data.plan import OP_GET, OP_PUT
from harness.run.binding import lib
from harness.run.runner import THREAD_SEQ, Runner
from harness.run.target import Target
from harness.search.generate import growth_threshold
from tests.fixtures.runner_support import PlanBuilder, key


@pytest.fixture(scope="module")
def runner() -> Runner:
    with Runner(Target.load("evacmap"), max_threads=4) as r:
        yield r  # type: ignore[misc]


def test_evacmap_declares_events() -> None:
    assert Target.load("evacmap").caps & lib.MF_CAP_EVENTS


@pytest.mark.parametrize("seed", range(6))
def test_growth_in_parallel_phase_lies_inside_the_growing_put(runner: Runner, seed: int) -> None:
    limit = growth_threshold(8)
    b = PlanBuilder([key(i) for i in range(40)])
    prefill = [b.op(OP_PUT, i) for i in range(limit)]
    t0 = [b.op(OP_GET, 0), b.op(OP_PUT, 30), b.op(OP_GET, 1)]   # op 1 grows the map
    t1 = [b.op(OP_GET, 2), b.op(OP_GET, 3), b.op(OP_GET, 30)]
    plan = b.plan(prefill, [t0, t1])
    plan = replace(plan, capacity=8)
    ex = runner.run(plan, seed=seed)
    assert ex.status == "ok"
    kinds = [e.kind for e in ex.structural]
    assert kinds[:2] == ["grow-begin", "grow-end"] or kinds[:1] == ["grow-begin"]
    begin = ex.structural[0]
    assert (begin.thread, begin.op) == (0, 1)
    assert begin.arg == 16                         # two groups of 8 slots
    put = next(r for r in ex.records if r.thread == 0 and r.op == 1)
    assert put.call < begin.clock <= put.ret       # inside the growing put
    # the clock agrees with the schedule's event log: an op whose return event comes
    # before the growth's step returned before it (ret < clock), an op whose call
    # event comes after it was called after it (call >= clock)
    pos = {(e.thread, e.op, e.kind): i for i, e in enumerate(ex.events)}
    for r in ex.records:
        if r.thread == THREAD_SEQ:
            continue
        if pos[(r.thread, r.op, 3)] < begin.step:
            assert r.ret is not None and r.ret < begin.clock
        if pos[(r.thread, r.op, 2)] >= begin.step:
            assert r.call >= begin.clock
    # in the schedule's event log it sits inside thread 0's op 1, after its call
    assert begin.step is not None and 0 < begin.step < len(ex.events)
    mine = [e for e in ex.events[:begin.step] if e.thread == 0]
    assert (mine[-1].op, mine[-1].kind) in ((1, 0), (1, 2))   # a point or the call of op 1
    assert any((e.op, e.kind) == (1, 2) for e in mine)
    assert not any((e.op, e.kind) == (1, 3) for e in mine)      # not yet returned
    assert ex.grows_in_parallel(len(prefill))
    for e in ex.structural[1:]:
        assert e.step is not None and e.step >= begin.step


def test_growth_in_prefill_is_sequential_and_precedes_the_phase(runner: Runner) -> None:
    limit = growth_threshold(8)
    b = PlanBuilder([key(i) for i in range(40)])
    prefill = [b.op(OP_PUT, i) for i in range(limit + 9)]   # grows once, fully evacuated
    plan = b.plan(prefill, [[b.op(OP_GET, 0)], [b.op(OP_GET, 1)]])
    plan = replace(plan, capacity=8)
    ex = runner.run(plan, seed=1)
    begin = ex.structural[0]
    assert (begin.kind, begin.thread, begin.step) == ("grow-begin", THREAD_SEQ, None)
    grower = ex.records[limit]                      # the prefill's 8th put
    assert grower.call < begin.clock <= grower.ret
    assert any(e.kind == "grow-end" and e.thread == THREAD_SEQ for e in ex.structural)
    assert not ex.grows_in_parallel(len(prefill))


def test_no_growth_no_events(runner: Runner) -> None:
    b = PlanBuilder([key(i) for i in range(4)])
    plan = b.plan([b.op(OP_PUT, 0)], [[b.op(OP_GET, 0)], [b.op(OP_PUT, 1)]])
    ex = runner.run(plan, seed=3)
    assert ex.structural == ()
    assert not ex.grows_in_parallel(1)
