"""`mapfuzz bench`, growth: how often the default workload grows a map it knows
nothing about during the parallel phase, and what the swarm workload costs.

- Growth share: tests/fixtures/growmap.c built with its first growth after 8 ..
  1,000 inserts (then 2x, 4x ...). The default random engine (seed 0, controlled
  PCT) runs a fixed number of executions following its feedback; the share is the
  fraction whose parallel phase ran a growth, as the map's own structural events
  tell. Side by side: the same engine without its calibration (what a target that
  reports no structural events gets: modelled thresholds).
- Cost on the correct evacmap, round-robin, medians: executions/s of the engine's
  loop in this process (generate, compile, run, judge, feedback) with the classic
  fixed shape (the workload before swarm shapes), swarm shapes without calibration
  and the default calibrated swarm; and the default campaign (``mapfuzz fuzz``,
  one job, no canary) over the same seconds.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine, run_campaign
from harness.search.engine import RandomEngine, growth_share, walk

Log = Callable[[str], None] | None

ROOT = Path(__file__).resolve().parents[2]
GROWMAP_C = ROOT / "tests" / "fixtures" / "growmap.c"
THRESHOLDS = (8, 50, 130, 300, 600, 1000)
"""growmap's first growth comes at the insert past this many entries."""


def _growmap(tmp: Path, grow_at: int) -> Target:
    out = tmp / f"growmap{grow_at}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-pthread", "-I", str(ROOT / "csrc"),
                    f"-DGROW_AT={grow_at}", str(GROWMAP_C), "-o", str(out)],
                   check=True, capture_output=True)
    return Target.load(str(out))


def _uncalibrated(engine: RandomEngine) -> RandomEngine:
    return replace(engine, gen=replace(engine.gen, growths=()))


def _classic(engine: RandomEngine) -> RandomEngine:
    return replace(engine, gen=replace(engine.gen, swarm=False))


def bench_shares(execs: int, tmp: Path, log: Log) -> dict[str, Any]:
    """Growth share per threshold, calibrated and not, with the loop's executions/s."""
    rows: dict[str, Any] = {}
    for grow_at in THRESHOLDS:
        target = _growmap(tmp, grow_at)
        engine = make_engine(CampaignConfig(seed=0), target)
        row: dict[str, Any] = {"calibration": list(engine.gen.growths)}
        with Runner(target) as runner:
            for name, eng in (("default", engine), ("uncalibrated", _uncalibrated(engine))):
                t0 = time.perf_counter()
                share = growth_share(eng, runner, target, execs)
                row[name] = {"share": round(share, 3),
                             "execs_per_s": round(execs / (time.perf_counter() - t0))}
        rows[str(grow_at)] = row
        if log:
            log(f"  growmap {grow_at}: share {row['default']['share']} "
                f"(uncalibrated {row['uncalibrated']['share']})")
    return rows


def _loop_rate(engine: RandomEngine, target: Target, seconds: float) -> float:
    with Runner(target) as runner:
        done = 0
        t0 = time.perf_counter()
        for _ in walk(engine, runner, target):
            done += 1
            if time.perf_counter() - t0 >= seconds:
                break
        return done / (time.perf_counter() - t0)


def _campaign_rate(seconds: float, seed: int, tmp: Path) -> float:
    r = run_campaign(CampaignConfig(canary=False, seconds=seconds, seed=seed,
                                    artifacts=tmp / f"campaign{seed}"))
    return r.execs / r.elapsed_s if r.elapsed_s else 0.0


def bench_rates(seconds: float, rounds: int, tmp: Path, log: Log) -> dict[str, Any]:
    """Executions/s on the correct evacmap, round-robin, medians."""
    evacmap = Target.load("evacmap")
    samples: dict[str, list[float]] = {
        "classic_loop": [], "swarm_uncalibrated_loop": [], "swarm_loop": [], "campaign": []}
    for n in range(rounds):
        engine = make_engine(CampaignConfig(seed=n), evacmap)
        samples["classic_loop"].append(_loop_rate(_classic(engine), evacmap, seconds))
        samples["swarm_uncalibrated_loop"].append(
            _loop_rate(_uncalibrated(engine), evacmap, seconds))
        samples["swarm_loop"].append(_loop_rate(engine, evacmap, seconds))
        samples["campaign"].append(_campaign_rate(seconds, n, tmp))
        if log:
            log("  " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in samples.items()) + " execs/s")
    med = {k: round(statistics.median(v)) for k, v in samples.items()}
    base = med["classic_loop"] or 1
    return {"seconds_each": seconds, "rounds": rounds, "execs_per_s": med,
            "vs_classic_loop": {k: round(v / base, 2) for k, v in med.items()}}


def bench_growth(quick: bool, log: Log) -> dict[str, Any]:
    if not (GROWMAP_C.exists() and shutil.which("gcc")):
        return {"skipped": "needs gcc and tests/fixtures/growmap.c (a source checkout)"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        execs = 100 if quick else 400
        return {"execs": execs, "shares": bench_shares(execs, tmp, log),
                "rates": bench_rates(4.0 if quick else 10.0, 1 if quick else 3, tmp, log)}


def growth_markdown(results: dict[str, Any]) -> list[str]:
    sec = results.get("growth")
    if not sec:
        return []
    if "skipped" in sec:
        return ["", "## Growth share of the default workload", "",
                f"Not measured: {sec['skipped']}."]
    lines = [
        "",
        f"## Growth share of the default workload (growmap, {sec['execs']} executions, "
        "seed 0, controlled PCT)",
        "",
        "Executions whose parallel phase ran a growth, from the map's structural events; "
        "uncalibrated: the same engine without the calibration probe's counts.",
        "",
        "| first growth after | calibration (inserts) | share | execs/s | share uncalibrated "
        "| execs/s |",
        "|---|---|---|---|---|---|",
    ]
    for grow_at, row in sec["shares"].items():
        cal = ", ".join(map(str, row["calibration"][:4]))
        more = ", ..." if len(row["calibration"]) > 4 else ""
        lines.append(f"| {grow_at} | {cal}{more} | {row['default']['share']} "
                     f"| {row['default']['execs_per_s']} | {row['uncalibrated']['share']} "
                     f"| {row['uncalibrated']['execs_per_s']} |")
    rates = sec["rates"]
    lines += [
        "",
        f"Cost on the correct evacmap ({rates['seconds_each']} s each, median of "
        f"{rates['rounds']}, round-robin):",
        "",
        "| workload | execs/s | vs classic |",
        "|---|---|---|",
    ]
    for k, v in rates["execs_per_s"].items():
        lines.append(f"| {k} | {v} | {rates['vs_classic_loop'][k]} |")
    return lines
