"""The `mapfuzz cc` proof on a real header-only library: the shipped libcuckoo adapter
(csrc/adapters/cuckoo.cpp) built with -DMF_NO_HAND_POINTS has no hand-placed
schedule point left; the compiler's instrumentation alone must let controlled mode
find every seeded misuse, and the correct adapter must stay clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.run.cc import build
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import first_finding

ADAPTER = Path(__file__).resolve().parents[2] / "csrc" / "adapters" / "cuckoo.cpp"
SEED = 0
BUDGET = 600
"""Executions allowed per variant; measured: 11 to 328 over seeds 0..2."""
CORRECT_BUDGET = 1_000

EXPECTED = {
    "find-copy-unlocked": {"phantom-value", "torn-value"},
    "iterate-unlocked-snapshot": {"phantom-value", "torn-value"},
    "check-then-insert": {"lost-write", "stale-read", "duplicate-key"},
}

pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or not Path("/usr/include/libcuckoo/cuckoohash_map.hh").exists(),
    reason="needs g++ and libcuckoo-dev (apt-get install -y libcuckoo-dev)",
)


@pytest.fixture(scope="module")
def cuckoo_cc(tmp_path_factory: pytest.TempPathFactory) -> Target:
    so = build([ADAPTER], tmp_path_factory.mktemp("cuckoo") / "cuckoo_cc.so",
               ["-std=c++11", "-DMF_NO_HAND_POINTS", "-Wall", "-Wextra", "-Werror"])
    return Target.load(str(so))


@pytest.fixture(scope="module")
def runner(cuckoo_cc: Target) -> Runner:
    with Runner(cuckoo_cc) as r:
        yield r  # type: ignore[misc]


def test_no_hand_placed_point_is_left(cuckoo_cc: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(target=cuckoo_cc.spec, seed=SEED), cuckoo_cc)
    item = next(iter(engine.inputs(cuckoo_cc.variants)))
    e = runner.run(item.plan, seed=SEED)
    sites = {ev.site for ev in e.events if ev.kind in (0, 1)}
    assert sites and not any(s.startswith("cuckoo:") for s in sites)   # the hand-placed names
    assert any("cuckoohash_map.hh:" in s or "cuckoo.cpp:" in s for s in sites)


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_misuse_found_without_hand_placed_points(
    variant: str, cuckoo_cc: Target, runner: Runner
) -> None:
    engine = make_engine(CampaignConfig(target=cuckoo_cc.spec, variant=variant, seed=SEED),
                         cuckoo_cc)
    hit = first_finding(engine, runner, cuckoo_cc, BUDGET)
    assert hit is not None, f"{variant} escaped {BUDGET} controlled executions (seed {SEED})"
    classes = {v.cls for v in hit[1].violations}
    assert classes & EXPECTED[variant], classes


def test_correct_adapter_stays_clean(cuckoo_cc: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(target=cuckoo_cc.spec, seed=SEED), cuckoo_cc)
    hit = first_finding(engine, runner, cuckoo_cc, CORRECT_BUDGET)
    assert hit is None, f"false alarm: input {hit[0].index}: {hit[1].violations}"
