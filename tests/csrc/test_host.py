"""The host runtime: controlled scheduling (determinism, strategies, replay),
schedule points, site ids, interleaving coverage."""

from __future__ import annotations

import pytest

from harness.run.binding import ffi, lib
from harness.run.runner import COV_SIZE, Runner, site_name
from harness.run.target import Target
from tests.fixtures.runner_support import TINYMAP_C, build_so, standard_plan


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    d = tmp_path_factory.mktemp("tinymap")
    t = Target.load(str(build_so(TINYMAP_C, d / "tinymap.so")))
    with Runner(t, max_threads=4) as r:
        yield r  # type: ignore[misc]


@pytest.mark.parametrize("strategy", ["pct", "random"])
def test_same_seed_same_execution_1000_times(runner: Runner, strategy: str) -> None:
    plan = standard_plan(seed=11)
    first = runner.run(plan, strategy=strategy, seed=42)
    assert first.status == "ok"
    hashes = set()
    for _ in range(1000):
        e = runner.run(plan, strategy=strategy, seed=42, record_events=False)
        hashes.add(e.trace_hash)
        assert e.records == first.records
        assert e.trace == first.trace
    assert hashes == {first.trace_hash}


@pytest.mark.parametrize("target", ["tinymap", "evacmap"])
def test_main_playing_a_thread_changes_no_execution(
        runner: Runner, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default main plays the first thread of a controlled run itself
    (csrc/runner.c, "Main plays"); MAPFUZZ_MAIN_PLAYS=0 makes it hand every thread
    to the pool. Which OS thread plays which index changes no execution: same
    records, decision trace, trace hash and events for every seed and strategy,
    replays included (evacmap keeps per-thread state in thread-local storage)."""
    t = runner.target if target == "tinymap" else Target.load("evacmap")
    plan = standard_plan(seed=21)
    monkeypatch.setenv("MAPFUZZ_MAIN_PLAYS", "0")
    with Runner(t, max_threads=4) as pool_only:
        monkeypatch.delenv("MAPFUZZ_MAIN_PLAYS")
        with Runner(t, max_threads=4) as main_plays:
            for strategy in ("pct", "random"):
                for seed in range(100):
                    a = pool_only.run(plan, strategy=strategy, seed=seed)
                    b = main_plays.run(plan, strategy=strategy, seed=seed)
                    assert a.status == "ok", a.message
                    assert (a.trace_hash, a.records, a.trace, a.events) == (
                        b.trace_hash, b.records, b.trace, b.events)
                    if seed % 10 == 0:
                        c = main_plays.run(plan, replay=a.trace)
                        assert (c.trace_hash, c.records) == (a.trace_hash, a.records)


@pytest.mark.parametrize("strategy", ["pct", "random"])
def test_different_seeds_different_traces(runner: Runner, strategy: str) -> None:
    plan = standard_plan(seed=11)
    hashes = {runner.run(plan, strategy=strategy, seed=s).trace_hash for s in range(50)}
    assert len(hashes) > 25


@pytest.mark.parametrize("strategy", ["pct", "random"])
def test_replay_reproduces(runner: Runner, strategy: str) -> None:
    plan = standard_plan(seed=12)
    for seed in range(30):
        e = runner.run(plan, strategy=strategy, seed=seed)
        r = runner.run(plan, replay=e.trace)
        assert r.status == "ok", r.message
        assert (r.trace_hash, r.records, r.trace, r.events) == (
            e.trace_hash, e.records, e.trace, e.events)


def test_replay_of_a_shortened_trace_is_deterministic(runner: Runner) -> None:
    plan = standard_plan(seed=13)
    e = runner.run(plan, strategy="random", seed=3)
    short = e.trace[: len(e.trace) // 2]
    a = runner.run(plan, replay=short)
    b = runner.run(plan, replay=short)
    assert a.status == "ok"
    assert (a.trace_hash, a.records) == (b.trace_hash, b.records)
    assert a.trace[: len(short)] == short
    # the output trace of a replay is complete: replaying it gives the same run
    c = runner.run(plan, replay=a.trace)
    assert c.trace_hash == a.trace_hash


def test_replay_divergence(runner: Runner) -> None:
    plan = standard_plan(seed=14)
    e = runner.run(plan, replay=[0, 7])  # thread 7 does not exist
    assert e.status == "replay-diverged" and "does not exist" in e.message
    e = runner.run(plan, replay=[0, 0, 3, 1, 2, 2])  # step 2 comes after 3
    assert e.status == "replay-diverged"
    assert runner.run(plan).status == "ok"  # the pool recovered


def test_pct_depth_one_never_preempts(runner: Runner) -> None:
    plan = standard_plan(seed=15)
    for seed in range(20):
        e = runner.run(plan, strategy="pct", pct_depth=1, seed=seed)
        assert e.preemptions == 0
        assert len(e.trace) == 2 * 3  # start, then one hand-off per finished thread
    deeper = [runner.run(plan, strategy="pct", pct_depth=4, seed=s).preemptions for s in range(20)]
    assert max(deeper) >= 1 and max(deeper) <= 3


def test_events_and_steps(runner: Runner) -> None:
    plan = standard_plan(seed=16)
    e = runner.run(plan, strategy="random", seed=1)
    nops = sum(len(t) for t in plan.threads)
    # tinymap calls no host points itself: op calls, op returns, thread exits
    assert e.steps == 2 * nops + 3 == len(e.events)
    assert {ev.site for ev in e.events} == {"op:call", "op:return", "thread:exit"}
    assert {ev.kind for ev in e.events} == {2, 3, 4}
    for t in range(3):
        mine = [ev for ev in e.events if ev.thread == t]
        n = len(plan.threads[t])
        assert [(ev.kind, ev.op) for ev in mine] == [
            (k, i) for i in range(n) for k in (2, 3)] + [(4, n)]
    # the trace says who ran each event
    pairs = list(zip(e.trace[::2], e.trace[1::2], strict=True))
    who: list[int] = []
    for i, (step, t) in enumerate(pairs):
        end = pairs[i + 1][0] if i + 1 < len(pairs) else e.steps
        who += [t] * (end - step)
    assert who == [ev.thread for ev in e.events]
    assert e.preemptions > 0


def test_coverage(runner: Runner) -> None:
    plan = standard_plan(seed=17)
    runner.run(plan, strategy="random", seed=5)
    a = runner.coverage()
    assert len(a) == COV_SIZE and sum(1 for x in a if x) > 5
    runner.run(plan, strategy="random", seed=6)
    b = runner.coverage()
    runner.run(plan, strategy="random", seed=5)
    assert runner.coverage() == a != b
    runner.run(plan, mode="stress")
    assert not any(runner.coverage())  # cleared; stress runs are not scheduled


def test_site_names(runner: Runner) -> None:
    runner.run(standard_plan(seed=17), strategy="random", seed=5)  # registers op:call
    assert lib.mf_site_name(0xDEADBEEF) == ffi.NULL
    assert site_name(_fnv1a(b"op:call")) == "op:call"  # ids are FNV-1a 32 of the name


def _fnv1a(name: bytes) -> int:
    h = 2166136261
    for ch in name:
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def test_null_host_is_inert(runner: Runner) -> None:
    """The null host (maps driven outside a runner: tests, the single-thread bench)
    has no context, registers no site and leaves every runner's executions as they
    were."""
    h = lib.mf_host_null()
    assert h == lib.mf_host_null()  # one static table
    assert h.ctx == ffi.NULL and h.point != ffi.NULL and h.blocked != ffi.NULL
    plan = standard_plan(seed=23)
    before = runner.run(plan, strategy="random", seed=3)
    cov = runner.coverage()
    name = b"null-host:probe"
    for _ in range(1000):
        h.point(h.ctx, name)
        h.blocked(h.ctx, name)
    assert lib.mf_site_name(_fnv1a(name)) == ffi.NULL  # never seen as a site
    assert runner.coverage() == cov
    after = runner.run(plan, strategy="random", seed=3)
    assert (after.records, after.trace, after.trace_hash) == (
        before.records, before.trace, before.trace_hash)
    assert runner.coverage() == cov
