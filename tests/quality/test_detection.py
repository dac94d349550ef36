"""Quality: the fuzzer finds every seeded evacmap bug, and nothing on the correct map.

Controlled mode is deterministic, so "found within N executions for seed S" is an
exact statement: the same inputs, interleavings and verdicts on every machine.
If a change to the map, the scheduler, the generator or the oracle makes a
variant escape this budget, detection got worse; look before raising a budget.
"""

from __future__ import annotations

import pytest

from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import first_finding

SEED = 2
BUDGET = 3_000
"""Executions allowed per variant (controlled PCT, seed SEED); the slowest variant
(blob-overwrite-in-place) needs about 1,100 today with the swarm workload."""

CORRECT_BUDGET = 6_000
"""Executions of the correct map that must produce no finding at all."""

EXPECTED: dict[str, set[str]] = {
    # torn or poisoned bytes read while a writer or reclamation is mid-way
    "reader-no-seq-validate": {"torn-value"},
    "value-update-skips-seq": {"torn-value"},
    "blob-overwrite-in-place": {"torn-value"},
    "free-blob-at-once": {"torn-value"},
    # a write or read that lands in the wrong table or misses the lock
    "writer-stale-desc-no-recheck": {"invariant", "lost-write", "stale-read"},
    "put-fast-path-skips-lock": {"lost-write", "torn-value", "invariant", "stale-read"},
    "put-if-absent-no-recheck": {"stale-read", "invariant", "lost-write"},
    "evac-mark-before-copy": {"lost-write", "stale-read", "missing-key"},
    # iterate re-checks every item it emits with the same lookup, so the false
    # absent also drops present keys from an iteration (missing-key)
    "reader-absent-no-evac-recheck": {"lost-write", "stale-read", "missing-key"},
    "geometry-split-publish": {"lost-write", "stale-read", "missing-key", "torn-value"},
    "delete-fast-path-skips-lock": {"lost-write", "invariant", "resurrected-delete"},
    "publish-ctrl-before-value": {"resurrected-delete", "torn-value", "phantom-value"},
    # iteration
    "iter-no-snapshot": {"missing-key", "duplicate-key"},
    "iter-skips-evacuated": {"missing-key"},
    "iter-no-home-filter": {"duplicate-key"},
    # count drift
    "delete-absent-decrements": {"invariant", "len-mismatch"},
    # key identity: type twins (int 42, str "42") merged into one key
    "key-identity-ignores-type": {"lost-write", "phantom-value", "stale-read", "missing-key"},
}


@pytest.fixture(scope="module")
def evacmap() -> Target:
    return Target.load("evacmap")


@pytest.fixture(scope="module")
def runner(evacmap: Target) -> Runner:
    with Runner(evacmap) as r:
        yield r  # type: ignore[misc]


def test_every_variant_has_an_expectation(evacmap: Target) -> None:
    assert set(evacmap.variants) == set(EXPECTED)


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_variant_found_within_budget(variant: str, evacmap: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(variant=variant, seed=SEED), evacmap)
    hit = first_finding(engine, runner, evacmap, BUDGET)
    assert hit is not None, f"{variant} escaped {BUDGET} controlled executions (seed {SEED})"
    item, outcome = hit
    classes = {v.cls for v in outcome.violations}
    assert classes & EXPECTED[variant], f"{variant} gave {classes} at input {item.index}"


def test_finding_is_deterministic(evacmap: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(variant="iter-no-home-filter", seed=SEED), evacmap)
    first = first_finding(engine, runner, evacmap, BUDGET)
    again = first_finding(engine, runner, evacmap, BUDGET)
    assert first is not None and again is not None
    assert first[0].index == again[0].index
    assert first[1].execution.trace_hash == again[1].execution.trace_hash
    assert first[1].violations == again[1].violations


@pytest.mark.parametrize("strategy", ["pct", "random"])
def test_correct_map_gives_no_finding(strategy: str, evacmap: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(seed=SEED, strategy=strategy), evacmap)
    budget = CORRECT_BUDGET if strategy == "pct" else CORRECT_BUDGET // 4
    hit = first_finding(engine, runner, evacmap, budget)
    assert hit is None, f"false alarm on the correct map: input {hit[0].index}: {hit[1].violations}"


@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_correct_map_with_a_tiny_first_table_gives_no_finding(
    capacity: int, evacmap: Target, runner: Runner
) -> None:
    """Capacity hints of 1..7 (tmin's tiny tables) grow after one to six entries, so
    nearly every execution runs growths and evacuations while the threads work."""
    engine = make_engine(CampaignConfig(seed=SEED, capacity=capacity), evacmap)
    assert engine.schedule(0).config.capacity == capacity
    hit = first_finding(engine, runner, evacmap, CORRECT_BUDGET // 3)
    assert hit is None, f"false alarm on the correct map: input {hit[0].index}: {hit[1].violations}"
