"""Quality: the fuzzer finds every seeded syncmap bug, and nothing on the correct
syncmap or on rwmap (the false-alarm control), in either mode.

Controlled mode is deterministic: "found within N executions for seed S" is exact.
Stress mode is not; its clean runs are a fixed budget that must give no finding
whatever the interleavings were (a false alarm on a correct map is the worst bug
mapfuzz can have).
"""

from __future__ import annotations

import pytest

from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import first_finding

SEED = 2
BUDGET = 500
"""Executions allowed per variant (controlled PCT, seed SEED); the slowest needs
about 70 today."""

CORRECT_BUDGET = 4_000
STRESS_BUDGET = 600
"""Stress executions of a correct map that must give no finding (about 100/s)."""

EXPECTED: dict[str, set[str]] = {
    # a store lands in an entry no dirty map holds: the next promotion drops it
    "store-ignores-expunged": {"lost-write", "stale-read", "missing-key", "invariant"},
    "dirty-copy-no-expunge": {"lost-write", "stale-read", "missing-key", "invariant"},
    # a stale view of read after waiting for the lock
    "load-or-store-stale-view": {"stale-read", "lost-write", "invariant"},
    "range-promotes-stale-view": {"lost-write", "stale-read", "missing-key", "invariant"},
    "load-miss-no-recheck": {"stale-read", "lost-write", "missing-key"},
    # the dirty map is skipped or raced
    "delete-skips-dirty": {"lost-write", "stale-read", "resurrected-delete"},
    "misses-outside-lock": {"lost-write", "stale-read", "missing-key", "invariant"},
}


@pytest.fixture(scope="module")
def syncmap() -> Target:
    return Target.load("syncmap")


@pytest.fixture(scope="module")
def runner(syncmap: Target) -> Runner:
    with Runner(syncmap) as r:
        yield r  # type: ignore[misc]


def test_every_variant_has_an_expectation(syncmap: Target) -> None:
    assert set(syncmap.variants) == set(EXPECTED)
    assert len(syncmap.variants) >= 6


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_variant_found_within_budget(variant: str, syncmap: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(target="syncmap", variant=variant, seed=SEED), syncmap)
    hit = first_finding(engine, runner, syncmap, BUDGET)
    assert hit is not None, f"{variant} escaped {BUDGET} controlled executions (seed {SEED})"
    item, outcome = hit
    classes = {v.cls for v in outcome.violations}
    assert classes & EXPECTED[variant], f"{variant} gave {classes} at input {item.index}"


@pytest.mark.parametrize("name", ["syncmap", "rwmap"])
@pytest.mark.parametrize(
    ("mode", "strategy", "budget"),
    [
        ("controlled", "pct", CORRECT_BUDGET),
        ("controlled", "random", CORRECT_BUDGET // 4),
        ("stress", "pct", STRESS_BUDGET),
    ],
)
def test_correct_map_gives_no_finding(name: str, mode: str, strategy: str, budget: int) -> None:
    target = Target.load(name)
    cfg = CampaignConfig(target=name, seed=SEED, mode=mode, strategy=strategy)
    with Runner(target) as runner:
        hit = first_finding(make_engine(cfg, target), runner, target, budget)
    assert hit is None, f"false alarm on {name} ({mode}): input {hit[0].index}: {hit[1].violations}"
