"""The designs-side-by-side bench: its C workload runner, the claim sentence, and the
splicing of its block into BENCHMARKS.md (no figures are asserted: speed belongs to
`mapfuzz bench`, not to tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.bench.designs import (
    GO_PAIR,
    MARKER,
    WORKLOADS,
    _claim,
    designs_markdown,
    native_go,
    splice,
)
from harness.run.binding import lib
from harness.run.target import Target


@pytest.mark.parametrize("name", ["evacmap", "syncmap", "rwmap"])
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("threads", [1, 2])
def test_workload_runs_on_every_builtin(name: str, workload: str, threads: int) -> None:
    t = Target.load(name)
    assert lib.mf_bench_workload(t._table, threads, 2000, 64, WORKLOADS[workload][0], 1) > 0


def test_bad_workload_is_refused() -> None:
    t = Target.load("rwmap")
    assert lib.mf_bench_workload(t._table, 1, 10, 64, 3, 1) == -1
    assert lib.mf_bench_workload(t._table, 0, 10, 64, 0, 1) == -1


def _table(rw: int, sync: int) -> dict[str, dict[str, dict[str, int]]]:
    cells = {"rwmap": {"1": rw, "2": rw}, "syncmap": {"1": sync, "2": sync}}
    return {w: cells for w in WORKLOADS}


@pytest.mark.parametrize(("rw", "sync", "verdict"), [
    (400, 100, "holds"), (700, 100, "is exceeded"), (150, 100, "does not hold"),
])
def test_claim_sentence(rw: int, sync: int, verdict: str) -> None:
    assert f"the 3-5x claim {verdict}" in _claim(_table(rw, sync))


def test_splice_replaces_only_its_block(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nbefore\n")
    results = {"designs": {"ops_per_thread": {"mixed": 1}, "repeats": 1, "absent": {},
                           "failed": [], "ops_per_s": _table(4, 1), "claim": "C1."}}
    splice(path, MARKER, designs_markdown(results, "cmd one"))
    results["designs"]["claim"] = "C2."
    splice(path, MARKER, designs_markdown(results, "cmd two"))
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n")
    assert text.count(f"<!-- {MARKER} -->") == 1 and "C2." in text and "C1." not in text
    assert "Written by `cmd two`." in text


def test_native_go_runs_the_same_workloads() -> None:
    if shutil.which("go") is None:
        pytest.skip("go is not installed (apt-get install golang-go)")
    out = native_go(2000, 1, None)
    assert "go_native" in out, out
    for w in WORKLOADS:
        for name in GO_PAIR:
            assert all(out["go_native"][w][name][str(t)] > 0 for t in (1, 2))
    assert "go map+RWMutex vs go sync.Map" in _claim(_table(4, 1), out["go_native"])
