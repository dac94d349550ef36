"""Synthetic linearizable histories, for benchmarking and testing the oracle.

An atomic map is simulated: every operation gets an interval around a
linearization point, threads run their operations one after another, and the
results are those of applying the operations in linearization-point order. So
every history made here is linearizable by construction; a checker that reports
a violation on one has a false alarm.
"""

from __future__ import annotations

import random

import numpy as np

from harness.data.history import History, Operation, ValueInfo

KIND_WEIGHTS = (("get", 45), ("put", 30), ("delete", 15), ("put_if_absent", 10))


def synthetic_history(
    *, ops: int, keys: int, threads: int, seed: int = 0, pending: int = 0,
    sequential: int = 0,
) -> History:
    """``ops`` operations by ``threads`` threads over ``keys`` keys; ``pending`` of
    the threads leave their last write unreturned (it took effect or not, at random).

    ``sequential`` adds that many operations by the main thread (``thread`` -1), not
    counted in ``ops``: half before the threads start (random kinds), half after they
    end (gets of keys 0, 1, ..., from ``quiescent_from`` on), as in an execution's
    prefill and post phases."""
    rng = random.Random(seed)
    kinds = [k for k, _ in KIND_WEIGHTS]
    weights = [w for _, w in KIND_WEIGHTS]
    clock = [0.0] * threads
    raw: list[tuple[float, float, float, int, str, int]] = []  # lin, call, ret, thread, kind, key
    before = sequential // 2
    for j in range(before):
        call = -2.0 * (before - j)
        raw.append((call + 0.5, call, call + 1.0, -1, rng.choices(kinds, weights)[0],
                    rng.randrange(keys)))
    for n in range(ops):
        t = n % threads
        call = clock[t] + rng.random()
        lin = call + rng.random() * threads * 0.5
        ret = lin + rng.random() * threads * 0.5
        clock[t] = ret
        raw.append((lin, call, ret, t, rng.choices(kinds, weights)[0], rng.randrange(keys)))
    end = max((r[2] for r in raw), default=0.0) + 1.0
    nconc = len(raw)
    for j in range(sequential - before):
        call = end + 2.0 * j
        raw.append((call + 0.5, call, call + 1.0, -1, "get", j % keys))
    n = len(raw)
    times = np.array([r[:3] for r in raw], dtype=np.float64).reshape(n, 3)
    stamps = np.unique(times)
    ranks = np.searchsorted(stamps, times).astype(np.int64)
    calls = ranks[:, 1]
    rets = ranks[:, 2]
    history = History(keys=[f"k{k}" for k in range(keys)], key_known=[True] * keys)
    state: dict[int, int] = {}
    last_of_thread = {r[3]: i for i, r in enumerate(raw) if r[3] >= 0}
    pending_threads = set(range(min(pending, threads)))
    order = sorted(range(n), key=lambda i: raw[i][0])
    results: list[Operation | None] = [None] * n
    calls_l = calls.tolist()
    rets_l = rets.tolist()
    for i in order:
        _, _, _, t, kind, key = raw[i]
        is_pending = t in pending_threads and last_of_thread[t] == i and kind != "get"
        cur = state.get(key)
        op = Operation(thread=t, kind=kind, key=key, call=calls_l[i],
                       ret=None if is_pending else rets_l[i], status="")
        takes_effect = not is_pending or rng.random() < 0.5
        if kind == "get":
            op.status, op.out = ("found", cur) if cur is not None else ("absent", None)
        elif kind in ("put", "put_if_absent"):
            vid = len(history.values)
            who = "main" if t < 0 else f"t{t}"
            history.values.append(ValueInfo(writer=i, key=key, label=f"{who}#{i}"))
            op.arg = vid
            if kind == "put":
                op.status, op.out = ("replaced", cur) if cur is not None else ("inserted", None)
                if takes_effect:
                    state[key] = vid
            elif cur is None:
                op.status = "inserted"
                if takes_effect:
                    state[key] = vid
            else:
                op.status, op.out = "present", cur
        else:
            if cur is None:
                op.status = "absent"
            else:
                op.status, op.out = "removed", cur
                if takes_effect:
                    del state[key]
        results[i] = op
    history.ops = results  # type: ignore[assignment]  # every entry set above
    if sequential - before:
        history.quiescent_from = nconc
    return history
