"""`mapfuzz bench`, scaling: executions per second on 1 and 2 workers and on a local
Dask cluster, time to a first finding at 1 and 2 jobs, and check-history on the
histories of the Porcupine comparison.

Rates are measured side by side, round-robin (jobs 1, jobs 2, cluster, again), and
reported as medians with the ratios to ``--jobs 1``; the cluster's start is not timed
(a campaign's clock starts once the cluster is up). check-history runs as a user runs
it, one subprocess per file: wall time and peak RSS of the whole command, and the
check alone as the command reports it (``--json``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.data.history_file import history_lines
from harness.data.synth import synthetic_history
from harness.search.campaign import CampaignConfig, run_campaign

Log = Callable[[str], None] | None

ROWS: dict[str, dict[str, int]] = {
    "2k-16t-1key": {"ops": 2_000, "threads": 16, "keys": 1},
    "2k-32t-1key": {"ops": 2_000, "threads": 32, "keys": 1},
    "2k-64t-1key": {"ops": 2_000, "threads": 64, "keys": 1},
    "1m-64t-1000keys": {"ops": 1_000_000, "threads": 64, "keys": 1_000},
    "100k-8t-100keys": {"ops": 100_000, "threads": 8, "keys": 100},
}
"""The histories of the Porcupine comparison: name -> (operations, threads, keys)."""

PORCUPINE_RECORDED_S: dict[str, float | None] = {
    "2k-16t-1key": 0.068, "2k-32t-1key": None, "2k-64t-1key": None,
    "1m-64t-1000keys": 1.67, "100k-8t-100keys": 0.126,
}
"""Porcupine's check on the same kind of history (Go 1.19, quiet machine, medians of
3; None: unknown after 20 s), as recorded before this module existed. A live figure
replaces it when ``MAPFUZZ_PORCUPINE`` names a reader program (``PROGRAM FILE`` prints
the check's seconds on its last line, and ``Unknown`` on stderr when its timeout ran
out); such a program is not part of mapfuzz (build one against Porcupine outside it)."""

SEEDED = ("geometry-split-publish", "publish-ctrl-before-value", "iter-no-snapshot")
"""Seeded bugs whose first finding takes hundreds of PCT executions (BENCHMARKS.md)."""


def _rate(label: str, seconds: float, artifacts: Path, **kw: Any) -> float:
    cfg = CampaignConfig(canary=False, seconds=seconds, artifacts=artifacts / label, **kw)
    r = run_campaign(cfg)
    return r.execs / r.elapsed_s if r.elapsed_s else 0.0


def bench_rates(quick: bool, log: Log, tmp: Path) -> dict[str, Any]:
    """Random engine, correct evacmap, controlled PCT: executions/s per setup."""
    seconds = 4.0 if quick else 10.0
    rounds = 1 if quick else 3
    setups: dict[str, dict[str, Any]] = {"jobs_1": {"jobs": 1}, "jobs_2": {"jobs": 2}}
    if importlib.util.find_spec("distributed") is not None:
        setups["cluster_local_2_workers"] = {"cluster": "local"}
    samples: dict[str, list[float]] = {k: [] for k in setups}
    for n in range(rounds):
        for name, kw in setups.items():
            samples[name].append(_rate(f"{name}-{n}", seconds, tmp, seed=n, **kw))
            if log:
                log(f"  {name}: {samples[name][-1]:,.0f} execs/s")
    med = {k: round(statistics.median(v)) for k, v in samples.items()}
    base = med["jobs_1"] or 1
    out: dict[str, Any] = {"seconds_each": seconds, "rounds": rounds, "execs_per_s": med,
                           "vs_jobs_1": {k: round(v / base, 2) for k, v in med.items()}}
    if "cluster_local_2_workers" in med and med["jobs_2"]:
        out["cluster_vs_jobs_2"] = round(med["cluster_local_2_workers"] / med["jobs_2"], 2)
    return out


def bench_first_finding(quick: bool, log: Log, tmp: Path) -> list[dict[str, Any]]:
    """Seconds to the first finding of three seeded bugs, 1 and 2 jobs, same seeds."""
    seeds = range(1 if quick else 3)
    rows = []
    for variant in SEEDED:
        row: dict[str, Any] = {"variant": variant}
        for jobs in (1, 2):
            times, index = [], []
            for seed in seeds:
                cfg = CampaignConfig(canary=False, seconds=120.0, variant=variant, seed=seed,
                                     jobs=jobs, artifacts=tmp / f"first-{variant}-{jobs}")
                t0 = time.perf_counter()
                r = run_campaign(cfg)
                times.append(time.perf_counter() - t0)
                index.append(r.findings[0].execs_to_find if r.findings else None)
            row[f"jobs_{jobs}_median_s"] = round(statistics.median(times), 3)
            row[f"jobs_{jobs}_execs"] = index
        if log:
            log(f"  {variant}: {row['jobs_1_median_s']} s vs {row['jobs_2_median_s']} s")
        rows.append(row)
    return rows


_MEASURE = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
    "sys.stdout.buffer.write(p.stdout)\n"
    "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
)
"""Runs a command and reports its peak RSS. A small process in between: a child's peak
RSS on Linux includes its parent's at the fork, and the bench's own is large."""


def _run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) and stdout of one command."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                       check=False)
    wall = time.perf_counter() - t0
    return wall, int(p.stderr.strip().splitlines()[-1]), p.stdout


def bench_check_history(quick: bool, log: Log, tmp: Path) -> dict[str, Any]:
    """check-history on each row's file: whole command and check alone, medians of 3."""
    names = [n for n in ROWS if not (quick and n.startswith("1m"))]
    porcupine = os.environ.get("MAPFUZZ_PORCUPINE")
    out: dict[str, Any] = {}
    for name in names:
        path = tmp / f"{name}.jsonl"
        h = synthetic_history(seed=1, **ROWS[name])
        with open(path, "w") as fh:
            for line in history_lines(h):
                fh.write(line + "\n")
        del h
        walls, rss, checks = [], [], []
        verdict = "?"
        for _ in range(3):
            wall, kb, text = _run_measured(
                [sys.executable, "-m", "harness", "check-history", "--json", str(path)])
            rep = json.loads(text)
            walls.append(wall)
            rss.append(kb)
            checks.append(rep["elapsed_s"])
            verdict = rep["verdict"]
        row: dict[str, Any] = {
            "whole_command_s": round(statistics.median(walls), 3),
            "peak_rss_mb": round(max(rss) / 1024),
            "check_s": round(statistics.median(checks), 4),
            "verdict": verdict,
            "porcupine_recorded_s": PORCUPINE_RECORDED_S.get(name),
        }
        if porcupine:
            times = []
            for _ in range(3):
                res = subprocess.run([porcupine, str(path)], capture_output=True, text=True,
                                     timeout=120)
                times.append(float(res.stdout.strip().splitlines()[-1]))
                if "Unknown" in res.stderr:  # its timeout ran out: no verdict, no time
                    row["porcupine_live_unknown_after_s"] = round(times[-1])
                    break
            else:
                row["porcupine_live_s"] = round(statistics.median(times), 4)
        ref = row.get("porcupine_live_s") if porcupine else row["porcupine_recorded_s"]
        if ref:
            row["porcupine_over_check"] = round(ref / max(row["check_s"], 1e-6), 1)
        out[name] = row
        if log:
            log(f"  {name}: whole {row['whole_command_s']} s, check {row['check_s']} s, "
                f"{row['peak_rss_mb']} MB")
    return out


def bench_scaling(quick: bool, log: Log) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mapfuzz-scaling-") as d:
        tmp = Path(d)
        return {
            "rates": bench_rates(quick, log, tmp),
            "first_finding": bench_first_finding(quick, log, tmp),
            "check_history": bench_check_history(quick, log, tmp),
        }


def scaling_markdown(results: dict[str, Any]) -> list[str]:
    s = results.get("scaling")
    if not s:
        return []
    r = s["rates"]
    lines = [
        "",
        "## Scaling: workers, a cluster, the oracle from a file",
        "",
        f"Random engine on the correct evacmap (controlled, PCT), {r['seconds_each']:g} s per "
        f"campaign, {r['rounds']} round(s) side by side; medians.",
        "",
        "| setup | executions/s | vs --jobs 1 |",
        "|---|---|---|",
    ]
    for k, v in r["execs_per_s"].items():
        lines.append(f"| {k.replace('_', ' ')} | {v:,} | {r['vs_jobs_1'][k]}x |")
    if "cluster_vs_jobs_2" in r:
        lines += ["", f"The local cluster runs at {r['cluster_vs_jobs_2']}x the rate of "
                  "`--jobs 2` (its start is not timed)."]
    lines += ["", "Time to the first finding (same seeds; the first finding is the same input "
              "at both job counts):", "",
              "| variant | --jobs 1 median s | --jobs 2 median s | first finding (execution) |",
              "|---|---|---|---|"]
    for row in s["first_finding"]:
        lines.append(f"| {row['variant']} | {row['jobs_1_median_s']} | "
                     f"{row['jobs_2_median_s']} | {row['jobs_1_execs']} |")
    lines += ["", "`mapfuzz check-history FILE` on the histories of bench/histories.py (one "
              "subprocess per run, medians of 3; peak RSS of the whole command):", "",
              "| history | whole command s | peak RSS MB | check s | verdict | Porcupine check s "
              "| Porcupine / mapfuzz check |", "|---|---|---|---|---|---|---|"]
    for name, row in s["check_history"].items():
        live = row.get("porcupine_live_s")
        rec = row["porcupine_recorded_s"]
        gave_up = row.get("porcupine_live_unknown_after_s")
        por = (f"{live} (live)" if live is not None else
               f"unknown after {gave_up} s (live)" if gave_up is not None else
               f"{rec} (recorded)" if rec is not None else "unknown after 20 s (recorded)")
        lines.append(f"| {name} | {row['whole_command_s']} | {row['peak_rss_mb']} | "
                     f"{row['check_s']} | {row['verdict']} | {por} | "
                     f"{row.get('porcupine_over_check', '-')} |")
    return lines
