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

from oracle_brute import brute_linearizable  # noqa: E402

from harness.history import TORN, History, Operation, ValueInfo  # noqa: E402
from harness.oracle import check  # noqa: E402

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
        elif choice == 1 and op.kind == "put":
            if op.status == "inserted":
                op.status = "replaced"
                op.out = rng.choice(same) if same and rng.random() < 0.8 else None
            else:
                op.status, op.out = "inserted", None
        elif choice == 2 and op.kind == "delete":
            if op.status == "absent":
                op.status = "removed"
                op.out = rng.choice(same) if same and rng.random() < 0.8 else None
            else:
                op.status, op.out = "absent", None
        elif choice == 3 and op.kind == "put_if_absent":
            if op.status == "inserted":
                op.status = "present"
                op.out = rng.choice(same) if same and rng.random() < 0.8 else None
            else:
                op.status, op.out = "inserted", None
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
