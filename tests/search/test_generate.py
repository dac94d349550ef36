"""Random schedule generator and the standard schedule (harness/search/generate.py)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.plan import compile_schedule
from harness.data.schedule import (
    BYTES_MAX_KEYS,
    BYTES_MAX_PREFILL,
    MAX_KEYS,
    MAX_PREFILL,
    MapConfig,
    Schedule,
    ScheduleError,
    decode_bytes,
    dumps,
    encode_bytes,
    from_json,
    loads,
)
from harness.data.values import Key, encode_key
from harness.search.generate import (
    GenConfig,
    generate,
    growth_threshold,
    initial_groups,
    standard_schedule,
)

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "standard.json"


def test_deterministic_per_seed() -> None:
    cfg = GenConfig(colliding_keys=0.5, capacity=None, min_ops_per_thread=2)
    a = [generate(random.Random(s), cfg) for s in range(20)]
    b = [generate(random.Random(s), cfg) for s in range(20)]
    assert a == b
    assert len({dumps(s) for s in a}) == 20


def test_default_shape() -> None:
    s = generate(random.Random(7), GenConfig())
    assert len(s.threads) == 3 and all(len(t) == 16 for t in s.threads)
    assert s.config.capacity == 8 and s.config.target == "evacmap"


def test_base_config_gives_target_and_variant() -> None:
    s = generate(random.Random(1), GenConfig(hash_seed=99), MapConfig("other", "bug", 5, 5))
    assert (s.config.target, s.config.variant, s.config.hash_seed) == ("other", "bug", 99)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    threads=st.integers(1, 16),
    ops=st.integers(0, 256),
    keys=st.integers(1, 64),
    capacity=st.sampled_from([None, 0, 1, 8, 9, 16, 64, 500, 4096]),
    colliding=st.floats(0, 1),
    fraction=st.floats(0, 2),
)
def test_knobs_respected_and_valid(
    seed: int,
    threads: int,
    ops: int,
    keys: int,
    capacity: int | None,
    colliding: float,
    fraction: float,
) -> None:
    cfg = GenConfig(
        threads=threads,
        ops_per_thread=ops,
        keys=keys,
        capacity=capacity,
        colliding_keys=colliding,
        prefill_fraction=fraction,
    )
    s = generate(random.Random(seed), cfg)
    s.validate()
    assert len(s.threads) == threads
    assert all(len(t) == ops for t in s.threads)
    assert len(s.keys) >= keys
    # threads contend on the first `keys` keys only
    assert all(op.key < keys for t in s.threads for op in t)
    if capacity is not None:
        assert s.config.capacity == capacity
    # the prefill inserts distinct keys, exactly as many as the fraction of the
    # threshold asks, unless the key budget leaves too few filler keys
    pkeys = [op.key for op in s.prefill]
    assert len(pkeys) == len(set(pkeys))
    asked = min(int(fraction * growth_threshold(s.config.capacity)), MAX_PREFILL)
    contended_in_prefill = sum(k < keys for k in pkeys)
    assert len(pkeys) == min(asked, contended_in_prefill + MAX_KEYS - keys)
    assert len(s.keys) == keys + len(pkeys) - contended_in_prefill  # the rest: filler
    # every generated schedule fits the JSON form, and the byte form within its limits
    if len(s.keys) <= BYTES_MAX_KEYS and len(s.prefill) <= BYTES_MAX_PREFILL:
        assert decode_bytes(encode_bytes(s), s.config) == s
    else:
        with pytest.raises(ScheduleError, match="byte form holds at most"):
            encode_bytes(s)
    assert loads(dumps(s)) == s
    assert from_json(json.loads(dumps(s))) == s
    compile_schedule(s, ())


def test_ops_range_and_weights() -> None:
    cfg = GenConfig(
        threads=8,
        ops_per_thread=40,
        min_ops_per_thread=10,
        op_weights={"get": 1, "delete": 1},
        value_types={"bytes": 1},
    )
    s = generate(random.Random(3), cfg)
    assert all(10 <= len(t) <= 40 for t in s.threads)
    assert len({len(t) for t in s.threads}) > 1
    kinds = Counter(op.kind for t in s.threads for op in t)
    assert set(kinds) == {"get", "delete"}
    assert all(op.vtype == "bytes" for op in s.prefill)


def test_value_and_key_type_mix() -> None:
    cfg = GenConfig(
        keys=30,
        key_types={"str": 1},
        type_twins=0.0,
        op_weights={"put": 1},
        value_types={"str": 1, "tuple": 1},
        max_bytes_size=16,
        prefill_fraction=0,
    )
    s = generate(random.Random(4), cfg)
    assert all(isinstance(k, str) for k in s.keys)
    assert s.prefill == ()
    vt = Counter(op.vtype for t in s.threads for op in t)
    assert set(vt) == {"str", "tuple"}
    assert all(9 <= op.vsize <= 15 for t in s.threads for op in t if op.vtype == "str")


def test_type_twins() -> None:
    cfg = GenConfig(keys=40, type_twins=1.0, prefill_fraction=0)
    s = generate(random.Random(5), cfg)
    payloads = Counter(encode_key(k)[1:] for k in s.keys)
    assert max(payloads.values()) >= 2  # the same payload under several types


def test_prefill_near_growth_threshold() -> None:
    assert [initial_groups(c) for c in (0, 1, 8, 9, 16, 17, 64)] == [1, 1, 1, 2, 2, 4, 8]
    assert growth_threshold(8) == 7 and growth_threshold(16) == 14
    assert growth_threshold(0) == 7  # no hint: one full group
    assert [growth_threshold(c) for c in range(1, 8)] == [1, 1, 2, 3, 4, 5, 6]  # tiny tables
    s = generate(random.Random(6), GenConfig(capacity=16, prefill_fraction=0.95))
    distinct = {op.key for op in s.prefill}
    assert len(distinct) == len(s.prefill) == 13  # just under 14
    # the threads can insert keys the prefill did not: growth happens in parallel
    assert any(
        op.kind in ("put", "put_if_absent") and op.key not in distinct
        for t in s.threads
        for op in t
    )


def test_colliding_keys_near_identical() -> None:
    s = generate(random.Random(8), GenConfig(keys=8, colliding_keys=1.0, prefill_fraction=0))
    enc = [encode_key(k) for k in s.keys]
    assert len({len(e) for e in enc}) == 1
    assert len({e[0] for e in enc}) == 1
    differing = {i for i in range(len(enc[0])) if len({e[i] for e in enc}) > 1}
    assert len(differing) == 1


def test_collide_hook() -> None:
    calls: list[tuple[int, int]] = []

    def hook(rng: random.Random, config: MapConfig, n: int) -> list[Key]:
        calls.append((config.hash_seed, n))
        return [f"c{i}" for i in range(n)]

    s = generate(
        random.Random(9), GenConfig(keys=6, colliding_keys=0.5, hash_seed=11, collide=hook)
    )
    assert calls == [(11, 3)]
    assert s.keys[:3] == ("c0", "c1", "c2")


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (GenConfig(threads=0), "threads = 0"),
        (GenConfig(threads=17), "threads = 17"),
        (GenConfig(ops_per_thread=300), "ops_per_thread = 300"),
        (GenConfig(keys=321), "keys = 321"),
        (GenConfig(op_weights={"frob": 1}), "op_weights: unknown frob"),
        (GenConfig(value_types={"int": 0}), "value_types: weights"),
        (GenConfig(max_bytes_size=300), "max_bytes_size = 300"),
        (GenConfig(colliding_keys=2), "colliding_keys = 2"),
    ],
)
def test_bad_knobs(cfg: GenConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(random.Random(0), cfg)


# ---- standard schedule -------------------------------------------------------------


def test_standard_schedule_shape() -> None:
    s = standard_schedule()
    assert len(s.threads) == 3 and all(len(t) == 16 for t in s.threads)
    contended = s.keys[:8]
    assert {type(k) for k in contended} == {int, str, bytes}
    assert all(op.key < 8 for t in s.threads for op in t)
    # the prefill stops one entry short of growth; threads insert new keys
    pkeys = {op.key for op in s.prefill}
    assert len(pkeys) == len(s.prefill) == growth_threshold(s.config.capacity) - 1
    new = {op.key for t in s.threads for op in t if op.kind in ("put", "put_if_absent")} - pkeys
    assert len(new) >= 3
    vtypes = {op.vtype for t in s.threads for op in t if op.vtype}
    assert vtypes == {"int", "float", "str", "bytes", "tuple"}


def test_standard_json_committed() -> None:
    text = CORPUS.read_text()
    assert loads(text) == standard_schedule()
    assert text == dumps(standard_schedule())


def test_standard_round_trips() -> None:
    s: Schedule = standard_schedule()
    assert decode_bytes(encode_bytes(s), s.config) == s


# ---- swarm shapes ------------------------------------------------------------------


def test_swarm_draws_shapes_deterministically_and_keeps_pins() -> None:
    cfg = GenConfig(swarm=True, threads=5, capacity=16, pinned=frozenset({"threads", "capacity"}))
    a = [generate(random.Random(s), cfg) for s in range(60)]
    assert a == [generate(random.Random(s), cfg) for s in range(60)]
    assert all(len(s.threads) == 5 and s.config.capacity == 16 for s in a)
    free = [generate(random.Random(s), GenConfig(swarm=True)) for s in range(300)]
    assert {len(s.threads) for s in free} >= {2, 3, 4}
    assert {s.config.capacity for s in free} & {0} and max(s.config.capacity for s in free) > 64
    prefills = [len(s.prefill) for s in free]
    assert min(prefills) == 0 and max(prefills) > 1000      # log scale up to ~2,000
    assert sum(p > 64 for p in prefills) > 20
    assert len({len(s.keys) for s in free}) > 50


def test_pinned_ops_and_keys_hold_exactly() -> None:
    cfg = GenConfig(swarm=True, ops_per_thread=5, keys=3,
                    pinned=frozenset({"ops_per_thread", "keys"}))
    for seed in range(100):
        s = generate(random.Random(seed), cfg)
        assert all(len(t) == 5 for t in s.threads)
        assert all(op.key < 3 for t in s.threads for op in t)


def test_fresh_keys_are_each_inserted_once_by_some_thread() -> None:
    s = generate(random.Random(3), GenConfig(keys=4, prefill_keys=50, fresh_keys=40))
    fresh = range(len(s.keys) - 40, len(s.keys))
    writes = [op.key for t in s.threads for op in t if op.key in fresh]
    assert sorted(writes) == list(fresh)
    assert not {op.key for op in s.prefill} & set(fresh)


def test_pinning_an_unknown_knob_is_refused() -> None:
    with pytest.raises(ValueError, match="pinned: unknown frob"):
        GenConfig(swarm=True, pinned=frozenset({"frob"})).check()
