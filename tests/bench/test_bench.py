"""`mapfuzz bench` pieces that can be checked without timing anything."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.bench import scaling, suite
from harness.bench.suite import bench_maps, machine_facts, standard_schedule, write_markdown
from harness.bench.tools import bench_tmin, bench_witness
from harness.data.schedule import dumps
from harness.run.adapters import status
from harness.run.binding import ffi, lib
from harness.run.target import Target
from harness.search.generate import standard_schedule as build_standard_schedule

CORPUS_STANDARD = Path(__file__).resolve().parents[2] / "corpus" / "standard.json"


def counting_evacmap() -> tuple[Any, Counter[str], list[Any]]:
    """evacmap's target table with every map call counted (cffi callbacks that
    forward to evacmap): the table, the counts, and what keeps the callbacks alive."""
    real = lib.mf_evacmap()
    calls: Counter[str] = Counter()
    table = ffi.new("mf_target *", real[0])  # a copy of evacmap's table
    alive: list[Any] = [real, table]
    for field in ("create", "destroy", "get", "put", "del"):

        def counted(*args: Any, field: str = field) -> Any:
            calls[field] += 1
            return getattr(real, field)(*args)

        cb = ffi.callback(ffi.typeof(getattr(real, field)), counted)
        alive.append(cb)
        setattr(table, field, cb)
    return table, calls, alive


def test_single_thread_benchmark_runs_the_workload() -> None:
    """Every one of the operations asked for reaches the map, in the documented mix
    (csrc/microbench.c: 50% get, 30% put, 20% delete), on one map."""
    table, calls, _alive = counting_evacmap()
    target = dataclasses.replace(Target.load("evacmap"), _table=table)
    assert target.single_thread_ops_per_s(20_000, 64) > 0
    assert calls["create"] == calls["destroy"] == 1
    ops = calls["get"] + calls["put"] + calls["del"]
    assert ops == 20_000
    for kind, share in (("get", 0.5), ("put", 0.3), ("del", 0.2)):
        assert abs(calls[kind] / ops - share) < 0.02, (kind, calls)


def test_standard_schedule_is_the_committed_one() -> None:
    """The bench's schedule is corpus/standard.json, which is what the generator's
    standard_schedule() builds (tests/search/test_generate.py checks the file)."""
    s = standard_schedule()
    assert len(s.threads) == 3 and all(len(ops) == 16 for ops in s.threads)
    assert s == build_standard_schedule()
    assert dumps(s) == CORPUS_STANDARD.read_text()


def test_markdown_has_every_section(tmp_path: Path) -> None:
    results = {
        "machine": machine_facts(),
        "quick": True,
        "detection": [
            {"variant": "v1", "mode": "controlled", "strategy": "pct", "seeds": 3, "found": 3,
             "median_s": 0.1, "median_execs": 12},
        ],
        "throughput": {"c_only_pct_execs_per_s": 1000},
        "maps": {
            "workload": "w",
            "repeats": 1,
            "ops_per_s": {"evacmap": {"noise_0.0": 10, "noise_0.05": 5}},
            "single_thread_ops_per_s": {"evacmap": 99},
        },
        "oracle": {"case": {"median_s": 0.5, "verdict": "ok"}},
        "tmin": {
            "rows": [
                {"variant": "v1", "found": True, "class": "lost-write",
                 "before": {"threads": 3, "ops": 53, "preemptions": 2},
                 "after": {"threads": 2, "ops": 3, "preemptions": 1},
                 "capacity": 1, "seconds": 0.5, "exhausted": False, "replays": True},
                {"variant": "v2", "found": False},
            ],
            "median_ops_after": 3, "max_threads_after": 2, "max_seconds": 0.5, "all_replay": True,
        },
        "witness": {
            "rows": [{"variant": "v1", "seed": 1, "class": "lost-write", "witness": True,
                      "same_key": True, "attempts": 7}],
            "findings": 1, "witnessed": 1, "median_attempts": 7, "budget": 1000,
        },
        "scaling": {
            "rates": {"seconds_each": 4.0, "rounds": 1,
                      "execs_per_s": {"jobs_1": 1000, "jobs_2": 1900,
                                      "cluster_local_2_workers": 1800},
                      "vs_jobs_1": {"jobs_1": 1.0, "jobs_2": 1.9,
                                    "cluster_local_2_workers": 1.8},
                      "cluster_vs_jobs_2": 0.95},
            "first_finding": [{"variant": "v1", "jobs_1_median_s": 1.0, "jobs_2_median_s": 0.6,
                               "jobs_1_execs": [10], "jobs_2_execs": [10]}],
            "check_history": {"h": {"whole_command_s": 0.5, "whole_command_cpu_s": 0.4,
                                    "peak_rss_mb": 90,
                                    "check_s": 0.01, "verdict": "ok",
                                    "porcupine_recorded_s": 0.068,
                                    "porcupine_over_check": 6.8}},
        },
        "growth": {
            "execs": 100,
            "shares": {"300": {"calibration": [301, 601, 1201],
                               "default": {"share": 0.17, "execs_per_s": 40},
                               "uncalibrated": {"share": 0.03, "execs_per_s": 50}}},
            "rates": {"seconds_each": 4.0, "rounds": 1,
                      "execs_per_s": {"classic_loop": 900, "swarm_loop": 450},
                      "vs_classic_loop": {"classic_loop": 1.0, "swarm_loop": 0.5}},
        },
    }
    out = tmp_path / "B.md"
    write_markdown(results, out)
    text = out.read_text()
    assert "| v1 | controlled | pct | 3/3 | 0.1 | 12 |" in text
    assert "| c_only_pct_execs_per_s | 1000 |" in text
    assert "| evacmap | 10 | 5 | 99 |" in text
    assert "| case | 0.5 | ok |" in text
    assert "mapfuzz bench --quick" in text
    assert "| v1 | lost-write | 3 / 53 / 2 | 2 / 3 / 1 | 1 | 0.5 | yes |" in text
    assert "| v2 | not found in 60 s |" in text
    assert "| v1 | 1 | 1 | 1 | 7 |" in text
    assert "Witnessed: 1 of 1 (100%), 1 of them on the stress finding's own key" in text
    assert "| jobs 2 | 1,900 | 1.9x |" in text and "0.95x the rate of `--jobs 2`" in text
    assert "| v1 | 1.0 | 0.6 | [10] |" in text
    assert "| h | 0.5 | 0.4 | 90 | 0.01 | ok | 0.068 (recorded) | 6.8 |" in text
    assert "| 300 | 301, 601, 1201 | 0.17 | 40 | 0.03 | 50 |" in text
    assert "| swarm_loop | 450 | 0.5 |" in text


def test_check_history_benchmark_runs_the_command_on_each_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scaling, "ROWS", {"tiny": {"ops": 300, "threads": 4, "keys": 2}})
    out = scaling.bench_check_history(False, None, tmp_path)
    row = out["tiny"]
    assert row["verdict"] == "ok" and row["whole_command_s"] > row["check_s"] > 0
    assert row["peak_rss_mb"] > 10 and row["porcupine_recorded_s"] is None
    assert row["whole_command_cpu_s"] > 0 and "baseline_whole_command_s" not in row


def test_check_history_benchmark_runs_a_baseline_tree_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scaling, "ROWS", {"tiny": {"ops": 300, "threads": 4, "keys": 2}})
    root = Path(scaling.__file__).resolve().parents[2]  # this tree, as its own baseline
    monkeypatch.setenv("MAPFUZZ_BASELINE", str(root))
    row = scaling.bench_check_history(False, None, tmp_path)["tiny"]
    assert row["verdict"] == row["baseline_verdict"] == "ok"
    assert row["baseline_whole_command_s"] > row["baseline_check_s"] > 0
    assert row["baseline_peak_rss_mb"] > 10
    text = "\n".join(scaling.scaling_markdown({"scaling": {
        "rates": {"seconds_each": 1.0, "rounds": 1, "execs_per_s": {"jobs_1": 1},
                  "vs_jobs_1": {"jobs_1": 1.0}},
        "first_finding": [], "check_history": {"tiny": row}}}))
    assert "baseline whole s" in text
    assert f"| {row['baseline_whole_command_s']} | {row['baseline_whole_command_cpu_s']} |" in text


def test_tmin_benchmark_measures_and_replays_a_real_minimisation() -> None:
    t = bench_tmin(True, None, ["put-if-absent-no-recheck"])
    (row,) = t["rows"]
    assert row["found"] and row["replays"] and not row["exhausted"]
    assert row["after"]["ops"] < row["before"]["ops"]
    assert t["median_ops_after"] == row["after"]["ops"]


def test_witness_benchmark_counts_the_stress_findings_it_searched() -> None:
    w = bench_witness(True, None, ["put-if-absent-no-recheck"])
    assert w["findings"] == len(w["rows"]) >= 1
    assert w["witnessed"] == sum(r["witness"] for r in w["rows"])
    assert all(r["variant"] == "put-if-absent-no-recheck" for r in w["rows"])


def test_maps_side_by_side_runs_in_a_child_and_reports_every_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every map available here (evacmap and each adapter whose package is installed)
    is measured, and in a child process: measuring in this process fails here."""

    def not_here(quick: bool, at: object) -> dict[str, Any]:
        raise AssertionError("maps measured in the calling process")

    monkeypatch.setattr(suite, "_measure_maps", not_here)  # a spawned child re-imports
    out = bench_maps(True, None)
    available = {"evacmap"} | {a.name for a in status() if a.path is not None}
    assert set(out["ops_per_s"]) == available
    assert set(out["single_thread_ops_per_s"]) == available
    for name in available:
        assert out["ops_per_s"][name]["noise_0.0"] > 0 and out["ops_per_s"][name]["noise_0.05"] > 0
        assert out["single_thread_ops_per_s"][name] > 0
    assert out["crashed_attempts"] == [] or all("exit status" in c for c in out["crashed_attempts"])


def test_markdown_says_when_a_map_crashed(tmp_path: Path) -> None:
    died = "exit status -11 while running cuckoo"
    base = {"machine": machine_facts(), "quick": True, "detection": [], "throughput": {},
            "oracle": {}}
    out = tmp_path / "B.md"
    write_markdown({**base, "maps": {"crashed_attempts": [died] * 3}}, out)
    assert f"Not measured: every attempt crashed ({died}" in out.read_text()
    maps = {"workload": "w", "repeats": 1,
            "ops_per_s": {"cuckoo": {"noise_0.0": 1, "noise_0.05": 1}},
            "single_thread_ops_per_s": {"cuckoo": 2}, "crashed_attempts": [died]}
    write_markdown({**base, "maps": maps}, out)
    assert f"Attempts that crashed before this measurement: {died}" in out.read_text()


def test_a_section_alone_renders_only_that_section(tmp_path: Path) -> None:
    results = {"machine": machine_facts(), "quick": True,
               "oracle": {"case": {"median_s": 0.5, "verdict": "ok"}}}
    out = tmp_path / "B.md"
    write_markdown(results, out)
    text = out.read_text()
    assert "| case | 0.5 | ok |" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Oracle (check time, history construction excluded)"]


def test_bench_refuses_an_unknown_section() -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "bench", "--section", "speed"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "--section speed: no such section; choose from throughput, oracle" in p.stderr


def test_cc_section_renders_the_cost_and_each_first_finding() -> None:
    from harness.bench.cc import cc_markdown

    sec = {"inputs": 400, "repeats": 3,
           "throughput": {"authormap": {"reference_execs_per_s": 120.0,
                                        "cc_execs_per_s": 80.0, "slowdown": 1.5}},
           "detection": [
               {"variant": "get-copy-unlocked", "seed": 0, "found": True, "input": 19,
                "seconds": 0.04, "class": ["torn-value"]},
               {"variant": "put-stale-table", "seed": 1, "found": False, "input": None,
                "seconds": 9.5, "class": []}]}
    text = "\n".join(cc_markdown({"cc": sec}))
    assert "| authormap | 120.0 | 80.0 | 1.5x |" in text
    assert "| get-copy-unlocked | 0 | 19 | 0.04 | torn-value |" in text
    assert "| put-stale-table | 1 | not found | 9.5 |  |" in text
    assert "{" not in text  # no Python dicts in the report


def test_bench_help_names_every_section() -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "bench", "--help"],
                       capture_output=True, text=True)
    assert p.returncode == 0
    flat = " ".join(p.stdout.split())
    assert all(name in flat for name in suite.SECTION_NAMES), flat
