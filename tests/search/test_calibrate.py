"""The calibration probe (harness/search/calibrate.py) and the shapes aimed with it."""

from __future__ import annotations

import random
from pathlib import Path

from harness.data.schedule import MapConfig
from harness.run.target import Target
from harness.search.calibrate import PROBE_INSERTS, calibrate, probe_schedule
from harness.search.generate import GenConfig, generate, growth_threshold
from tests.fixtures.runner_support import ROOT, TINYMAP_C, build_so

GROWMAP_C = ROOT / "tests" / "fixtures" / "growmap.c"


def _growmap(tmp: Path, grow_at: int) -> Target:
    return Target.load(str(build_so(GROWMAP_C, tmp / f"growmap{grow_at}.so",
                                    f"GROW_AT={grow_at}")))


def test_probe_inserts_distinct_keys_in_order() -> None:
    s = probe_schedule(MapConfig("growmap"), capacity=0, inserts=50)
    assert [op.key for op in s.prefill] == list(range(50))
    assert {op.kind for op in s.prefill} == {"put"} and len(set(s.keys)) == 50


def test_probe_reads_each_growth_of_growmap(tmp_path: Path) -> None:
    # growmap grows at the insert that takes it past GROW_AT, then 2x, 4x ...
    for grow_at in (8, 300):
        target = _growmap(tmp_path, grow_at)
        want = tuple(grow_at * 2**j + 1 for j in range(12) if grow_at * 2**j < PROBE_INSERTS)
        assert calibrate(target, MapConfig(target.spec), 0) == want


def test_probe_of_evacmap_agrees_with_its_model() -> None:
    evacmap = Target.load("evacmap")
    got = calibrate(evacmap, MapConfig("evacmap"), 0)
    model = [growth_threshold(8 * 2**k) + 1 for k in range(9)]
    assert list(got) == model, (got, model)


def test_a_target_without_structural_events_has_no_calibration(tmp_path: Path) -> None:
    tinymap = Target.load(str(build_so(TINYMAP_C, tmp_path / "tinymap.so")))
    assert calibrate(tinymap, MapConfig(tinymap.spec), 0) == ()


def test_aimed_shapes_stop_the_prefill_just_under_a_calibrated_growth() -> None:
    growths = (301, 601, 1201)
    cfg = GenConfig(swarm=True, growths=growths, growths_capacity=0)
    schedules = [generate(random.Random(s), cfg) for s in range(300)]
    aimed = [s for s in schedules
             if any(t - 1 - 16 <= len(s.prefill) <= t - 1 for t in growths)]
    # AIMED_SHARE (0.45) of the swarm share (0.6); the rest rarely lands there
    assert 0.2 <= len(aimed) / len(schedules) <= 0.4
    assert all(s.config.capacity == 0 for s in aimed)
    for s in aimed:
        t = min(t for t in growths if len(s.prefill) < t)
        # keys the threads put that the prefill did not: enough to cross t
        new = {op.key for th in s.threads for op in th if op.kind in ("put", "put_if_absent")}
        new -= {op.key for op in s.prefill}
        assert len(new) >= t - len(s.prefill), (t, len(s.prefill), len(new))
