"""`mapfuzz bench`: detection of every seeded bug, throughput, oracle speed, and the
minimisation tools (harness.bench.tools).

Everything is measured side by side in one run on this machine and reported as
medians (these machines are small and shared: single absolute times mislead).
The results land in BENCHMARKS.md with the machine's facts and the date.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness.bench.cc import bench_cc, cc_markdown
from harness.bench.designs import bench_designs, designs_markdown
from harness.bench.growth import bench_growth, growth_markdown
from harness.bench.scaling import bench_scaling, scaling_markdown
from harness.bench.tools import bench_tmin, bench_witness, engine_for, tools_markdown
from harness.data.plan import compile_schedule
from harness.data.schedule import Schedule, from_json
from harness.run.execute import judge
from harness.run.runner import Runner
from harness.run.target import Target
from harness.run.worker import Worker
from harness.search.campaign import hunt

Log = Callable[[str], None] | None

DETECTION_MODES = (("controlled", "pct"), ("controlled", "random"), ("stress", "-"))


def standard_schedule() -> Schedule:
    """corpus/standard.json in a source checkout; else the generator's (equal) build."""
    path = Path(__file__).resolve().parents[2] / "corpus" / "standard.json"
    if path.exists():
        return from_json(json.loads(path.read_text()))
    from harness.search.generate import standard_schedule as build

    return build()


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def detect(
    worker: Worker, variant: str, mode: str, strategy: str, seed: int, seconds: float
) -> tuple[bool, float, int]:
    """Run a campaign in ``worker`` until the first finding; (found, seconds, executions)."""
    finding, elapsed, execs = hunt(worker, engine_for(variant, mode, strategy, seed), seconds)
    return finding is not None, elapsed, execs


def bench_detection(quick: bool, log: Log) -> list[dict[str, Any]]:
    seeds = (1, 2, 3) if quick else (1, 2, 3, 4, 5)
    budget = 10.0 if quick else 60.0
    modes = DETECTION_MODES[:1] + DETECTION_MODES[2:] if quick else DETECTION_MODES
    rows = []
    with Worker("evacmap") as worker:
        for variant in Target.load("evacmap").variants:
            for mode, strategy in modes:
                runs = [detect(worker, variant, mode, strategy, s, budget) for s in seeds]
                hits = [r for r in runs if r[0]]
                row = {
                    "variant": variant,
                    "mode": mode,
                    "strategy": strategy,
                    "seeds": len(seeds),
                    "found": len(hits),
                    "median_s": round(statistics.median(r[1] for r in hits), 4) if hits else None,
                    "median_execs": int(statistics.median(r[2] for r in hits)) if hits else None,
                }
                rows.append(row)
                if log:
                    found = (f"  median {row['median_s']} s, {row['median_execs']:,} execs"
                             if hits else "")
                    log(f"  {variant:32} {mode:10} {strategy:6} "
                        f"found {row['found']}/{len(seeds)}{found}")
    return rows


def rates_text(by: dict[str, float]) -> str:
    """{"noise_0.0": 1234.5, ...} as "noise 0.0: 1,234/s, ..." (log lines show no dicts)."""
    return ", ".join(f"{k.replace('_', ' ')}: {v:,.0f}/s" for k, v in by.items())


def _median_rates(fn: Callable[[], int], repeats: int) -> tuple[float, float]:
    """Medians over ``repeats`` of (wall-clock rate, CPU-time rate) of ``fn``'s count.
    The CPU-time rate (per CPU-second of this process, all threads) stays meaningful
    when other jobs share the cores; the wall-clock rate is what a user sees."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        wall.append(n / (time.perf_counter() - t0))
        cpu.append(n / max(time.process_time() - c0, 1e-9))
    return statistics.median(wall), statistics.median(cpu)


def bench_throughput(quick: bool, log: Log) -> dict[str, Any]:
    target = Target.load("evacmap")
    schedule = standard_schedule()
    plan = compile_schedule(schedule, target.variants)
    n = 2_000 if quick else 10_000
    repeats = 5
    out: dict[str, Any] = {"schedule": "corpus/standard.json", "repeats": repeats}

    def record(name: str, rates: tuple[float, float]) -> None:
        out[name] = round(rates[0])
        out[name.replace("_per_s", "_per_cpu_s")] = round(rates[1])

    with Runner(target) as runner:
        for strategy in ("pct", "random"):
            count = n if strategy == "pct" else n // 4

            def c_only(strategy: str = strategy, count: int = count) -> int:
                runner.run_undecoded(plan, range(count), strategy=strategy)
                return count

            def decoded(strategy: str = strategy, count: int = count) -> int:
                for i in range(count):
                    runner.run(plan, strategy=strategy, seed=i, record_events=False)
                return count

            record(f"c_only_{strategy}_execs_per_s", _median_rates(c_only, repeats))
            record(f"run_decoded_{strategy}_execs_per_s", _median_rates(decoded, repeats))

        def whole() -> int:
            for i in range(n // 4):
                judge(plan, runner.run(plan, seed=i, record_events=False), target)
            return n // 4

        record("whole_loop_execs_per_s", _median_rates(whole, repeats))

    if log:
        log("  " + ", ".join(f"{k.removesuffix('_per_s').replace('_', ' ')} {v:,.0f}/s"
                             for k, v in out.items() if k.endswith("_per_s")))
    return out


MAPS_ATTEMPTS = 3


def bench_maps(quick: bool, log: Log) -> dict[str, Any]:
    """Stress-mode ops/s with 2 threads of every available map on one workload, the
    maps taking turns within each repeat (side by side, same machine state).

    The maps run in a child process: a real map may crash under this workload
    (libcuckoo 0.3.1 does, rarely, while it expands concurrently: docs/adapters.md).
    A crashed attempt is counted in ``crashed_attempts`` and the measurement starts
    again, up to MAPS_ATTEMPTS times."""
    ctx = multiprocessing.get_context("spawn")
    crashes: list[str] = []
    for _ in range(MAPS_ATTEMPTS):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_maps_child, args=(child, quick), daemon=True)
        proc.start()
        child.close()
        at = "setting up"
        out: dict[str, Any] | None = None
        try:
            while out is None:
                kind, payload = parent.recv()
                if kind == "at":
                    at = payload
                else:
                    out = payload
        except EOFError:
            proc.join()
            crashes.append(f"exit status {proc.exitcode} while running {at}")
            if log:
                log(f"  maps side by side: {crashes[-1]}; measuring again")
            continue
        proc.join()
        out["crashed_attempts"] = crashes
        if log:
            for name, by in out["ops_per_s"].items():
                log(f"  {name:10} stress ops/s: {rates_text(by)}")
        return out
    return {"crashed_attempts": crashes}


def _maps_child(conn: Connection, quick: bool) -> None:
    conn.send(("result", _measure_maps(quick, lambda name: conn.send(("at", name)))))
    conn.close()


def _measure_maps(quick: bool, at: Callable[[str], None]) -> dict[str, Any]:
    import random

    from harness.data.schedule import MapConfig
    from harness.run.adapters import status
    from harness.search.generate import GenConfig, generate

    gen = GenConfig(
        threads=2,
        ops_per_thread=256,
        keys=64,
        op_weights={"get": 50, "put": 25, "put_if_absent": 10, "delete": 15},
        capacity=8,
        hash_seed=1,
        prefill_fraction=0.0,
    )
    schedule = generate(random.Random(1), gen, MapConfig())
    names = ["evacmap"] + [a.name for a in status() if a.path is not None]
    maps = {}
    for name in names:
        target = Target.load(name)
        maps[name] = (Runner(target), compile_schedule(schedule, target.variants))
    nops = sum(len(t) for t in schedule.threads)
    runs = 40 if quick else 200
    repeats = 5 if quick else 9
    samples: dict[str, dict[float, list[float]]] = {n: {0.0: [], 0.05: []} for n in names}
    for _ in range(repeats):
        for noise in (0.0, 0.05):
            for name, (runner, plan) in maps.items():
                at(name)
                t0 = time.perf_counter()
                for i in range(runs):
                    runner.run(plan, mode="stress", seed=i, noise=noise, record_events=False)
                samples[name][noise].append(runs * nops / (time.perf_counter() - t0))
    single: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for name, (runner, _) in maps.items():
            at(f"{name} single-thread")
            single[name].append(runner.target.single_thread_ops_per_s(200_000, 64))
    for runner, _ in maps.values():
        runner.close()
    out: dict[str, Any] = {
        "workload": "2 threads x 256 ops over 64 keys (50% get, 25% put, 10% put_if_absent, "
        "15% delete), map created per execution",
        "repeats": repeats,
        "ops_per_s": {
            name: {f"noise_{noise}": round(statistics.median(v)) for noise, v in by.items()}
            for name, by in samples.items()
        },
        "single_thread_ops_per_s": {n: round(statistics.median(v)) for n, v in single.items()},
    }
    return out


def bench_oracle(quick: bool, log: Log) -> dict[str, Any]:
    from harness.data.synth import synthetic_history
    from harness.oracle import check

    out: dict[str, Any] = {}
    cases = [("1M_ops_1000_keys_64_threads", 1_000_000, 1000, 64)]
    if quick:
        cases = [("100k_ops_100_keys_64_threads", 100_000, 100, 64)]
    cases += [("1_key_2000_ops_32_way", 2000, 1, 32), ("1_key_2000_ops_64_way", 2000, 1, 64)]
    for name, ops, keys, threads in cases:
        history = synthetic_history(ops=ops, keys=keys, threads=threads, seed=7)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            verdict = check(history)
            times.append(time.perf_counter() - t0)
        out[name] = {"median_s": round(statistics.median(times), 4), "verdict": verdict.status}
        if log:
            log(f"  {name}: {out[name]['median_s']} s ({verdict.status})")
    return out


SECTIONS: tuple[tuple[str, str, Callable[[bool, Log], Any]], ...] = (
    ("throughput", "throughput", bench_throughput),
    ("oracle", "oracle", bench_oracle),
    ("maps", "maps side by side", bench_maps),
    ("designs", "designs side by side", bench_designs),
    ("detection", "detection", bench_detection),
    ("tmin", "minimisation (tmin)", bench_tmin),
    ("witness", "stress to controlled", bench_witness),
    ("cc", "mapfuzz cc (compiler-placed points)", bench_cc),
    ("scaling", "scaling (jobs, cluster, check-history)", bench_scaling),
    ("growth", "growth share of the default workload", bench_growth),
)
"""(results key, progress label, measurement), in the order they run."""


SECTION_NAMES = tuple(key for key, _, _ in SECTIONS)


def run_bench(quick: bool = False, log: Log = None,
              only: Collection[str] = ()) -> dict[str, Any]:
    """Every section's results (``only``: just those sections, by SECTION_NAMES)."""
    results: dict[str, Any] = {"machine": machine_facts(), "quick": quick}
    for key, label, measure in SECTIONS:
        if only and key not in only:
            continue
        if log:
            log(f"{label} ...")
        results[key] = measure(quick, log)
    return results


def write_markdown(results: dict[str, Any], path: Path) -> None:
    path.write_text(render_markdown(results))


def render_markdown(results: dict[str, Any]) -> str:
    """BENCHMARKS.md's text for ``results``."""
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `mapfuzz bench{' --quick' if results['quick'] else ''}` on {m['date']}: "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}.",
        "All figures are medians of repeated runs taken side by side in one run.",
    ]
    if "detection" in results:
        lines += [
            "",
            "## Detection of the seeded evacmap bugs",
            "",
            "| variant | mode | strategy | found (seeds) | median s to first finding "
            "| median execs |",
            "|---|---|---|---|---|---|",
        ]
        for r in results["detection"]:
            lines.append(
                f"| {r['variant']} | {r['mode']} | {r['strategy']} | {r['found']}/{r['seeds']} "
                f"| {r['median_s']} | {r['median_execs']} |"
            )
    if "throughput" in results:
        lines += [
            "",
            "## Throughput (corpus/standard.json: 3 threads x 16 ops, growth during the run)",
            "",
            "| measure | value |",
            "|---|---|",
        ]
        for k, v in results["throughput"].items():
            lines.append(f"| {k} | {v} |")
    maps = results.get("maps")
    if maps and "ops_per_s" not in maps:
        lines += ["", "## The maps side by side", "",
                  f"Not measured: every attempt crashed ({'; '.join(maps['crashed_attempts'])})."]
    elif maps:
        lines += [
            "",
            f"## The maps side by side ({maps['workload']})",
            "",
            "| map | stress ops/s, no noise | stress ops/s, noise 0.05 | single-thread ops/s |",
            "|---|---|---|---|",
        ]
        for name, by in maps["ops_per_s"].items():
            single = maps["single_thread_ops_per_s"][name]
            lines.append(f"| {name} | {by['noise_0.0']} | {by['noise_0.05']} | {single} |")
        lines += [
            "",
            "Stress: 2 threads through the runner, a fresh map per execution. Single-thread: "
            "in C with no scheduler (csrc/microbench.c: 50% get, 30% put, 20% delete over "
            "64 int keys).",
        ]
        crashed = maps.get("crashed_attempts") or []
        if crashed:
            lines += [
                "",
                f"Attempts that crashed before this measurement: {'; '.join(crashed)} "
                "(a real map failing under the workload: for libcuckoo 0.3.1 see "
                "docs/adapters.md).",
            ]
    lines += designs_markdown(results)
    lines += tools_markdown(results)
    lines += cc_markdown(results)
    if "oracle" in results:
        lines += [
            "",
            "## Oracle (check time, history construction excluded)",
            "",
            "| history | median s | verdict |",
            "|---|---|---|",
        ]
        for k, v in results["oracle"].items():
            lines.append(f"| {k} | {v['median_s']} | {v['verdict']} |")
    lines += scaling_markdown(results)
    lines += growth_markdown(results)
    return "\n".join(lines) + "\n"
