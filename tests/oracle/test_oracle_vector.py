"""Bulk clearance (harness/oracle/vector.py) never changes a verdict.

The same history is checked with and without the numpy bulk step; the verdicts must be
equal in every field (status, findings with their witnesses and sentences, unknown
keys, and the counts in ``stats``). Histories: the brute-force test's small random
ones (linearizable and mutated), and medium/large multi-key synthetic ones with
random mutations. Unmutated synthetic histories carry the producer's columns: there
the bulk path is also run on columns built from ``ops``.
"""

from __future__ import annotations

import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))

from test_oracle_bruteforce import SEED, build

from harness.data.history import TORN, History
from harness.data.synth import synthetic_history
from harness.oracle import check
from harness.oracle.checker import VECTOR_MIN_OPS, check_with

N_SMALL = int(os.environ.get("MAPFUZZ_VECTOR_SMALL_N", "20000"))
N_LARGE = int(os.environ.get("MAPFUZZ_VECTOR_LARGE_N", "300"))


def _same(h: History) -> str:
    """Bulk path on the producer's columns (if any), bulk path on columns built from
    ``ops``, plain path: all three verdicts equal."""
    a = check_with(h, vector=True)
    b = check_with(h, vector=False)
    assert a == b, (a, b)
    if h.columns is not None:
        cols, h.columns = h.columns, None
        try:
            c = check_with(h, vector=True)
        finally:
            h.columns = cols
        assert c == b, (c, b)
    return a.status


def _mutate(rng: random.Random, h: History, n: int) -> None:
    h.columns = None  # the producer's columns describe the unmutated operations
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


def test_big_history_takes_the_bulk_path() -> None:
    h = synthetic_history(ops=VECTOR_MIN_OPS * 5, keys=100, threads=16, seed=5, pending=2)
    v = check(h)
    assert v.status == "ok", v
    assert v == check_with(h, vector=False)
