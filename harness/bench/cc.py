"""`mapfuzz bench`, the `mapfuzz cc` section: what compiler-placed schedule points cost
and what they find.

- Throughput side by side: the same generated inputs (seed 0, the default workload),
  executed and judged in controlled PCT mode, on a map with hand-placed points (or
  none) and on the same map built by ``mapfuzz cc``: evacmap (built-in, hand-placed
  points, against ``mapfuzz cc`` of csrc/evacmap.c, which keeps its hand-placed
  points and adds the compiler's), libcuckoo's adapter (hand-placed points, against
  ``-DMF_NO_HAND_POINTS`` under ``mapfuzz cc``) and tests/fixtures/authormap.c
  (plain gcc: only the runner's op call/return points, against ``mapfuzz cc``).
  The two builds take turns within each repeat; medians.
- Detection on tests/fixtures/authormap.c built by ``mapfuzz cc``: the input index and
  seconds to the first finding per seeded bug and seed, controlled PCT, the default
  (swarm) workload, no flags: put-stale-table needs a rebuild of the table (its 129th
  insert at the earliest) while the threads run, which the swarm's prefill sizes reach.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.run.cc import CcError, build
from harness.run.execute import execute
from harness.run.runner import Runner
from harness.run.target import Target, TargetError
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import first_finding

Log = Callable[[str], None] | None

ROOT = Path(__file__).resolve().parents[2]
DETECT_BUDGET = 5_000
"""Inputs a detection run may take before it counts as not found."""


def _builds(tmp: Path) -> list[tuple[str, str, str]]:
    """(label, reference target, mapfuzz cc target) for every pair this machine can build."""
    csrc = ROOT / "csrc"
    pairs: list[tuple[str, str, str]] = []
    entry = tmp / "evac_entry.c"
    entry.write_text('#include "mapfuzz_runner.h"\n'
                     "const mf_target *mf_target_v1(void) { return mf_evacmap(); }\n")
    pairs.append(("evacmap", "evacmap", str(build([csrc / "evacmap.c", entry], tmp / "evac.so",
                                                  ["-O2", "-I", str(csrc)]))))
    am = ROOT / "tests" / "fixtures" / "authormap.c"
    if am.exists() and shutil.which("gcc"):
        plain = tmp / "authormap_plain.so"
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-g", "-pthread", "-I", str(csrc),
                        str(am), "-o", str(plain)], check=True, capture_output=True)
        pairs.append(("authormap", str(plain), str(build([am], tmp / "authormap.so"))))
    try:
        cuckoo = build([csrc / "adapters" / "cuckoo.cpp"], tmp / "cuckoo_cc.so",
                       ["-std=c++11", "-DMF_NO_HAND_POINTS"])
        Target.load("cuckoo")
        pairs.append(("cuckoo", "cuckoo", str(cuckoo)))
    except (CcError, TargetError):   # libcuckoo-dev missing: the pair is skipped
        pass
    return pairs


def _rate(target: Target, inputs: list[Any], runner: Runner) -> float:
    t0 = time.perf_counter()
    for item in inputs:
        execute(runner, target, item.plan, item.spec)
    return len(inputs) / (time.perf_counter() - t0)


def bench_cc(quick: bool, log: Log) -> dict[str, Any]:
    n = 100 if quick else 400
    repeats = 3
    seeds = (0,) if quick else (0, 1, 2)
    out: dict[str, Any] = {"inputs": n, "repeats": repeats, "throughput": {}, "detection": []}
    with tempfile.TemporaryDirectory(prefix="mapfuzz-bench-cc-") as tmpdir:
        for label, ref_spec, cc_spec in _builds(Path(tmpdir)):
            ref, inst = Target.load(ref_spec), Target.load(cc_spec)
            # the same schedules for both builds: the reference target's generator
            engine = make_engine(CampaignConfig(target=ref.spec, seed=0), ref)
            inputs = [item for _, item in zip(range(n), engine.inputs(ref.variants),
                                              strict=False)]
            rates: dict[str, list[float]] = {"reference": [], "cc": []}
            with Runner(ref) as r_ref, Runner(inst) as r_cc:
                for _ in range(repeats):
                    rates["reference"].append(_rate(ref, inputs, r_ref))
                    rates["cc"].append(_rate(inst, inputs, r_cc))
            a, b = statistics.median(rates["reference"]), statistics.median(rates["cc"])
            out["throughput"][label] = {"reference_execs_per_s": round(a, 1),
                                        "cc_execs_per_s": round(b, 1),
                                        "slowdown": round(a / b, 2)}
            if log:
                log(f"  {label}: {a:.0f} vs {b:.0f} execs/s ({a / b:.2f}x)")
            if label != "authormap":
                continue
            for variant in inst.variants:
                for seed in seeds:
                    eng = make_engine(CampaignConfig(target=inst.spec, variant=variant,
                                                     seed=seed), inst)
                    with Runner(inst) as runner:
                        t0 = time.perf_counter()
                        hit = first_finding(eng, runner, inst, DETECT_BUDGET)
                        secs = time.perf_counter() - t0
                    row = {"variant": variant, "seed": seed, "found": hit is not None,
                           "input": hit[0].index if hit else None,
                           "seconds": round(secs, 2),
                           "class": sorted({v.cls for v in hit[1].violations}) if hit else []}
                    out["detection"].append(row)
                    if log:
                        log(f"  authormap {variant} seed {seed}: input {row['input']}, "
                            f"{row['seconds']} s")
    return out


def cc_markdown(results: dict[str, Any]) -> list[str]:
    sec = results.get("cc")
    if not sec:
        return []
    lines = [
        "",
        f"## mapfuzz cc: compiler-placed points ({sec['inputs']} inputs, controlled PCT, "
        f"median of {sec['repeats']})",
        "",
        "| map | reference execs/s | mapfuzz cc execs/s | slowdown |",
        "|---|---|---|---|",
    ]
    for label, t in sec["throughput"].items():
        lines.append(f"| {label} | {t['reference_execs_per_s']} | {t['cc_execs_per_s']} "
                     f"| {t['slowdown']}x |")
    lines += [
        "",
        "Reference: evacmap and cuckoo with their hand-placed points, authormap built by "
        "plain gcc (op call/return points only).",
        "",
        f"tests/fixtures/authormap.c built by `mapfuzz cc`, the default workload (no flags), "
        f"controlled PCT; the first finding's input index (not found: none within "
        f"{DETECT_BUDGET:,} inputs) and the seconds to it:",
        "",
        "| authormap variant | seed | first finding (input) | s | class |",
        "|---|---|---|---|---|",
    ]
    for r in sec["detection"]:
        where = r["input"] if r["found"] else "not found"
        lines.append(f"| {r['variant']} | {r['seed']} | {where} "
                     f"| {r['seconds']} | {', '.join(r['class'])} |")
    return lines
