"""--cluster: a campaign on a real Dask LocalCluster (a scheduler and 2 worker
processes with one thread each) finds what one local worker finds, even when a Dask
worker is killed in the middle of the campaign."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.search.campaign import CampaignConfig, run_campaign
from harness.search.results import CampaignResult, Report

distributed = pytest.importorskip(
    "distributed", reason="Dask distributed is not installed: pip install 'mapfuzz[cluster]'")
dask = pytest.importorskip("dask")

SEEDED = {"variant": "reader-no-seq-validate", "seed": 5, "max_execs": 1600, "keep_going": True}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    # the setting must also reach a worker the nanny restarts (the kill test), so it
    # stays in the environment and the config for the cluster's whole life
    os.environ["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
    try:
        with dask.config.set({"distributed.worker.daemon": False}):
            lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                          dashboard_address=None)
            client = distributed.Client(lc)
            yield client
            client.close()
            lc.close()
    finally:
        os.environ.pop("DASK_DISTRIBUTED__WORKER__DAEMON", None)


def _run(tmp: Path, name: str, progress: Any = None, **kw: Any) -> CampaignResult:
    cfg = CampaignConfig(canary=False, seconds=600, artifacts=tmp / name, **kw)
    return run_campaign(cfg, progress)


def _summary(r: CampaignResult) -> list[tuple[object, ...]]:
    return [(f.signature, f.index, f.hits, f.reproducer.name) for f in r.findings]


@pytest.fixture(scope="module")
def local_result(tmp_path_factory: pytest.TempPathFactory) -> CampaignResult:
    return _run(tmp_path_factory.mktemp("local"), "jobs1", jobs=1, **SEEDED)


def test_cluster_finds_the_seeded_bug_and_writes_reproducers_here(
    cluster: Any, local_result: CampaignResult, tmp_path: Path,
) -> None:
    address = cluster.scheduler.address
    res = _run(tmp_path, "cluster", cluster=address, **SEEDED)
    assert res.cluster == address and res.jobs == 2 and res.execs == local_result.execs
    assert res.findings and res.findings[0].cls == "torn-value"
    assert _summary(res) == _summary(local_result)
    for f in res.findings:
        assert f.reproducer.parent == tmp_path / "cluster" and f.reproducer.exists()
    # the tasks ran on the Dask workers, not here: each keeps a mapfuzz worker process
    assert sum(cluster.run(_count_workers).values()) == 0  # closed at the end


def _count_workers() -> int:
    from harness.search import cluster as mod

    return len(mod._WORKERS)


def test_a_dask_worker_killed_mid_campaign_loses_nothing(
    cluster: Any, local_result: CampaignResult, tmp_path: Path,
) -> None:
    before = cluster.run(os.getpid)
    victim = next(iter(before.values()))
    killed: list[int] = []

    def progress(result: CampaignResult, report: Report | None) -> None:
        if not killed and result.execs:
            os.kill(victim, signal.SIGKILL)  # the worker process, mid-task
            killed.append(victim)

    res = _run(tmp_path, "killed", progress, cluster=cluster.scheduler.address, **SEEDED)
    assert killed
    cluster.wait_for_workers(2, timeout=60)
    assert victim not in cluster.run(os.getpid).values()  # it really died (and came back)
    assert res.execs == local_result.execs  # the lost task ran again, once
    assert _summary(res) == _summary(local_result)
