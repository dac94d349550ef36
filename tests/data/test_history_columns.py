"""The columnar form of a history (``build_columns``) and the oracle on it.

* ``build_columns`` gives the operations' fields exactly, and refuses what has no
  faithful int64 form.
* The columns are built from ``ops`` at every check: an operation edited after a
  check, or a list of operations swapped for another of the same length, is what
  the next check sees (no columns of the old operations survive to clear a key).
* The oracle's verdict is the same in every field whether the bulk path or the
  plain per-key path runs, including histories where many ⊥ reads are ambiguous
  (few keys, many threads).
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
    TORN,
    History,
    Operation,
    ValueInfo,
    build_columns,
)
from harness.data.synth import synthetic_history
from harness.oracle import check, vector
from harness.oracle.checker import VECTOR_MIN_OPS, check_with


def _both(h: History) -> str:
    plain = check_with(h, vector=False)
    bulk = check_with(h, vector=True)
    assert bulk == plain, (bulk, plain)
    return plain.status


@pytest.mark.parametrize("args", [
    dict(ops=0, keys=3, threads=2, seed=1),
    dict(ops=1, keys=1, threads=1, seed=1, pending=1),
    dict(ops=50, keys=4, threads=3, seed=2, pending=1, sequential=30),
    dict(ops=3000, keys=10, threads=16, seed=5, pending=2, sequential=20),
])
def test_build_columns_gives_the_operations(args: dict[str, int]) -> None:
    h = synthetic_history(**args)
    built = build_columns(h)
    assert built is not None and built.equals(build_columns(h))  # type: ignore[arg-type]
    assert len(built) == len(h.ops)
    for i, op in enumerate(h.ops):
        assert built.thread[i] == op.thread and built.call[i] == op.call
        assert built.kind[i] == KIND_CODE[op.kind]
        assert built.status[i] == STATUS_CODE[op.status]
        for name in ("key", "ret", "arg", "out"):
            x = getattr(op, name)
            assert getattr(built, name)[i] == (NULL if x is None else x), name
    for v, vi in enumerate(h.values):
        assert built.value_key[v] == vi.key and built.value_writer[v] == vi.writer


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


def _torn_found_get(h: History) -> int:
    """Turn the middle found get of h into a torn read (in place); its index."""
    found = [i for i, op in enumerate(h.ops) if op.kind == "get" and op.status == "found"]
    i = found[len(found) // 2]
    h.ops[i].out = TORN
    return i


def test_stale_columns_are_impossible() -> None:
    """An operation edited after a check: the next check builds the columns again and
    reports the torn read on the bulk path as on the plain path."""
    h = synthetic_history(ops=5000, keys=20, threads=8, seed=3)
    assert len(h.ops) >= VECTOR_MIN_OPS
    assert check(h).status == "ok"
    before = build_columns(h)
    i = _torn_found_get(h)
    after = build_columns(h)
    assert before is not None and after is not None and not after.equals(before)
    assert after.out[i] == TORN
    for v in (check(h), check_with(h, vector=True), check_with(h, vector=False)):
        assert v.status == "violation" and v.violations[0].cls == "torn-value", v
        assert v.violations[0].ops == (i,)
    assert not hasattr(h, "columns")  # nothing a producer could leave stale


def test_foreign_operations_of_the_same_length() -> None:
    """The operations of another history of the same length, swapped in after a
    check: checked as themselves."""
    h = synthetic_history(ops=5000, keys=20, threads=8, seed=3)
    other = synthetic_history(ops=5000, keys=20, threads=8, seed=3)
    assert check(h).status == "ok"
    i = _torn_found_get(other)
    h.ops = other.ops
    v = check(h)
    assert v.status == "violation" and v.violations[0].ops == (i,), v
    # the bulk split takes no columns from outside: it builds its own from ops
    res = vector.split(h, 100_000)
    assert res is not None and res.columns.equals(build_columns(h))  # type: ignore[arg-type]
    assert res.columns.out[i] == TORN


def test_both_paths_agree_with_ambiguous_absent_reads() -> None:
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
            st = _both(h)
            statuses[st] = statuses.get(st, 0) + 1
    finally:
        vector._place_ambiguous = orig
    assert placed > 50, placed  # the search replay was exercised
    assert statuses == {"ok": 30}, statuses


def test_big_history_clears_every_key_in_bulk() -> None:
    h = synthetic_history(ops=60_000, keys=100, threads=64, seed=9)
    res = vector.split(h, 100_000)
    assert res is not None
    assert res.keys == 100 and res.plain_ops == []
    _both(h)
