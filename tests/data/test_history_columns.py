"""The columnar form of a history (``History.columns``) and the oracle on it.

* ``build_columns`` (from ``ops``) gives exactly the producer's columns
  (``harness.data.synth``), and refuses what has no faithful int64 form.
* The oracle's verdict is the same in every field whether the bulk path reads the
  producer's columns, columns built from ``ops``, or the plain per-key path runs,
  including histories where many ⊥ reads are ambiguous (few keys, many threads).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.data.history import (
    KIND_CODE,
    NULL,
    OP_KINDS,
    STATUS_CODE,
    STATUSES,
    History,
    Operation,
    ValueInfo,
    build_columns,
)
from harness.data.synth import synthetic_history
from harness.oracle import vector
from harness.oracle.checker import check_with


def _three(h: History) -> str:
    plain = check_with(h, vector=False)
    bulk = check_with(h, vector=True)
    assert bulk == plain, (bulk, plain)
    cols, h.columns = h.columns, None
    built = check_with(h, vector=True)
    h.columns = cols
    assert built == plain, (built, plain)
    return plain.status


@pytest.mark.parametrize("args", [
    dict(ops=0, keys=3, threads=2, seed=1),
    dict(ops=1, keys=1, threads=1, seed=1, pending=1),
    dict(ops=50, keys=4, threads=3, seed=2, pending=1, sequential=30),
    dict(ops=3000, keys=10, threads=16, seed=5, pending=2, sequential=20),
])
def test_build_columns_matches_the_producer(args: dict[str, int]) -> None:
    h = synthetic_history(**args)
    assert h.columns is not None
    built = build_columns(h)
    assert built is not None and built.equals(h.columns)
    assert len(built) == len(h.ops)
    for i, op in enumerate(h.ops):
        assert built.kind[i] == KIND_CODE[op.kind]
        assert built.status[i] == STATUS_CODE[op.status]
        assert built.ret[i] == (NULL if op.ret is None else op.ret)
        assert built.out[i] == (NULL if op.out is None else op.out)


def test_build_columns_codes_and_refusals() -> None:
    h = History(keys=["a"], key_known=[True], values=[ValueInfo(0, 0, "v")])
    h.ops = [Operation(0, "put", 0, 1, 2, "inserted", arg=0),
             Operation(1, "frob", None, 3, None, "weird")]
    c = build_columns(h)
    assert c is not None
    assert c.kind.tolist() == [KIND_CODE["put"], len(OP_KINDS)]
    assert c.status.tolist() == [STATUS_CODE["inserted"], len(STATUSES)]
    assert c.key.tolist() == [0, NULL] and c.ret.tolist() == [2, NULL]
    assert c.value_key.tolist() == [0] and c.value_writer.tolist() == [0]
    for bad in (1.5, True, NULL, 1 << 70):
        h.ops[0].call = bad  # type: ignore[assignment]
        assert build_columns(h) is None
    h.ops[0].call = 1
    h.ops[0].out = NULL
    assert build_columns(h) is None


def test_stale_or_foreign_columns_are_not_trusted() -> None:
    h = synthetic_history(ops=5000, keys=20, threads=8, seed=3)
    h.ops.append(Operation(0, "get", 0, 10**6, 10**6 + 1, "absent"))
    assert vector.split(h, 100_000) is None  # length no longer matches: plain path


def test_three_ways_agree_with_ambiguous_absent_reads() -> None:
    rng = random.Random(4242)
    statuses: dict[str, int] = {}
    placed = 0
    orig = vector._place_ambiguous

    def spy(ai: np.ndarray, *a: object) -> object:  # type: ignore[type-arg]
        nonlocal placed
        placed += len(ai)
        return orig(ai, *a)  # type: ignore[arg-type]

    vector._place_ambiguous = spy  # type: ignore[assignment]
    try:
        for i in range(30):
            h = synthetic_history(ops=rng.choice((4000, 8000)), keys=rng.choice((1, 2, 5, 30)),
                                  threads=rng.choice((16, 32, 64)), seed=1000 + i,
                                  pending=rng.choice((0, 2)), sequential=rng.choice((0, 20)))
            st = _three(h)
            statuses[st] = statuses.get(st, 0) + 1
    finally:
        vector._place_ambiguous = orig
    assert placed > 50, placed  # the search replay was exercised
    assert statuses == {"ok": 30}, statuses


def test_big_history_clears_every_key_in_bulk() -> None:
    h = synthetic_history(ops=60_000, keys=100, threads=64, seed=9)
    res = vector.split(h, 100_000)
    assert res is not None
    plain_ops, nkeys, _ = res
    assert nkeys == 100 and plain_ops == []
    _three(h)
