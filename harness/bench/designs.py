"""`mapfuzz bench`, designs side by side: evacmap, syncmap (sync.Map's design), rwmap
(one rwlock) and, where Go is installed, the Go pair (gomap: a map behind a
sync.RWMutex; gosyncmap: sync.Map) on three workloads at 1 and 2 threads.

The measurement itself runs in C (csrc/microbench.c, ``mf_bench_workload``: real
threads, null host, no scheduler and no oracle), so the figures are the maps' own
speed. Every (workload, threads, map) cell is measured ``repeats`` times in
round-robin order, so that a slow moment of this shared machine spreads over all
maps instead of landing on one, and the median is reported.

The Go pair through the adapters pays a cgo call and mapfuzz's key and value
encoding per operation, which can swamp the maps' own cost; so where ``go`` is on
PATH and this is a source tree, bench/gomaps.go also runs the same workloads in
Go itself (sync.Map against a map[any]any behind a sync.RWMutex, no cgo).

The seed's claim checked here: "sync.Map is 3-5x slower than a map behind a
RWMutex on write-heavy work" (unique new keys: every store takes sync.Map's
mutex, misses the read view and goes to the dirty map).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.run.binding import lib
from harness.run.target import Target, TargetError

Log = Callable[[str], None] | None

MAPS = ("evacmap", "syncmap", "rwmap", "gomap", "gosyncmap")
WORKLOADS = {
    "read-heavy": (0, "90% get, 10% put over 1,024 int keys"),
    "write-heavy": (1, "puts of new keys only (each thread its own range)"),
    "mixed": (2, "50% get, 30% put, 10% put_if_absent, 10% delete over 1,024 int keys"),
}
THREADS = (1, 2)
KEYS = 1024
PAIRS = (("syncmap", "rwmap"), ("gosyncmap", "gomap"))
"""(sync.Map design, rwlock map) pairs the claim is checked on."""
GO_NATIVE = Path(__file__).resolve().parents[2] / "bench" / "gomaps.go"
GO_PAIR = ("go sync.Map", "go map+RWMutex")
"""Column names of bench/gomaps.go's "syncmap" and "rwmutex" figures."""


def _load(name: str) -> tuple[Target | None, str]:
    if not Target.is_named(name):
        return None, "not part of this build (its adapter is not registered)"
    try:
        return Target.load(name), ""
    except TargetError as exc:
        return None, str(exc)


def bench_designs(quick: bool, log: Log) -> dict[str, Any]:
    ops = {"read-heavy": 200_000, "write-heavy": 100_000, "mixed": 200_000}
    if quick:
        ops = {k: v // 4 for k, v in ops.items()}
    repeats = 3 if quick else 7
    targets: dict[str, Target] = {}
    absent: dict[str, str] = {}
    for name in MAPS:
        target, why = _load(name)
        if target is None:
            absent[name] = why
        else:
            targets[name] = target
    samples: dict[str, dict[str, dict[int, list[float]]]] = {
        w: {n: {t: [] for t in THREADS} for n in targets} for w in WORKLOADS
    }
    failed: set[str] = set()
    for rep in range(repeats):
        if log:
            log(f"  round {rep + 1}/{repeats}")
        for wname, (wl, _) in WORKLOADS.items():
            for threads in THREADS:
                for name, target in targets.items():
                    rate = float(lib.mf_bench_workload(target._table, threads, ops[wname],
                                                       KEYS, wl, rep + 1))
                    if rate < 0:
                        failed.add(f"{name} {wname} {threads}t")
                    else:
                        samples[wname][name][threads].append(rate)
    table = {
        w: {n: {str(t): round(statistics.median(v)) if v else None for t, v in by.items()}
            for n, by in per.items()}
        for w, per in samples.items()
    }
    out = {
        "ops_per_thread": ops,
        "repeats": repeats,
        "ops_per_s": table,
        "absent": absent,
        "failed": sorted(failed),
        **native_go(ops["read-heavy"], repeats, log),
    }
    out["claim"] = claim(out)
    return out


def native_go(ops: int, rounds: int, log: Log) -> dict[str, Any]:
    """bench/gomaps.go's figures as {"go_native": table} (columns GO_PAIR), or
    {"go_native_absent": why}."""
    go = shutil.which("go")
    if go is None or not GO_NATIVE.exists():
        why = ("go is not installed (apt-get install golang-go)" if go is None else
               f"{GO_NATIVE} is not here (run from a source tree)")
        return {"go_native_absent": why}
    if log:
        log("  Go natively (bench/gomaps.go)")
    try:
        p = subprocess.run([go, "run", str(GO_NATIVE), "-ops", str(ops), "-rounds", str(rounds)],
                           capture_output=True, text=True, timeout=1200, check=True)
        raw = json.loads(p.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"go_native_absent": f"go run bench/gomaps.go failed: {exc}"}
    names = {"syncmap": GO_PAIR[0], "rwmutex": GO_PAIR[1]}
    return {"go_native": {w: {names[n]: by for n, by in per.items()} for w, per in raw.items()}}


def claim(d: dict[str, Any]) -> str:
    """The claim sentence over the C/adapter table and, when measured, Go natively."""
    tables = [d["ops_per_s"]] + ([d["go_native"]] if d.get("go_native") else [])
    return _claim(*tables)


def _ratio(table: dict[str, Any], fast: str, slow: str, threads: int) -> float | None:
    cells = table["write-heavy"]
    if fast not in cells or slow not in cells:
        return None
    a, b = cells[fast][str(threads)], cells[slow][str(threads)]
    return round(a / b, 2) if a and b else None


def _claim(table: dict[str, Any], native: dict[str, Any] | None = None) -> str:
    """One sentence: does "sync.Map is 3-5x slower on write-heavy work" hold here?"""
    parts = []
    merged = {w: {**table.get(w, {}), **(native or {}).get(w, {})} for w in WORKLOADS}
    table = merged
    for sync, rw in (*PAIRS, GO_PAIR):
        ratios = [r for t in THREADS if (r := _ratio(table, rw, sync, t)) is not None]
        if not ratios:
            continue
        lo, hi = min(ratios), max(ratios)
        verdict = ("holds" if lo >= 3 and hi <= 5 else
                   "is exceeded" if lo > 5 else
                   "does not hold" if hi < 3 else "holds only in part")
        parts.append(f"{rw} vs {sync}: {rw} is {lo}x to {hi}x as fast on unique-key puts at "
                     f"{'/'.join(map(str, THREADS))} threads, so the 3-5x claim {verdict}")
    if not parts:
        return "Not checked: no sync.Map/rwlock pair was measured."
    return "On write-heavy work (puts of new keys), " + "; ".join(parts) + "."


MARKER = "designs"


def designs_markdown(results: dict[str, Any], command: str = "mapfuzz bench",
                     where: str = "") -> list[str]:
    """The section for BENCHMARKS.md as a marked block (see ``splice``); empty when it
    was not measured."""
    d = results.get("designs")
    if not d:
        return []
    names = list(next(iter(d["ops_per_s"].values())))
    per_thread = ", ".join(f"{w} {n:,}" for w, n in d["ops_per_thread"].items())
    lines = [
        "## Designs side by side (ops/s, no scheduler: mapfuzz's maps in C, Go's in Go)",
        "",
        "Workloads: " + "; ".join(f"{w}: {desc}" for w, (_, desc) in WORKLOADS.items())
        + f". Operations per thread: {per_thread}"
        + f"; median of {d['repeats']} rounds, maps measured in turn within each round; one "
        "thread fills and reads every key first (a warm map).",
        "",
        "| workload | threads | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for w, per in d["ops_per_s"].items():
        for t in THREADS:
            cells = [per[n][str(t)] for n in names]
            lines.append(f"| {w} | {t} | " + " | ".join(
                f"{c:,}" if c is not None else "failed" for c in cells) + " |")
    native = d.get("go_native")
    if native:
        lines += [
            "",
            "Go itself (bench/gomaps.go: the same workloads on sync.Map and on a map[any]any "
            "behind a sync.RWMutex, int64 keys boxed in interfaces, no cgo; goroutines in "
            "place of threads, median of the same number of rounds):",
            "",
            f"| workload | goroutines | {GO_PAIR[1]} | {GO_PAIR[0]} |",
            "|---|---|---|---|",
        ]
        for w in WORKLOADS:
            for t in THREADS:
                lines.append(f"| {w} | {t} | {native[w][GO_PAIR[1]][str(t)]:,} "
                             f"| {native[w][GO_PAIR[0]][str(t)]:,} |")
    elif d.get("go_native_absent"):
        lines += ["", f"Go itself not measured: {d['go_native_absent']}."]
    lines += ["", d["claim"], "",
              "What the C figures leave out: syncmap frees nothing while a map lives (the "
              "work Go's garbage collector does for sync.Map is not counted); with 2 cores "
              "the rwlock's shared reader count is barely contended, which is where sync.Map's "
              "lock-free reads pay off on larger machines. The Go pair through the adapters "
              "(gomap, gosyncmap) pays a cgo call and mapfuzz's value encoding per "
              "operation, which swamps the maps' own cost: compare Go's maps in the Go "
              "table."]
    for name, why in d["absent"].items():
        lines.append(f"\n{name} not measured: {why}")
    if d["failed"]:
        lines.append(f"\nFailed cells (a target error during the run): {', '.join(d['failed'])}.")
    return marked(MARKER, lines, command, where)


def marked(marker: str, lines: list[str], command: str, where: str = "") -> list[str]:
    """``lines`` between ``<!-- marker -->`` and ``<!-- /marker -->``, noting the
    command that wrote them (and where: date, machine), so that ``splice`` can
    replace the block later."""
    note = f"Written by `{command}`{' ' + where if where else ''}."
    return ["", f"<!-- {marker} -->", *lines, "", note, f"<!-- /{marker} -->"]


def splice(path: Path, marker: str, block: list[str]) -> None:
    """Replace the ``marker`` block of ``path`` with ``block`` (from ``marked``); append
    it when the file has none. The rest of the file is kept as it is."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    body = "\n".join(block).strip("\n")
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body[body.index(start):] + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)
