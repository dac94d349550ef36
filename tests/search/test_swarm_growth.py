"""The default workload grows maps it knows nothing about (swarm shapes).

tests/fixtures/growmap.c first grows after GROW_AT inserts whatever the capacity
hint, then at 2x, 4x ... that, and reports its growths as structural events. The
default random engine (no workload flags) must grow it during the parallel phase
in a share of its executions, for thresholds from 8 to 1,000 inserts. The growths
are counted from the map's own structural events (``Execution.grows_in_parallel``),
not from the generator's aim. Controlled mode is deterministic, so the shares are
exact for this seed; the floors sit below the values measured over these 200
executions (8: 0.92, 50: 0.555, 130: 0.30, 300: 0.17, 600: 0.16, 1000: 0.155;
before the calibrated aim: 0.86, 0.17, 0.02, 0.035, 0.02, 0.015).

Without a calibration (a target that reports no structural events) the swarm
aims at a load factor times a power of two; on growmap that is no better than the
log-scale totals (0.035 at 300 and at 384 = 0.75 * 512, 0.02 at 896 = 7/8 * 1024).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import growth_share
from tests.fixtures.runner_support import ROOT, build_so

GROWMAP_C = ROOT / "tests" / "fixtures" / "growmap.c"
EXECS = 200


def _growmap(tmp: Path, grow_at: int) -> Target:
    return Target.load(str(build_so(GROWMAP_C, tmp / f"growmap{grow_at}.so",
                                    f"GROW_AT={grow_at}")))


@pytest.mark.parametrize(("grow_at", "floor"), [
    (8, 0.75), (50, 0.4), (130, 0.2), (300, 0.12), (600, 0.12), (1000, 0.1)])
def test_default_workload_grows_the_map_in_the_parallel_phase(
        tmp_path: Path, grow_at: int, floor: float) -> None:
    target = _growmap(tmp_path, grow_at)
    engine = make_engine(CampaignConfig(seed=0), target)
    assert engine.gen.growths[0] == grow_at + 1  # calibrated, not told
    with Runner(target) as runner:
        share = growth_share(engine, runner, target, EXECS)
    assert share >= floor, f"growth at {grow_at} inserts: only {share:.1%} of executions grew"


def test_the_calibration_is_what_grows_a_map_of_300(tmp_path: Path) -> None:
    """The same engine with its calibration dropped (a target that reports no
    structural events) aims at modelled thresholds, which miss 300 + 1."""
    target = _growmap(tmp_path, 300)
    engine = make_engine(CampaignConfig(seed=0), target)
    blind = replace(engine, gen=replace(engine.gen, growths=()))
    with Runner(target) as runner:
        aimed = growth_share(engine, runner, target, EXECS)
        modelled = growth_share(blind, runner, target, EXECS)
    assert aimed >= 3 * modelled, (aimed, modelled)


def test_old_fixed_workload_never_grows_a_map_of_100(tmp_path: Path) -> None:
    """The reason for swarm shapes: the old fixed shape (3 threads x 16 ops over 8
    keys, prefill aimed at evacmap's threshold) cannot reach 100 inserts."""
    target = _growmap(tmp_path, 100)
    engine = make_engine(CampaignConfig(seed=0), target)
    fixed = replace(engine, gen=replace(engine.gen, swarm=False))
    assert (fixed.gen.threads, fixed.gen.ops_per_thread, fixed.gen.keys) == (3, 16, 8)
    with Runner(target) as runner:
        assert growth_share(fixed, runner, target, 100) == 0.0
