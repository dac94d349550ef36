"""The C-only controlled rate of two builds of mapfuzz, side by side in one run.

    python bench/controlled_side_by_side.py OLD_TREE NEW_TREE [--rounds 9] [--count 10000]
        [--strategy pct]

Each tree is a source checkout whose C core is built in place (``python
harness/_build.py`` in it). One worker process per tree imports that tree's
``harness`` and measures exactly what `mapfuzz bench` reports as
``c_only_<strategy>_execs_per_s`` (harness/bench/suite.py: ``Runner.run_undecoded``
over ``count`` seeds of corpus/standard.json): executions per second of wall time
and per CPU-second of the process. The trees take turns (old, new, then new, old,
...), so both see the same machine state; medians over the rounds are printed, with
the context switches per execution (voluntary ones are the sleeps of the hand-offs
between threads; involuntary ones are preemptions) read from /proc.

Environment variables prefixed OLD_ or NEW_ are passed, without the prefix, to
that tree's worker only (e.g. NEW_MAPFUZZ_MAIN_PLAYS=0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _switches() -> tuple[int, int]:
    vol = invol = 0
    for status in Path("/proc/self/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                invol += int(line.split()[1])
    return vol, invol


def child(strategy: str, count: int) -> None:
    import harness
    from harness.bench.suite import standard_schedule
    from harness.data.plan import compile_schedule
    from harness.run.runner import Runner
    from harness.run.target import Target

    target = Target.load("evacmap")
    plan = compile_schedule(standard_schedule(), target.variants)
    print("ready", harness.__file__, flush=True)
    with Runner(target) as runner:
        runner.run_undecoded(plan, range(200), strategy=strategy)  # warm up
        for line in sys.stdin:
            if line.strip() != "go":
                break
            s0 = _switches()
            t0, c0 = time.perf_counter(), time.process_time()
            bad = runner.run_undecoded(plan, range(count), strategy=strategy)
            wall = count / (time.perf_counter() - t0)
            cpu = count / max(time.process_time() - c0, 1e-9)
            s1 = _switches()
            print(wall, cpu, (s1[0] - s0[0]) / count, (s1[1] - s0[1]) / count, bad, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--strategy", default="pct", choices=("pct", "random"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.strategy, args.count)
        return 0
    procs = {}
    for name, tree in (("old", args.old), ("new", args.new)):
        env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
        prefix = name.upper() + "_"
        env.update({k[len(prefix):]: v for k, v in os.environ.items() if k.startswith(prefix)})
        cmd = [sys.executable, str(Path(__file__).resolve()), str(tree), str(tree), "--child",
               "--strategy", args.strategy, "--count", str(args.count)]
        p = subprocess.Popen(cmd, cwd=tree, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert p.stdout is not None
        print(name, p.stdout.readline().strip(), flush=True)
        procs[name] = p
    rows: dict[str, list[list[float]]] = {"old": [], "new": []}
    for i in range(args.rounds):
        for name in ("old", "new") if i % 2 == 0 else ("new", "old"):
            p = procs[name]
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("go\n")
            p.stdin.flush()
            rows[name].append([float(x) for x in p.stdout.readline().split()])
        print(f"round {i}: " + "  ".join(
            f"{n} {rows[n][-1][0]:.0f}/s {rows[n][-1][1]:.0f}/cpu-s" for n in rows), flush=True)
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait()
    med = {n: [statistics.median(r[k] for r in rows[n]) for k in range(4)] for n in rows}
    for n in rows:
        bad = sum(int(r[4]) for r in rows[n])
        print(f"{n}: median {med[n][0]:.0f} execs/s wall, {med[n][1]:.0f} per CPU-second; "
              f"{med[n][2]:.2f} voluntary + {med[n][3]:.2f} involuntary context switches "
              f"per execution; {bad} not ok")
    print(f"new/old: wall {med['new'][0] / med['old'][0]:.2f}x, "
          f"CPU {med['new'][1] / med['old'][1]:.2f}x ({args.rounds} rounds of {args.count})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
