"""Bulk clearance (harness/oracle/vector.py) never changes a verdict.

The same history is checked with and without the numpy bulk step; the verdicts must be
equal in every field (status, findings with their witnesses and sentences, unknown
keys, and the counts in ``stats``). Histories: the brute-force test's small random
ones (linearizable and mutated), and medium/large multi-key synthetic ones with
random mutations.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from test_oracle_bruteforce import SEED, build

from harness.data.history import TORN, History
from harness.data.synth import synthetic_history
from harness.oracle import check, checker, partition, vector
from harness.oracle.checker import VECTOR_MIN_OPS, check_with

N_SMALL = int(os.environ.get("MAPFUZZ_VECTOR_SMALL_N", "20000"))
N_LARGE = int(os.environ.get("MAPFUZZ_VECTOR_LARGE_N", "300"))


def _same(h: History) -> str:
    """Bulk path and plain path: the same verdict in every field."""
    a = check_with(h, vector=True)
    b = check_with(h, vector=False)
    assert a == b, (a, b)
    return a.status


def _mutate(rng: random.Random, h: History, n: int) -> None:
    ops = h.ops
    nvals = len(h.values)
    for _ in range(n):
        op = ops[rng.randrange(len(ops))]
        r = rng.randrange(9)
        if r == 0 and op.kind == "get":
            if op.status == "found":
                op.status, op.out = "absent", None
            elif nvals:
                op.status, op.out = "found", rng.randrange(nvals)
        elif r == 1 and op.ret is not None:
            d = rng.randint(-30, 30)
            if rng.random() < 0.5:
                op.call = min(op.call + d, op.ret)
            else:
                op.ret = max(op.ret + d, op.call)
        elif r == 2 and op.kind in ("put", "delete") and op.out is not None and nvals:
            op.out = rng.randrange(nvals)
        elif r == 3 and op.kind == "delete":
            if op.status == "removed":
                op.status, op.out = "absent", None
        elif r == 4 and op.kind == "put" and op.status == "replaced":
            op.status, op.out = "inserted", None
        elif r == 5 and op.kind != "get":
            op.ret = None
        elif r == 6 and op.kind == "get" and op.status == "found":
            op.out = TORN if rng.random() < 0.3 else op.out
        elif r == 7 and op.kind == "put" and op.out is not None:
            op.out = None  # old value not reported: the exact search
        elif r == 8 and op.ret is not None:
            op.call, op.ret = op.call + 5, op.ret + 5


def test_vector_agrees_on_small_random_histories() -> None:
    rng = random.Random(SEED + 7)
    statuses: dict[str, int] = {}
    for i in range(N_SMALL):
        h = build(rng, i % 2 == 1)
        st = _same(h)
        statuses[st] = statuses.get(st, 0) + 1
    assert statuses.get("violation", 0) > N_SMALL // 5, statuses
    assert statuses.get("ok", 0) > N_SMALL // 3, statuses


def test_vector_agrees_on_medium_and_large_histories() -> None:
    rng = random.Random(SEED + 11)
    statuses: dict[str, int] = {}
    for i in range(N_LARGE):
        ops = rng.choice((200, 1000, 3000, 10_000))
        keys = rng.choice((1, 3, 10, 50, 200))
        threads = rng.choice((2, 4, 8, 16, 64))
        h = synthetic_history(ops=ops, keys=keys, threads=threads, seed=i,
                              pending=rng.choice((0, 0, 2)),
                              sequential=rng.choice((0, 20)))
        if i % 2:
            _mutate(rng, h, rng.choice((1, 1, 2, 5, 20)))
        st = _same(h)
        statuses[st] = statuses.get(st, 0) + 1
    assert statuses.get("violation", 0) > N_LARGE // 8, statuses
    assert statuses.get("ok", 0) > N_LARGE // 4, statuses


def test_big_history_takes_the_bulk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """check() splits a big history in bulk and clears most of its keys there (what
    the plain path then sees: only the leftovers); a small one never splits."""
    splits: list[vector.Split | None] = []
    leftovers: list[list[int] | None] = []
    real_split, real_events = vector.split, checker.events_by_key

    def spy_split(h: History, budget: int) -> vector.Split | None:
        splits.append(real_split(h, budget))
        return splits[-1]

    def spy_events(h: History, only: list[int] | None = None, cols: Any = None) -> Any:
        leftovers.append(only)
        return real_events(h, only, cols)

    monkeypatch.setattr(vector, "split", spy_split)
    monkeypatch.setattr(partition, "split", spy_split)  # check() splits through it
    monkeypatch.setattr(checker, "events_by_key", spy_events)
    h = synthetic_history(ops=VECTOR_MIN_OPS * 5, keys=100, threads=16, seed=5, pending=2)
    v = check(h)
    assert v.status == "ok", v
    assert len(splits) == 1 and splits[0] is not None  # the bulk path ran and split
    cleared = splits[0]
    assert cleared.keys == 100 and v.stats["keys"] == 100
    assert len(cleared.plain_ops) < len(h.ops) // 10  # most keys cleared in bulk
    assert leftovers == [cleared.plain_ops]  # the plain path saw only the leftovers
    assert v == check_with(h, vector=False)
    assert len(splits) == 1  # (the plain path alone does not split)

    small = synthetic_history(ops=VECTOR_MIN_OPS // 2, keys=10, threads=4, seed=5)
    check(small)
    assert len(splits) == 1 and leftovers[-1] is None
