"""`mapfuzz bench`, the minimisation tools: how small tmin's witnesses get, and how
often a stress finding gets a controlled witness.

tmin: for every evacmap variant, the first finding of a controlled PCT campaign
(seed 1) is minimised with a 60 s budget, in a worker process as `mapfuzz tmin`
does; the row gives threads, operations (prefill included) and preemptions before
and after, the time taken, and whether the written reproducer replays with the same
signature. Stress to controlled: for every variant and seed, the first stress
finding is handed to the witness search (`mapfuzz repro --to-controlled`) with its
default budget of 1,000 controlled runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from harness.run.reproducer import Reproducer
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, finding_reproducer, hunt, make_engine
from harness.search.engine import RandomEngine
from harness.tools.candidates import WorkerRuns
from harness.tools.tmin import minimise, size_text, sizes
from harness.tools.witness import DEFAULT_BUDGET, find_witness

Log = Callable[[str], None] | None
TMIN_SECONDS = 60.0


def engine_for(variant: str, mode: str, strategy: str, seed: int) -> RandomEngine:
    """The random engine of a benchmark campaign on an evacmap variant."""
    cfg = CampaignConfig(
        variant=variant,
        mode=mode,
        strategy=strategy if mode == "controlled" else "pct",
        seed=seed,
        canary=False,
    )
    return make_engine(cfg, Target.load("evacmap"))


def _first_finding(runs: WorkerRuns, target: Target, variant: str, mode: str,
                   seed: int) -> Reproducer | None:
    """The reproducer of a benchmark campaign's first finding (60 s budget), or None."""
    strategy = "pct" if mode == "controlled" else "-"
    finding, _, _ = hunt(runs.worker, engine_for(variant, mode, strategy, seed), 60.0)
    return None if finding is None else finding_reproducer(target, finding, {})


def bench_tmin(quick: bool, log: Log, variants: Sequence[str] | None = None) -> dict[str, Any]:
    target = Target.load("evacmap")
    rows: list[dict[str, Any]] = []
    runs = WorkerRuns("evacmap")
    try:
        for variant in variants or target.variants:
            r = _first_finding(runs, target, variant, "controlled", 1)
            if r is None:
                rows.append({"variant": variant, "found": False})
                continue
            res = minimise(r, runs, seconds=TMIN_SECONDS)
            out = res.reproducer
            replay = runs.attempts(out.schedule, [out.replay_spec()])[0]
            row = {
                "variant": variant,
                "found": True,
                "class": res.signature.cls,
                "before": sizes(res.before),
                "after": sizes(res.after),
                "capacity": out.schedule.config.capacity,
                "seconds": round(res.elapsed_s, 2),
                "exhausted": res.exhausted,
                "replays": res.signature.matches(replay.violations, res.after),
            }
            rows.append(row)
            if log:
                log(f"  {variant:32} {row['class']:18} {size_text(sizes(res.before))} -> "
                    f"{size_text(sizes(res.after))}"
                    f"  {row['seconds']} s{'' if row['replays'] else '  DOES NOT REPLAY'}")
    finally:
        runs.close()
    done = [r for r in rows if r["found"]]
    return {
        "rows": rows,
        "median_ops_after": statistics.median(r["after"]["ops"] for r in done) if done else None,
        "max_threads_after": max((r["after"]["threads"] for r in done), default=None),
        "max_seconds": max((r["seconds"] for r in done), default=None),
        "all_replay": all(r["replays"] for r in done),
    }


def bench_witness(
    quick: bool, log: Log, variants: Sequence[str] | None = None
) -> dict[str, Any]:
    seeds = (1, 2) if quick else (1, 2, 3, 4)
    target = Target.load("evacmap")
    rows: list[dict[str, Any]] = []
    runs = WorkerRuns("evacmap")
    try:
        for variant in variants or target.variants:
            for seed in seeds:
                r = _first_finding(runs, target, variant, "stress", seed)
                if r is None or r.main_class in ("crash", "hang"):
                    continue  # a crash or hang is no violation an interleaving shows
                res = find_witness(r, runs, DEFAULT_BUDGET)
                rows.append({
                    "variant": variant,
                    "seed": seed,
                    "class": r.main_class,
                    "witness": res.reproducer is not None,
                    "same_key": res.same_key,
                    "attempts": res.attempts,
                })
            if log:
                mine = [x for x in rows if x["variant"] == variant]
                got = sum(x["witness"] for x in mine)
                log(f"  {variant:32} witnesses {got}/{len(mine)}")
    finally:
        runs.close()
    hits = [r for r in rows if r["witness"]]
    return {
        "rows": rows,
        "findings": len(rows),
        "witnessed": len(hits),
        "median_attempts": statistics.median(r["attempts"] for r in hits) if hits else None,
        "budget": DEFAULT_BUDGET,
    }


def _shape(x: dict[str, int]) -> str:
    return f"{x['threads']} / {x['ops']} / {x['preemptions']}"


def tools_markdown(results: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md sections of the minimisation tools (empty when not measured)."""
    lines: list[str] = []
    t = results.get("tmin")
    if t:
        lines += [
            "",
            "## Minimisation (`mapfuzz tmin`, 60 s budget, in a worker process)",
            "",
            "Input: each variant's first finding of a controlled PCT campaign, seed 1. "
            "Threads / operations (prefill included) / preemptions.",
            "",
            "| variant | class | before | after | capacity after | seconds | replays |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in t["rows"]:
            if not r["found"]:
                lines.append(f"| {r['variant']} | not found in 60 s | | | | | |")
                continue
            lines.append(
                f"| {r['variant']} | {r['class']} | {_shape(r['before'])} | {_shape(r['after'])} "
                f"| {r['capacity']} | {r['seconds']}{' (budget out)' if r['exhausted'] else ''} "
                f"| {'yes' if r['replays'] else 'NO'} |"
            )
        lines += [
            "",
            f"Median operations after: {t['median_ops_after']}; most threads after: "
            f"{t['max_threads_after']}; slowest: {t['max_seconds']} s; every result replays: "
            f"{'yes' if t['all_replay'] else 'NO'}.",
        ]
    w = results.get("witness")
    if w:
        lines += [
            "",
            "## Stress finding to controlled witness (`mapfuzz repro --to-controlled`)",
            "",
            f"First stress finding of each variant per seed; witness search budget "
            f"{w['budget']} controlled runs.",
            "",
            "| variant | findings | witnessed | same key | attempts (each) |",
            "|---|---|---|---|---|",
        ]
        by: dict[str, list[dict[str, Any]]] = {}
        for r in w["rows"]:
            by.setdefault(r["variant"], []).append(r)
        for variant, rs in by.items():
            lines.append(
                f"| {variant} | {len(rs)} | {sum(r['witness'] for r in rs)} "
                f"| {sum(r['witness'] and r['same_key'] for r in rs)} "
                f"| {', '.join(str(r['attempts']) for r in rs)} |"
            )
        share = w["witnessed"] / w["findings"] if w["findings"] else 0.0
        same = sum(r["witness"] and r["same_key"] for r in w["rows"])
        lines += [
            "",
            f"Witnessed: {w['witnessed']} of {w['findings']} ({share:.0%}), {same} of them on "
            f"the stress finding's own key (the others: the same class on another key, found "
            f"when the budget ran out); median attempts to a witness: {w['median_attempts']}.",
        ]
    return lines


__all__ = ["bench_tmin", "bench_witness", "engine_for", "tools_markdown"]
