"""Oracle performance on synthetic linearizable histories (file parsing excluded).

Histories come from a simulated atomic map: each thread runs operations back to back
with random durations; each takes effect at a random point inside its interval, in
point order, on a dict. Mix: 45% get, 30% put, 15% delete, 10% put_if_absent; a few
operations at the end never return (half of them took effect).

    python bench/oracle_bench.py            # all cases, medians of several runs
    python bench/oracle_bench.py big        # one case: big | key32 | key64 | small
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.history import History, Operation, ValueInfo
from harness.oracle import check


def make_history(n_ops: int, n_keys: int, n_threads: int, seed: int, *,
                 sequential: int = 0, pending: int = 2) -> History:
    rng = random.Random(seed)
    per_thread = max(1, n_ops // n_threads)
    raw: list[tuple[int, int, int, int]] = []  # (point, thread, call, ret)
    t0 = sequential * 10 + 10
    for t in range(n_threads):
        c = t0 + rng.randrange(50)
        for _ in range(per_thread):
            c += rng.randrange(1, 20)
            dur = rng.randrange(1, 200)
            point = c + rng.randrange(dur + 1)
            raw.append((point * n_threads + t, t, c, c + dur))
            c += dur
    raw.sort()
    h = History(keys=[f"int:{k}" for k in range(n_keys)], key_known=[True] * n_keys)
    state: dict[int, int] = {}
    seq = [0] * (n_threads + 1)
    last_of_thread = {}
    for i, (_, t, _, _) in enumerate(raw):
        last_of_thread[t] = i
    pend = set(rng.sample(sorted(last_of_thread.values()), min(pending, n_threads)))

    def one(t: int, call: int, ret: int | None, effect: bool = True) -> None:
        k = rng.randrange(n_keys)
        r = rng.random()
        cur = state.get(k)
        i = len(h.ops)
        if r < 0.45:
            h.ops.append(Operation(t, "get", k, call, ret, "found" if cur is not None
                                   else "absent", None, cur))
            return
        if r < 0.85 and r >= 0.70:
            h.ops.append(Operation(t, "delete", k, call, ret,
                                   "removed" if cur is not None else "absent", None, cur))
            if effect:
                state.pop(k, None)
            return
        v = len(h.values)
        seq[t] += 1
        h.values.append(ValueInfo(i, k, f"t{t}#{seq[t]}"))
        if r < 0.70:
            h.ops.append(Operation(t, "put", k, call, ret,
                                   "replaced" if cur is not None else "inserted", v, cur))
            if effect:
                state[k] = v
        else:
            if cur is None:
                h.ops.append(Operation(t, "put_if_absent", k, call, ret, "inserted", v, None))
                if effect:
                    state[k] = v
            else:
                h.ops.append(Operation(t, "put_if_absent", k, call, ret, "present", v, cur))

    for j in range(sequential // 2):
        one(-1, 1 + 2 * j, 2 + 2 * j)
    for i, (_, t, call, ret) in enumerate(raw):
        if i in pend:
            one(t, call, None, rng.random() < 0.5)
        else:
            one(t, call, ret)
    end = max(r[3] for r in raw) + 10
    h.quiescent_from = len(h.ops)
    for j in range(sequential - sequential // 2):
        k = j % n_keys
        cur = state.get(k)
        h.ops.append(Operation(-1, "get", k, end + j, end + j,
                               "found" if cur is not None else "absent", None, cur))
    return h


def bench(name: str, h: History, runs: int) -> float:
    times = []
    v = None
    for _ in range(runs):
        t = time.perf_counter()
        v = check(h)
        times.append(time.perf_counter() - t)
    assert v is not None
    med = statistics.median(times)
    unit = (f"{med * 1e3:.3f} ms") if med < 1 else f"{med:.3f} s"
    print(f"{name:<44} median {unit:>12}  (runs {runs}, status {v.status}, "
          f"keys {v.stats['keys']}, unknown {len(v.unknown_keys)}, "
          f"dfs steps {v.stats['dfs_steps']}, fallback keys {v.stats['fallback_keys']})")
    if v.status != "ok":
        print("   !!", v.violations[:2], v.unknown_keys[:5])
    return med


def main() -> None:
    which = sys.argv[1:] or ["small", "key32", "key64", "big"]
    if "small" in which:
        hs = [make_history(48, 4, 3, s, sequential=30, pending=0) for s in range(200)]
        times = []
        for h in hs:
            check(h)
        for _ in range(5):
            t = time.perf_counter()
            for h in hs:
                check(h)
            times.append((time.perf_counter() - t) / len(hs))
        print(f"{'small: 3 threads x 16 ops + 30 sequential':<44} median "
              f"{statistics.median(times) * 1e3:.3f} ms per history (200 histories x 5)")
    if "key32" in which:
        bench("one key, 2,000 ops, 32 threads", make_history(2000, 1, 32, 1, pending=0), 9)
    if "key64" in which:
        bench("one key, 2,000 ops, 64 threads", make_history(2000, 1, 64, 2, pending=0), 9)
    if "big" in which:
        t = time.perf_counter()
        h = make_history(1_000_000, 1000, 64, 3)
        print(f"(generated 1,000,000 ops in {time.perf_counter() - t:.1f} s)")
        bench("1,000,000 ops, 1,000 keys, 64 threads", h, 3)


if __name__ == "__main__":
    main()
