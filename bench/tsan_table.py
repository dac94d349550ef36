"""Does ThreadSanitizer see the seeded bugs mapfuzz finds? One row per seeded bug of
evacmap and syncmap, written into BENCHMARKS.md as its own section.

    python bench/tsan_table.py [--seeds 3] [--long 10] [-o BENCHMARKS.md] [--json]

For each bug:
1. mapfuzz: a default campaign (controlled mode, PCT, the random engine, canary
   off) per seed, until the first finding or 60 s: the first finding's class and
   the median seconds to it.
2. ThreadSanitizer: bench/tsan_driver.c, built with ``gcc -fsanitize=thread``
   together with csrc/evacmap.c and csrc/syncmap.c (TSan's runtime cannot be
   loaded into Python), runs the same kind of workload (fresh small maps, 3
   threads x 16 mixed operations over 8 mixed-type keys, growth while they run)
   for as long as mapfuzz took (the median; at least one execution), and again
   for ``--long`` seconds. The report kinds TSan printed are counted.
3. Whether the bug contains a data race at all, by construction (RACY below):
   the others are atomicity or logic violations whose every shared access is an
   atomic or happens under the map's lock, so a race detector has nothing to
   report however long it runs.

The correct maps run too, as controls: TSan must report nothing on them.

Needs gcc and ThreadSanitizer's runtime (Debian: ``apt-get install gcc libtsan2``;
libtsan2 comes with gcc's own dependencies). Exit code 0: table written; 2: no
TSan (the message says what to install); 1: a control gave a TSan report, or TSan
reported a race in a bug listed as race-free (the table says which).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.bench.designs import marked, splice  # noqa: E402
from harness.bench.suite import machine_facts  # noqa: E402
from harness.run.target import Target  # noqa: E402
from harness.run.worker import Worker  # noqa: E402
from harness.search.campaign import CampaignConfig, hunt, make_engine  # noqa: E402

TARGETS = ("evacmap", "syncmap")
BUDGET_S = 60.0
MARKER = "tsan"

RACY: dict[str, str] = {
    "evacmap/blob-overwrite-in-place": "plain memcpy into a published blob while readers copy it",
    "evacmap/free-blob-at-once": "the poisoning memset of a blob a reader is still copying",
    "evacmap/put-fast-path-skips-lock": "a blob published without the lock: a locked writer "
    "reads its header with no happens-before edge to its initialisation",
    "syncmap/misses-outside-lock": "misses, dirty and the dirty table written without the mutex",
}
"""Bugs with a data race (plain, unsynchronised accesses to the same memory). Every
other seeded bug is race-free: its accesses are atomics or under the lock."""

REPORT = re.compile(r"WARNING: ThreadSanitizer: ([a-z][a-z -]*?)(?: \(|$)", re.M)


def have_tsan(workdir: Path) -> str | None:
    """None when gcc can build and run a TSan program, else what to install."""
    src = workdir / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    try:
        subprocess.run(["gcc", "-fsanitize=thread", str(src), "-o", str(workdir / "probe")],
                       check=True, capture_output=True)
        subprocess.run([str(workdir / "probe")], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return (f"gcc -fsanitize=thread does not work here ({exc}); install gcc and "
                "ThreadSanitizer's runtime: apt-get install gcc libtsan2")
    return None


def build_driver(workdir: Path) -> Path:
    exe = workdir / "tsan_driver"
    csrc = ROOT / "csrc"
    subprocess.run(
        ["gcc", "-std=gnu11", "-O1", "-g", "-fsanitize=thread", "-Wall", "-Wextra", "-Werror",
         "-pthread", f"-I{csrc}", str(ROOT / "bench" / "tsan_driver.c"), str(csrc / "evacmap.c"),
         str(csrc / "syncmap.c"), "-o", str(exe)],
        check=True,
    )
    return exe


def run_tsan(exe: Path, target: str, variant: int, seconds: float, seed: int) -> dict[str, Any]:
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0 exitcode=0 report_signal_unsafe=0")
    p = subprocess.run([str(exe), target, str(variant), f"{seconds:.3f}", str(seed)],
                       capture_output=True, text=True, env=env, timeout=seconds + 300)
    kinds = Counter(REPORT.findall(p.stderr))
    m = re.search(r"executions (\d+) invariant-failures (\d+)", p.stdout)
    return {
        "reports": dict(kinds),
        "exit": p.returncode,
        "execs": int(m.group(1)) if m else None,
        "check_failed": int(m.group(2)) if m else None,
    }


def mapfuzz_finds(worker: Worker, target: Target, variant: str, seeds: int) -> dict[str, Any]:
    hits = []
    for seed in range(1, seeds + 1):
        cfg = CampaignConfig(target=target.spec, variant=variant, seed=seed, canary=False)
        finding, elapsed, execs = hunt(worker, make_engine(cfg, target), BUDGET_S)
        if finding is not None:
            hits.append((finding.violations[0].cls, elapsed, execs))
    return {
        "found": len(hits),
        "seeds": seeds,
        "classes": sorted({c for c, _, _ in hits}),
        "median_s": round(statistics.median(s for _, s, _ in hits), 3) if hits else None,
    }


def measure(seeds: int, long_s: float, log: Any) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        missing = have_tsan(work)
        if missing:
            raise SystemExit(missing)
        exe = build_driver(work)
        for name in TARGETS:
            target = Target.load(name)
            log(f"{name}: correct map (control), {long_s:g} s under TSan")
            rows.append({"target": name, "bug": "correct", "racy": None, "mapfuzz": None,
                         "tsan_short": None, "tsan_long": run_tsan(exe, name, 0, long_s, 1)})
            with Worker(name) as worker:
                for i, variant in enumerate(target.variants, 1):
                    found = mapfuzz_finds(worker, target, variant, seeds)
                    short = found["median_s"] if found["median_s"] is not None else BUDGET_S
                    row = {
                        "target": name,
                        "bug": variant,
                        "racy": RACY.get(f"{name}/{variant}"),
                        "mapfuzz": found,
                        "tsan_short": run_tsan(exe, name, i, short, 1),
                        "tsan_long": run_tsan(exe, name, i, long_s, 2),
                    }
                    rows.append(row)
                    log(f"  {variant:28} mapfuzz {found['classes']} {found['median_s']} s; TSan "
                        f"{row['tsan_short']['reports']} / {row['tsan_long']['reports']}")
    return {"seeds": seeds, "long_s": long_s, "rows": rows}


def _reports(r: dict[str, Any]) -> str:
    extra = f"driver exit {r['exit']}" if r["exit"] not in (0, None) else ""
    kinds = ", ".join(f"{k} x{n}" for k, n in sorted(r["reports"].items()))
    text = f"yes: {kinds}" if kinds else "no"
    return "; ".join(x for x in (text, extra) if x)


def problems(result: dict[str, Any]) -> list[str]:
    out = []
    for row in result["rows"]:
        seen = row["tsan_long"]["reports"] or (row["tsan_short"] or {}).get("reports")
        if row["bug"] == "correct" and seen:
            out.append(f"{row['target']} correct map: TSan reported {seen}")
        elif row["bug"] != "correct" and not row["racy"] and seen:
            out.append(f"{row['target']}/{row['bug']} is listed race-free but TSan reported {seen}")
    return out


def markdown(result: dict[str, Any], command: str, where: str) -> list[str]:
    lines = [
        "## The race detector side by side",
        "",
        "For each seeded bug: does ThreadSanitizer (gcc `-fsanitize=thread`, a standalone "
        "driver running mapfuzz's kind of workload: fresh small maps, 3 threads x 16 mixed "
        "operations over 8 mixed-type keys) report it, run for as long as mapfuzz took to "
        f"find the bug and for {result['long_s']:g} s? mapfuzz: default controlled campaigns "
        f"(PCT), {result['seeds']} seeds, 60 s each; class of the first finding, median "
        "seconds. \"check failed\" counts the driver's executions in which the map's own "
        "invariant check failed afterwards: the bug fired while TSan watched.",
        "",
        "| map | bug | data race in the bug | mapfuzz found (class, median s, seeds) "
        "| TSan, mapfuzz's time | TSan, long run | check failed (long run) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        mf = row["mapfuzz"]
        found = ("control" if mf is None else
                 f"{', '.join(mf['classes'])}, {mf['median_s']} s, {mf['found']}/{mf['seeds']}"
                 if mf["found"] else f"not found in 60 s (0/{mf['seeds']})")
        racy = "-" if row["bug"] == "correct" else (f"yes: {row['racy']}" if row["racy"] else "no")
        short = "-" if row["tsan_short"] is None else _reports(row["tsan_short"])
        long_ = row["tsan_long"]
        lines.append(
            f"| {row['target']} | {row['bug']} | {racy} | {found} | {short} | {_reports(long_)} "
            f"| {long_['check_failed']} of {long_['execs']} |"
        )
    race_free = [f"{r['target']}/{r['bug']}" for r in result["rows"]
                 if r["bug"] != "correct" and not r["racy"]]
    lines += [
        "",
        f"No data race at all in {len(race_free)} of {len(race_free) + len(RACY)} bugs: "
        + ", ".join(race_free) + ". Each is an atomicity or ordering violation (or plain "
        "wrong logic) built from correct atomics and locked sections, which a race detector "
        "cannot see however long it runs; mapfuzz's oracle sees their effect.",
    ]
    bad = problems(result)
    if bad:
        lines += ["", "Contradictions: " + "; ".join(bad) + "."]
    return marked(MARKER, lines, command, where)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--long", type=float, default=10.0, help="seconds of the long TSan run")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = ap.parse_args()
    result = measure(args.seeds, args.long, lambda s: print(s, file=sys.stderr))
    m = machine_facts()
    command = f"python bench/tsan_table.py --seeds {args.seeds} --long {args.long:g}"
    where = f"on {m['date']}, {m['cpu']}, {m['cores']} cores"
    splice(args.output, MARKER, markdown(result, command, where))
    if args.json:
        print(json.dumps(result, indent=1))
    print(f"written to {args.output}", file=sys.stderr)
    bad = problems(result)
    for b in bad:
        print(f"contradiction: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
