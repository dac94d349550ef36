"""Stress finding -> controlled witness of the same class, on the same operations."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer
from harness.search.schedule_search import search_specs
from harness.tools.candidates import LocalRuns, PoolRuns
from harness.tools.witness import find_witness
from tests.fixtures.findings import seeded_finding


def as_stress_finding(variant: str) -> Reproducer:
    """A failing schedule recorded the way a stress campaign records it: no trace."""
    item, outcome = seeded_finding(variant)
    return Reproducer("evacmap", None, 1, RunSpec(mode="stress", seed=9, noise=0.05),
                      item.schedule, (), None, outcome.violations, {"engine": "random"})


def test_search_order_is_fixed_and_mixes_pct_depths_with_random_walks() -> None:
    specs = list(search_specs(8))
    assert [(s.strategy, s.pct_depth, s.seed) for s in specs[:4]] == [
        ("pct", 2, 0), ("pct", 3, 1), ("pct", 4, 2), ("random", 3, 3)]
    assert all(s.mode == "controlled" and s.replay is None for s in specs)
    assert list(search_specs(8)) == specs


@pytest.mark.parametrize("variant", ["reader-no-seq-validate", "evac-mark-before-copy"])
def test_witness_found_replays_the_same_class(variant: str, local: LocalRuns) -> None:
    r = as_stress_finding(variant)
    res = find_witness(r, local, budget=1000)
    w = res.reproducer
    assert w is not None and res.same_key
    assert w.spec.mode == "controlled" and w.trace and w.schedule == r.schedule
    assert w.main_class == r.main_class
    replay = local.attempts(w.schedule, [w.replay_spec()])[0]
    assert any(v.cls == r.main_class for v in replay.violations)
    assert replay.outcome is not None
    assert replay.outcome.execution.trace_hash == w.trace_hash
    again = find_witness(r, local, budget=1000)
    assert again.attempts == res.attempts and again.reproducer == w


def test_witness_search_on_two_workers_finds_the_same_witness(local: LocalRuns) -> None:
    r = as_stress_finding("evac-mark-before-copy")
    pool = PoolRuns("evacmap", 2)
    try:
        two = find_witness(r, pool, budget=1000)
        # the pool hands back the attempts of one call in spec order
        specs = list(search_specs(7))
        got = pool.attempts(r.schedule, specs)
        want = local.attempts(r.schedule, specs)
        assert [a.violations for a in got] == [a.violations for a in want]
    finally:
        pool.close()
    one = find_witness(r, local, budget=1000)
    assert two.attempts == one.attempts and two.reproducer == one.reproducer


def test_no_witness_within_the_budget(local: LocalRuns) -> None:
    r = as_stress_finding("iter-no-home-filter")
    # the correct map never shows the class: the search spends its budget and says so
    clean = replace(r, schedule=replace(r.schedule, config=replace(r.schedule.config,
                                                                   variant=None)),
                    violations=(Violation("duplicate-key", None, (), ""),))
    res = find_witness(clean, local, budget=30)
    assert res.reproducer is None and res.attempts == 30
