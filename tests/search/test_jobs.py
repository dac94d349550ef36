"""--jobs: several worker processes on one campaign give what one worker gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.reproducer import load
from harness.run.worker import Finding
from harness.search.campaign import CampaignConfig, run_campaign
from harness.search.jobs import slice_size
from harness.search.results import CampaignResult
from harness.search.slices import Ledger, SliceResult
from tests.fixtures.runner_support import ROOT, build_so


def _finding(index: int) -> Finding:
    return Finding(index, {}, RunSpec(), (Violation("lost-write", None, (), "x"),), (), 0)


def test_ledger_releases_findings_in_index_order_once_lower_indices_ran() -> None:
    led = Ledger(100, first_only=False)
    a, b, c = led.take(10), led.take(10), led.take(10)
    assert (a, b, c) == ((0, 10), (10, 20), (20, 30))
    # the second slice finishes first: its finding waits for the first slice
    assert led.put(SliceResult(10, 20, 10, findings=[_finding(15)])) == []
    released = led.put(SliceResult(0, 10, 10, findings=[_finding(7)]))
    assert [f.index for f in released] == [7, 15]
    assert led.put(SliceResult(20, 30, 10)) == []
    assert led.prefix == 30


def test_ledger_first_only_stops_handing_out_and_keeps_the_lowest_finding() -> None:
    led = Ledger(1000, first_only=True)
    low, high = led.take(50), led.take(50)
    assert led.put(SliceResult(*high, 50, findings=[_finding(60)])) == []
    assert led.take(50) is None  # nothing above the finding is handed out
    released = led.put(SliceResult(low[0], 21, 21, findings=[_finding(20)]))
    assert [f.index for f in released] == [20]
    assert led.flush() == []  # 60 is above the first finding: dropped


def test_ledger_flush_releases_findings_above_a_gap() -> None:
    led = Ledger(100, first_only=False)
    first, second = led.take(10), led.take(10)
    led.put(SliceResult(second[0], 20, 10, findings=[_finding(12)]))
    led.put(SliceResult(first[0], 4, 4))  # the time ran out inside the first slice
    assert [f.index for f in led.flush()] == [12]


def test_slice_size_aims_at_a_batch_and_is_a_multiple_of_eight() -> None:
    assert slice_size(0, 1.0) == 8
    assert slice_size(1000, 0.5) == 496
    assert slice_size(10**9, 0.001) == 1 << 14


def _campaign(tmp: Path, jobs: int, **kw: object) -> CampaignResult:
    cfg = CampaignConfig(canary=False, seconds=600, artifacts=tmp / f"jobs{jobs}", jobs=jobs,
                         **kw)  # type: ignore[arg-type]
    return run_campaign(cfg)


def _summary(result: CampaignResult) -> list[tuple[object, ...]]:
    return [(f.signature, f.index, f.hits, f.reproducer.name) for f in result.findings]


def test_jobs_2_finds_the_same_first_finding_as_jobs_1(tmp_path: Path) -> None:
    # PCT needs hundreds of inputs here, so the first finding is many slices in
    one = _campaign(tmp_path, 1, variant="publish-ctrl-before-value", seed=3, max_execs=5000)
    two = _campaign(tmp_path, 2, variant="publish-ctrl-before-value", seed=3, max_execs=5000)
    assert one.findings and one.findings[0].index is not None
    assert one.findings[0].index > 50
    assert _summary(one) == _summary(two)
    # one job stops at the finding (feedback skipped some inputs below it); two jobs
    # may have run inputs above it in the other worker before it was known
    assert 0 < one.execs <= one.findings[0].index + 1
    # the reproducers are the same file content
    assert (load(one.findings[0].reproducer).trace ==
            load(two.findings[0].reproducer).trace)


def test_jobs_2_finds_the_same_findings_and_hits_for_an_execution_budget(
    tmp_path: Path,
) -> None:
    kw = {"variant": "reader-no-seq-validate", "seed": 5, "max_execs": 1200, "keep_going": True}
    one = _campaign(tmp_path, 1, **kw)
    two = _campaign(tmp_path, 2, **kw)
    assert one.execs == two.execs <= 1200  # feedback may skip inputs, the same ones
    assert len(one.findings) >= 2 and one.hits > len(one.findings)  # deduplicated
    assert _summary(one) == _summary(two)
    # one reproducer per distinct finding, the lowest input of each signature
    assert sorted(p.name for p in (tmp_path / "jobs2").iterdir()) == sorted(
        f.reproducer.name for f in two.findings)
    sigs = [f.signature for f in two.findings]
    assert len(set(sigs)) == len(sigs)
    assert [f.index for f in two.findings] == sorted(f.index or 0 for f in two.findings)


@pytest.fixture(scope="module")
def crashmap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_so(ROOT / "tests" / "fixtures" / "crashmap.c",
                    tmp_path_factory.mktemp("so") / "crashmap.so")


def test_a_crashed_worker_is_replaced_and_its_input_reported(
    crashmap: Path, tmp_path: Path
) -> None:
    kw = {"target": str(crashmap), "max_execs": 24, "keep_going": True}
    one = _campaign(tmp_path, 1, **kw)
    two = _campaign(tmp_path, 2, **kw)
    assert [f.cls for f in two.findings] == ["crash"]
    # the budget is an input range (a big schedule gets fewer seeds): as many
    # executions as with one job, and it went on after each crash
    assert 0 < two.execs == one.execs <= 24 and two.findings[0].hits >= 2
    assert _summary(one) == _summary(two)
    rep = load(two.findings[0].reproducer)
    assert rep.violations[0].cls == "crash" and rep.found["input"] == two.findings[0].index
