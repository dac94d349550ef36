"""Public hypothesis strategies: harness.strategies (harness/search/strategies.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.schedule import MapConfig, Schedule, decode_bytes, encode_bytes
from harness.search.generate import growth_threshold
from harness.strategies import (
    contended_schedules,
    map_configs,
    ops,
    scheduler_seeds,
    schedules,
)


@given(schedules())
def test_schedules_are_valid_and_round_trip(s: Schedule) -> None:
    s.validate()
    assert decode_bytes(encode_bytes(s), s.config) == s


@given(schedules(config=MapConfig("evacmap", "iter-no-snapshot", 5, 8)))
def test_fixed_config_is_kept(s: Schedule) -> None:
    assert s.config == MapConfig("evacmap", "iter-no-snapshot", 5, 8)


@given(schedules(config=map_configs(targets=["x"], variants=[None])))
def test_config_strategy(s: Schedule) -> None:
    assert s.config.target == "x" and s.config.variant is None


@given(st.data())
def test_ops_respect_kinds(data: st.DataObject) -> None:
    op = data.draw(ops(3, ("get", "len")))
    assert op.kind in ("get", "len")
    assert 0 <= op.key < 3


@settings(max_examples=200)
@given(contended_schedules("evacmap", "torn", kinds=("get", "put", "delete", "len")))
def test_contended_schedules_shape(s: Schedule) -> None:
    s.validate()
    assert s.config.target == "evacmap" and s.config.variant == "torn"
    assert 2 <= len(s.threads) <= 4
    assert all(1 <= len(t) <= 12 for t in s.threads)
    kinds = {op.kind for t in s.threads for op in t}
    assert kinds <= {"get", "put", "delete", "len"}
    # the filler prefill stays below the first growth; up to 3 extra puts on shared keys
    assert len(s.prefill) <= growth_threshold(s.config.capacity) + 3
    assert decode_bytes(encode_bytes(s), s.config) == s


@given(scheduler_seeds())
def test_scheduler_seeds_are_63_bit(seed: int) -> None:
    assert 0 <= seed < 1 << 63
