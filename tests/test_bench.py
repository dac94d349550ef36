"""`mapfuzz bench` pieces that can be checked without timing anything."""

from __future__ import annotations

from pathlib import Path

from harness.bench import machine_facts, standard_schedule, write_markdown
from harness.runner import Target


def test_single_thread_benchmark_runs_the_workload() -> None:
    rate = Target.load("evacmap").single_thread_ops_per_s(20_000, 64)
    assert rate > 0


def test_standard_schedule_is_the_committed_one() -> None:
    s = standard_schedule()
    assert len(s.threads) == 3 and all(len(ops) == 16 for ops in s.threads)


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
    }
    out = tmp_path / "B.md"
    write_markdown(results, out)
    text = out.read_text()
    assert "| v1 | controlled | pct | 3/3 | 0.1 | 12 |" in text
    assert "| c_only_pct_execs_per_s | 1000 |" in text
    assert "| evacmap | 10 | 5 | 99 |" in text
    assert "| case | 0.5 | ok |" in text
    assert "mapfuzz bench --quick" in text
