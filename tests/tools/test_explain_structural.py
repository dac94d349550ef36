"""explain shows the structural events a target reported on the timeline."""

from __future__ import annotations

from rich.console import Console

from harness.data.plan import compile_schedule
from harness.data.schedule import MapConfig, Op, Schedule
from harness.oracle import Violation
from harness.run.execute import RunSpec, execute
from harness.run.reproducer import Reproducer
from harness.run.runner import Runner
from harness.run.target import Target
from harness.tools.explain import render


def test_growth_shows_in_the_growing_threads_column() -> None:
    # capacity 8: evacmap grows at the 8th distinct key; thread 1's put of key 9 grows it
    keys = tuple(range(12))
    prefill = tuple(Op("put", k, "int") for k in range(7))
    threads = ((Op("get", 0), Op("get", 1)), (Op("put", 9, "int"), Op("get", 9)))
    s = Schedule(MapConfig("evacmap", None, 3, 8), keys, prefill, threads).validate()
    t = Target.load("evacmap")
    with Runner(t) as runner:
        o = execute(runner, t, compile_schedule(s, t.variants), RunSpec(seed=1), events=True)
    begin = next(e for e in o.execution.structural if e.kind == "grow-begin")
    assert begin.thread == 1
    r = Reproducer("evacmap", None, 1, RunSpec(seed=1), s, o.execution.trace, None,
                   (Violation("lost-write", "9", (), "stand-in finding to anchor the window"),))
    console = Console(width=200, record=True)
    console.print(render(r, o, context=400))
    text = console.export_text()
    line = next(ln for ln in text.splitlines() if "grow-begin" in ln)
    # in thread 1's column (the table's third column), not thread 0's
    cols = [c.strip() for c in line.split("│")]
    assert "grow-begin (16)" in cols[3] and not cols[2], line
