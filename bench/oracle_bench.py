"""Oracle performance on synthetic linearizable histories (file parsing excluded).

Histories come from ``harness.data.synth.synthetic_history``: a simulated atomic map, each
thread running operations back to back, each taking effect at a random point inside
its interval. Mix: 45% get, 30% put, 15% delete, 10% put_if_absent; in the big case
two threads leave their last write unreturned (half of them took effect).

Each case is timed with ``check`` (the default: big histories clear keys in bulk
with numpy first) and with the plain per-key path alone, side by side, on the same
history; both must give the same verdict.

    python bench/oracle_bench.py            # all cases, medians of several runs
    python bench/oracle_bench.py big        # one case: big | key32 | key64 | small
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.data.history import History
from harness.data.synth import synthetic_history
from harness.oracle import Verdict, check
from harness.oracle.checker import check_with


def plain(h: History) -> Verdict:
    return check_with(h, vector=False)


def _median(fn: Callable[[History], Verdict], h: History, runs: int) -> tuple[float, Verdict]:
    times = []
    v = None
    for _ in range(runs):
        t = time.perf_counter()
        v = fn(h)
        times.append(time.perf_counter() - t)
    assert v is not None
    return statistics.median(times), v


def _fmt(sec: float) -> str:
    return f"{sec * 1e3:.3f} ms" if sec < 1 else f"{sec:.3f} s"


def bench(name: str, h: History, runs: int) -> float:
    med, v = _median(check, h, runs)
    med_plain, vp = _median(plain, h, runs)
    print(f"{name:<40} check {_fmt(med):>11}  plain path {_fmt(med_plain):>11}  (runs {runs}, "
          f"status {v.status}, keys {v.stats['keys']}, unknown {len(v.unknown_keys)}, "
          f"dfs steps {v.stats['dfs_steps']}, fallback keys {v.stats['fallback_keys']})")
    if v.status != "ok":
        print("   !!", v.violations[:2], v.unknown_keys[:5])
    if v != vp:
        print("   !! verdicts differ:", v, vp)
    return med


def main() -> None:
    which = sys.argv[1:] or ["small", "key32", "key64", "big"]
    if "small" in which:
        hs = [synthetic_history(ops=48, keys=4, threads=3, seed=s, sequential=30)
              for s in range(200)]
        for fn, label in ((check, "check"), (plain, "plain path")):
            for h in hs:
                fn(h)
            times = []
            for _ in range(7):
                t = time.perf_counter()
                for h in hs:
                    fn(h)
                times.append((time.perf_counter() - t) / len(hs))
            print(f"{'small: 3 threads x 16 ops + 30 sequential':<40} {label:<10} "
                  f"{statistics.median(times) * 1e3:.3f} ms per history (200 histories x 7)")
    if "key32" in which:
        bench("one key, 2,000 ops, 32 threads",
              synthetic_history(ops=2000, keys=1, threads=32, seed=1), 9)
    if "key64" in which:
        bench("one key, 2,000 ops, 64 threads",
              synthetic_history(ops=2000, keys=1, threads=64, seed=2), 9)
    if "big" in which:
        t = time.perf_counter()
        h = synthetic_history(ops=1_000_000, keys=1000, threads=64, seed=3, pending=2)
        print(f"(generated 1,000,000 ops in {time.perf_counter() - t:.1f} s)")
        bench("1,000,000 ops, 1,000 keys, 64 threads", h, 5)


if __name__ == "__main__":
    main()
