"""The oracle agrees with brute force on 100,000 random small histories.

Half come from a simulated atomic map (linearizable by construction: each operation
takes effect at a point inside its interval), half are such histories with one or two
mutations (a result, a status, an old value, a timestamp changed; an op made pending;
a never-written or other key's value read), so both answers are common. Agreement:
oracle "violation" <=> brute force "not linearizable"; "unknown" is counted and must
stay (near) zero at this size.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(__file__))

from oracle_brute import brute_linearizable

from harness.data.history import TORN, History, Operation, ValueInfo
from harness.oracle import check

N_HISTORIES = int(os.environ.get("MAPFUZZ_BRUTE_N", "100000"))
SEED = 20240611


@dataclass
class _Op:
    thread: int
    kind: str
    key: int
    call: int
    ret: int | None
    status: str = ""
    arg: int | None = None
    out: int | None = None


def _simulate(rng: random.Random) -> tuple[list[_Op], int, dict[int, int], bool]:
    """A linearizable history: returns ops, number of keys, value -> key, dup flag."""
    nkeys = 1 if rng.random() < 0.6 else 2
    nthreads = rng.choice((2, 3, 3))
    n = rng.randint(2, 10)
    seq = [rng.randrange(nthreads) for _ in range(n)]  # linearization order by thread
    dup = rng.random() < 0.05
    vkey: dict[int, int] = {}
    written: list[int] = []
    state: dict[int, int] = {}
    ops: list[_Op] = []
    gap = rng.choice((1, 2, 3))
    spread = rng.choice((1, 3, 6))
    last_ret = [-10**6] * nthreads
    # point of op i is i*gap; per thread intervals must not overlap
    per_thread_next: dict[int, list[int]] = {t: [] for t in range(nthreads)}
    for i, t in enumerate(seq):
        per_thread_next[t].append(i)
    full = rng.random() < 0.5  # every old value reported, nothing pending: the fast path
    report = 1.0 if full else 0.85
    pending_thread = set() if full else {t for t in range(nthreads) if rng.random() < 0.3}
    for i, t in enumerate(seq):
        p = i * gap
        k = rng.randrange(nkeys)
        kind = rng.choices(("get", "put", "delete", "put_if_absent"), (35, 30, 17, 18))[0]
        mine = per_thread_next[t]
        pos = mine.index(i)
        is_last = pos == len(mine) - 1
        nxt_p = mine[pos + 1] * gap if not is_last else None
        call = rng.randint(max(last_ret[t] + 1, p - spread), p)
        hi = p + spread if nxt_p is None else min(p + spread, nxt_p - 1)
        ret: int | None = rng.randint(p, max(p, hi))
        pending = is_last and t in pending_thread
        effect = not pending or rng.random() < 0.5
        cur = state.get(k)
        op = _Op(t, kind, k, call, None if pending else ret)
        if kind in ("put", "put_if_absent"):
            if dup and written and rng.random() < 0.3:
                v = rng.choice([w for w in written if vkey[w] == k] or [len(vkey)])
            else:
                v = len(vkey)
            vkey[v] = k
            written.append(v)
            op.arg = v
        if kind == "get":
            op.status, op.out = ("found", cur) if cur is not None else ("absent", None)
        elif kind == "put":
            if cur is None:
                op.status = "inserted"
            else:
                op.status = "replaced"
                op.out = cur if rng.random() < report else None
            if effect:
                state[k] = op.arg  # type: ignore[assignment]
        elif kind == "put_if_absent":
            if cur is None:
                op.status = "inserted"
                if effect:
                    state[k] = op.arg  # type: ignore[assignment]
            else:
                op.status = "present"
                op.out = cur if rng.random() < report else None
        else:
            if cur is None:
                op.status = "absent"
            else:
                op.status = "removed"
                op.out = cur if rng.random() < report else None
                if effect:
                    del state[k]
        if pending:
            op.status, op.out = "", None
        last_ret[t] = ret if ret is not None else last_ret[t]
        ops.append(op)
    return ops, nkeys, vkey, dup


_FLIPS = {
    1: ("put", "inserted", "replaced"),
    2: ("delete", "absent", "removed"),
    3: ("put_if_absent", "inserted", "present"),
}
"""Mutation choice -> (kind, the status that reports no old value, the other one): a
mutation swaps the two, drawing an old value for the second."""


def _mutate(rng: random.Random, ops: list[_Op], nkeys: int, vkey: dict[int, int]) -> None:
    todo = rng.choice((1, 1, 2))
    tries = 0
    while todo and tries < 30:
        tries += 1
        op = rng.choice(ops)
        before = (op.call, op.ret, op.status, op.out)
        same = [v for v, k in vkey.items() if k == op.key]
        choice = rng.randrange(7)
        if op.ret is None:
            choice = 5
        if choice == 0 and op.kind == "get":
            r = rng.random()
            if r < 0.45 and same:
                op.status, op.out = "found", rng.choice(same)
            elif r < 0.7:
                op.status, op.out = "absent", None
            else:
                nv = len(vkey) + 1000  # never written: resolved later
                op.status, op.out = "found", nv
        elif choice in _FLIPS and op.kind == _FLIPS[choice][0]:
            _, plain, other = _FLIPS[choice]
            if op.status == plain:
                op.status = other
                op.out = rng.choice(same) if same and rng.random() < 0.8 else None
            else:
                op.status, op.out = plain, None
        elif choice == 4 and op.ret is not None:
            d = rng.randint(-4, 4)
            if rng.random() < 0.5:
                op.call = min(op.call + d, op.ret)
            else:
                op.ret = max(op.ret + d, op.call)
        elif choice == 5:
            if op.ret is None:
                op.ret = op.call + rng.randint(0, 4)
                op.status = {"get": "absent", "put": "inserted", "delete": "absent",
                             "put_if_absent": "inserted"}[op.kind]
            else:
                op.ret, op.status, op.out = None, "", None
        elif choice == 6 and op.kind in ("put", "delete") and op.out is not None and same:
            op.out = rng.choice(same)
        elif op.kind == "get" and nkeys > 1 and op.status == "found":
            others = [v for v, k in vkey.items() if k != op.key]
            if others:
                op.out = rng.choice(others)
        if (op.call, op.ret, op.status, op.out) != before:
            todo -= 1


def build(rng: random.Random, mutate: bool) -> History:
    ops, nkeys, vkey, dup = _simulate(rng)
    if mutate:
        _mutate(rng, ops, nkeys, vkey)
    ops.sort(key=lambda o: (o.call, o.thread))
    h = History(keys=[f"k{i}" for i in range(nkeys)], key_known=[True] * nkeys,
                unique_writes=not dup)
    ids: dict[int, int] = {}

    def vid(v: int | None, key: int) -> int | None:
        if v is None:
            return None
        if v not in ids:
            ids[v] = len(h.values)
            h.values.append(ValueInfo(None, vkey.get(v, key), f"v{v}"))
        return ids[v]

    for i, o in enumerate(ops):
        arg = vid(o.arg, o.key)
        if arg is not None and h.values[arg].writer is None:
            h.values[arg].writer = i
        status = o.status if o.ret is not None else "pending"
        h.ops.append(Operation(o.thread, o.kind, o.key, o.call, o.ret, status, arg, None))
    for i, o in enumerate(ops):
        h.ops[i].out = vid(o.out, o.key)
    return h


def run(n: int, seed: int = SEED) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {"histories": 0, "linearizable": 0, "violations": 0, "disagree": 0,
              "unknown": 0, "torn": 0}
    bad: list[int] = []
    for i in range(n):
        mutate = i % 2 == 1
        h = build(rng, mutate)
        torn = False
        if mutate and rng.random() < 0.03:
            gets = [o for o in h.ops if o.kind == "get" and o.status == "found"]
            if gets:
                rng.choice(gets).out = TORN
                torn = True
        v = check(h)
        counts["histories"] += 1
        if torn:
            counts["torn"] += 1
            if v.status != "violation" or v.violations[0].cls != "torn-value":
                counts["disagree"] += 1
                bad.append(i)
            continue
        lin = brute_linearizable(h)
        counts["linearizable"] += lin
        if v.status == "unknown":
            counts["unknown"] += 1
        elif (v.status == "violation") == lin:
            counts["disagree"] += 1
            bad.append(i)
        counts["violations"] += v.status == "violation"
    counts["first_bad"] = bad[0] if bad else -1
    return counts


def replay(index: int, seed: int = SEED) -> History:
    """The index-th history of ``run`` (for debugging a disagreement)."""
    rng = random.Random(seed)
    h = None
    for i in range(index + 1):
        h = build(rng, i % 2 == 1)
        if i % 2 == 1 and rng.random() < 0.03:
            gets = [o for o in h.ops if o.kind == "get" and o.status == "found"]
            if gets:
                rng.choice(gets).out = TORN
    assert h is not None
    return h


def test_agrees_with_brute_force() -> None:
    t0 = time.perf_counter()
    c = run(N_HISTORIES)
    print(c, f"{time.perf_counter() - t0:.1f}s")
    assert c["disagree"] == 0, c
    assert c["unknown"] <= c["histories"] // 10_000, c
    assert c["violations"] > c["histories"] // 5
    assert c["linearizable"] > c["histories"] // 3


if __name__ == "__main__":
    t0 = time.perf_counter()
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000),
          f"{time.perf_counter() - t0:.1f}s")


def _medium(rng: random.Random) -> History:
    """One key, 3-8 threads, 20-60 operations, every old value reported."""
    while True:
        ops, _, vkey, dup = _simulate_medium(rng)
        if not dup:
            break
    if rng.random() < 0.5:
        _mutate(rng, ops, 1, vkey)
    ops = [o for o in ops if o.ret is not None]
    ops.sort(key=lambda o: (o.call, o.thread))
    h = History(keys=["k0"], key_known=[True], unique_writes=True)
    ids: dict[int, int] = {}
    for i, o in enumerate(ops):
        if o.arg is not None:
            ids[o.arg] = len(h.values)
            h.values.append(ValueInfo(i, 0, f"v{o.arg}"))
    for o in ops:
        for v in (o.out,):
            if v is not None and v not in ids:
                ids[v] = len(h.values)
                h.values.append(ValueInfo(None, 0, f"v{v}"))
    for o in ops:
        h.ops.append(Operation(o.thread, o.kind, 0, o.call, o.ret, o.status,
                               ids.get(o.arg) if o.arg is not None else None,
                               ids.get(o.out) if o.out is not None else None))
    return h


def _simulate_medium(rng: random.Random) -> tuple[list[_Op], int, dict[int, int], bool]:
    saved = rng.getstate()
    rng.setstate(saved)
    sub = random.Random(rng.random())
    # reuse the small simulator with more ops by concatenating runs on one key
    ops: list[_Op] = []
    vkey: dict[int, int] = {}
    state: dict[int, int] = {}
    nthreads = sub.randint(3, 8)
    n = sub.randint(20, 60)
    spread = sub.choice((2, 5, 12))
    last_ret = [-10**6] * nthreads
    seq = [sub.randrange(nthreads) for _ in range(n)]
    nxt: dict[int, list[int]] = {t: [] for t in range(nthreads)}
    for i, t in enumerate(seq):
        nxt[t].append(i)
    for i, t in enumerate(seq):
        p = i * 2
        mine = nxt[t]
        pos = mine.index(i)
        np_ = mine[pos + 1] * 2 if pos + 1 < len(mine) else None
        call = sub.randint(max(last_ret[t] + 1, p - spread), p)
        hi = p + spread if np_ is None else min(p + spread, np_ - 1)
        ret = sub.randint(p, max(p, hi))
        last_ret[t] = ret
        kind = sub.choices(("get", "put", "delete", "put_if_absent"), (40, 30, 18, 12))[0]
        cur = state.get(0)
        op = _Op(t, kind, 0, call, ret)
        if kind in ("put", "put_if_absent"):
            op.arg = len(vkey)
            vkey[op.arg] = 0
        if kind == "get":
            op.status, op.out = ("found", cur) if cur is not None else ("absent", None)
        elif kind == "put":
            op.status, op.out = ("replaced", cur) if cur is not None else ("inserted", None)
            state[0] = op.arg  # type: ignore[assignment]
        elif kind == "put_if_absent":
            if cur is None:
                op.status = "inserted"
                state[0] = op.arg  # type: ignore[assignment]
            else:
                op.status, op.out = "present", cur
        elif cur is None:
            op.status = "absent"
        else:
            op.status, op.out = "removed", cur
            del state[0]
        ops.append(op)
    return ops, 1, vkey, False


def run_medium(n: int, seed: int = SEED) -> dict[str, int]:
    """Fast path (zones + ⊥ search) against the exact search on medium histories."""
    from harness.oracle.checker import _check_key, events_by_key
    from harness.oracle.fallback import exact_check

    rng = random.Random(seed + 1)
    c = {"histories": 0, "disagree": 0, "unknown_fast": 0, "unknown_exact": 0,
         "violations": 0}
    for _ in range(n):
        h = _medium(rng)
        per_key, bad, _, _, _ = events_by_key(h)
        if bad or not per_key:
            continue
        evs = per_key[0]
        st, _, _, used_fallback = _check_key(evs, 100_000, h, None)
        if used_fallback:
            continue
        ex, _ = exact_check(evs, 200_000)
        c["histories"] += 1
        if ex is None:
            c["unknown_exact"] += 1
            continue
        if st == "unknown":
            c["unknown_fast"] += 1
        elif (st == "ok") != ex:
            c["disagree"] += 1
        c["violations"] += not ex
    return c


def test_fast_path_agrees_with_exact_search_on_medium_histories() -> None:
    c = run_medium(int(os.environ.get("MAPFUZZ_MEDIUM_N", "3000")))
    print(c)
    assert c["disagree"] == 0, c
    assert c["unknown_fast"] == 0, c
    assert c["violations"] > c["histories"] // 10
