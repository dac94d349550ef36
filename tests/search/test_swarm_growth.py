"""The default workload grows maps it knows nothing about (swarm shapes).

tests/fixtures/growmap.c first grows after GROW_AT inserts whatever the capacity
hint, and reports its growths as structural events. The default random engine
(no workload flags) must grow it during the parallel phase in a share of its
executions, for thresholds from 8 to 1,000 inserts. Controlled mode is
deterministic, so the shares are exact for this seed; the floors sit below the
measured values over these 200 executions (8: 0.855, 30: 0.34, 100: 0.045,
1000: 0.01). Big prefills cost the oracle time in
proportion to their keys, so they are the rare kind of schedule.
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


@pytest.mark.parametrize(("grow_at", "floor"), [(8, 0.5), (30, 0.2), (100, 0.03), (1000, 0.005)])
def test_default_workload_grows_the_map_in_the_parallel_phase(
        tmp_path: Path, grow_at: int, floor: float) -> None:
    target = _growmap(tmp_path, grow_at)
    with Runner(target) as runner:
        share = growth_share(make_engine(CampaignConfig(seed=0), target), runner, target, EXECS)
    assert share >= floor, f"growth at {grow_at} inserts: only {share:.1%} of executions grew"


def test_old_fixed_workload_never_grows_a_map_of_100(tmp_path: Path) -> None:
    """The reason for swarm shapes: the old fixed shape (3 threads x 16 ops over 8
    keys, prefill aimed at evacmap's threshold) cannot reach 100 inserts."""
    target = _growmap(tmp_path, 100)
    engine = make_engine(CampaignConfig(seed=0), target)
    fixed = replace(engine, gen=replace(engine.gen, swarm=False))
    assert (fixed.gen.threads, fixed.gen.ops_per_thread, fixed.gen.keys) == (3, 16, 8)
    with Runner(target) as runner:
        assert growth_share(fixed, runner, target, 100) == 0.0
