"""The threaded runner and its Python binding: target loading, records, modes, errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.data.plan import OP_DELETE, OP_GET, OP_ITERATE, OP_LEN, OP_PUT, OP_PUT_IF_ABSENT, Plan
from harness.run.binding import ffi, lib
from harness.run.runner import THREAD_SEQ, Execution, Runner
from harness.run.target import Target, TargetError
from tests.fixtures.runner_support import (
    TINYMAP_C,
    PlanBuilder,
    build_so,
    key,
    standard_plan,
)


@pytest.fixture(scope="module")
def tinymap(tmp_path_factory: pytest.TempPathFactory) -> Target:
    d = tmp_path_factory.mktemp("tinymap")
    return Target.load(str(build_so(TINYMAP_C, d / "tinymap.so")))


@pytest.fixture(scope="module")
def runner(tinymap: Target) -> Runner:
    with Runner(tinymap, max_threads=4) as r:
        yield r  # type: ignore[misc]


# ------------------------------------------------------------------ loading


def test_load_tinymap(tinymap: Target) -> None:
    assert tinymap.name == "tinymap"
    assert tinymap.abi_version == 1
    assert tinymap.variants == ("spin", "error", "badcheck", "lost", "stuck")
    assert tinymap.variant_index(None) == 0
    assert tinymap.variant_index("correct") == 0
    assert tinymap.variant_index("error") == 2
    with pytest.raises(ValueError, match="spin, error"):
        tinymap.variant_index("nope")


def test_load_missing_path(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"no such file.*mf_target_v1"):
        Target.load(str(tmp_path / "absent.so"))


def test_load_without_symbol(tmp_path: Path) -> None:
    src = tmp_path / "empty.c"
    src.write_text("int not_a_target(void) { return 1; }\n")
    so = build_so(src, tmp_path / "empty.so")
    with pytest.raises(TargetError) as ei:
        Target.load(str(so))
    msg = str(ei.value)
    assert "no symbol mf_target_v1" in msg and str(so) in msg and "mapfuzz_target.h" in msg


def test_load_wrong_abi(tmp_path: Path) -> None:
    so = build_so(TINYMAP_C, tmp_path / "abi2.so", "TINYMAP_ABI=2")
    with pytest.raises(TargetError, match=r"ABI version 2, mapfuzz speaks 1"):
        Target.load(str(so))


def test_load_not_a_library(tmp_path: Path) -> None:
    bad = tmp_path / "junk.so"
    bad.write_text("not an ELF file")
    with pytest.raises(TargetError, match="cannot load"):
        Target.load(str(bad))


# ------------------------------------------------------------------ history


def model_check(plan: Plan, exe: Execution) -> None:
    """With disjoint keys per thread the whole history is sequential per key:
    every result is what a dict gives, and the post phase sees the last writes."""
    state: dict[int, bytes] = {}
    recs = list(exe.records)
    npre = len(plan.prefill)
    seq = [(op, recs[i]) for i, op in enumerate(plan.prefill)]
    threads = [r for r in recs[npre:] if r.thread != THREAD_SEQ]
    post = recs[npre + len(threads):]

    def apply(op: tuple[int, int, int], r: object) -> None:
        kind, k, v = op
        assert r.kind == kind and r.key == (k if kind <= OP_DELETE else 0)  # type: ignore[attr-defined]
        cur = state.get(k)
        if kind == OP_GET:
            assert (r.status, r.out) == ((1, cur) if cur else (0, None))  # type: ignore[attr-defined]
        elif kind == OP_PUT:
            assert (r.status, r.out) == ((1, cur) if cur else (0, None))  # type: ignore[attr-defined]
            state[k] = plan.values[v]
        elif kind == OP_PUT_IF_ABSENT:
            if cur:
                assert (r.status, r.out) == (0, cur)  # type: ignore[attr-defined]
            else:
                assert r.status == 1  # type: ignore[attr-defined]
                state[k] = plan.values[v]
        elif kind == OP_DELETE:
            assert (r.status, r.out) == ((1, cur) if cur else (0, None))  # type: ignore[attr-defined]
            state.pop(k, None)

    for op, r in seq:
        apply(op, r)
    per_thread: dict[int, list[object]] = {}
    for r in threads:
        per_thread.setdefault(r.thread, []).append(r)
    for t, ops in enumerate(plan.threads):
        got = per_thread.get(t, [])
        assert len(got) == len(ops)
        for i, (op, r) in enumerate(zip(ops, got, strict=True)):
            assert r.op == i  # type: ignore[attr-defined]
            apply(op, r)
    gets = post[: len(plan.keys)]
    for k, r in enumerate(gets):
        assert r.kind == OP_GET and r.key == k and r.thread == THREAD_SEQ
        assert r.out == state.get(k)
    it, ln = post[len(plan.keys)], post[len(plan.keys) + 1]
    assert it.kind == OP_ITERATE and it.items is not None
    assert sorted(it.items) == sorted((plan.keys[k], v) for k, v in state.items())
    assert ln.kind == OP_LEN and ln.length == len(state)
    # timestamps: closed intervals, strictly increasing per thread
    for r in recs:
        assert r.ret is not None and r.call < r.ret
    for t in range(len(plan.threads)):
        mine = [r for r in threads if r.thread == t]
        assert all(a.ret < b.call for a, b in itertools.pairwise(mine))  # type: ignore[operator]


@pytest.mark.parametrize("mode,strategy", [("controlled", "pct"), ("controlled", "random"),
                                           ("stress", "pct")])
def test_history_disjoint_keys(runner: Runner, mode: str, strategy: str) -> None:
    for seed in range(20):
        plan = standard_plan(seed=seed, nthreads=3, nops=16, nkeys=9, disjoint=True)
        exe = runner.run(plan, mode=mode, strategy=strategy, seed=seed, noise=0.2)
        assert exe.status == "ok", exe.message
        model_check(plan, exe)


def test_record_shape(runner: Runner) -> None:
    plan = standard_plan(seed=3)
    exe = runner.run(plan, seed=3)
    recs = exe.records
    n_par = sum(len(t) for t in plan.threads)
    assert len(recs) == len(plan.prefill) + n_par + len(plan.keys) + 2
    assert [r.thread for r in recs[: len(plan.prefill)]] == [THREAD_SEQ] * len(plan.prefill)
    par = recs[len(plan.prefill): len(plan.prefill) + n_par]
    expect = [(t, i) for t, ops in enumerate(plan.threads) for i in range(len(ops))]
    assert [(r.thread, r.op) for r in par] == expect
    for r, (kind, k, v) in zip(par, [op for t in plan.threads for op in t], strict=True):
        assert (r.kind, r.key) == (kind, k)
        assert r.value == (v if kind in (OP_PUT, OP_PUT_IF_ABSENT) else -1)
    post = recs[len(plan.prefill) + n_par:]
    assert [r.op for r in post] == list(range(len(post)))
    # a value read back is one that was written to that key
    for r in recs:
        if r.out is not None:
            assert plan.value_key[plan.values.index(r.out)] == r.key


def test_stress_timestamps_overlap_free_threads(runner: Runner) -> None:
    plan = standard_plan(seed=5, nthreads=3, nops=200)
    exe = runner.run(plan, mode="stress", seed=1, noise=0.05)
    assert exe.status == "ok", exe.message
    assert exe.trace == () and exe.events == ()
    calls = [r.call for r in exe.records] + [r.ret for r in exe.records]
    assert len(set(calls)) == len(calls)  # one global counter: all distinct
    assert exe.steps >= 2 * 600


# ------------------------------------------------------------------ errors


def test_bad_plans(runner: Runner) -> None:
    b = PlanBuilder([key(0), key(1)])
    ok_threads = [[b.op(OP_PUT, 0)]]
    too_many = b.plan([], [[] for _ in range(5)])  # runner has max_threads=4
    assert runner.run(too_many).status == "bad-plan"
    assert "5 threads" in runner.run(too_many).message
    bad_key = b.plan([], [[(OP_GET, 2, -1)]])
    e = runner.run(bad_key)
    assert e.status == "bad-plan" and "key index 2" in e.message
    bad_val = b.plan([], [[(OP_PUT, 0, 99)]])
    assert "value index 99" in runner.run(bad_val).message
    long_key = Plan(0, 0, 0, (b"i" + b"x" * 40,), (), (), (), ((),))
    e = runner.run(long_key)
    assert e.status == "bad-plan" and "41 bytes" in e.message
    long_val = Plan(0, 0, 0, (b"i",), (b"v" * 300,), (0,), (), (((OP_PUT, 0, 0),),))
    assert runner.run(long_val).status == "bad-plan"
    bad_kind = b.plan([(9, 0, -1)], ok_threads)
    assert "unknown op kind" in runner.run(bad_kind).message
    assert runner.run(b.plan([], [])).status == "bad-plan"  # no threads
    # the runner is still fine afterwards
    assert runner.run(b.plan([], ok_threads)).status == "ok"


def test_bad_args(runner: Runner) -> None:
    plan = standard_plan()
    with pytest.raises(ValueError, match="unknown mode"):
        runner.run(plan, mode="fast")
    with pytest.raises(ValueError, match="unknown strategy"):
        runner.run(plan, strategy="dfs")
    with pytest.raises(ValueError, match="needs replay"):
        runner.run(plan, strategy="replay")
    assert runner.run(plan, noise=2.0).status == "bad-plan"


def test_target_error_and_invariant(runner: Runner, tinymap: Target) -> None:
    plan = standard_plan(seed=2, variant=tinymap.variant_index("error"))
    e = runner.run(plan)
    assert e.status == "target-error" and "returned -7" in e.message
    assert any(r.status == -7 for r in e.records)
    assert len(e.records) == len(plan.prefill) + 48 + len(plan.keys) + 2  # finished anyway
    plan = standard_plan(seed=2, variant=tinymap.variant_index("badcheck"))
    e = runner.run(plan)
    assert e.status == "invariant" and "badcheck variant always fails" in e.message
    plan = standard_plan(seed=2, variant=99)
    e = runner.run(plan)
    assert e.status == "target-error" and "create returned NULL" in e.message


def spin_plan(variant: int) -> Plan:
    b = PlanBuilder([key(0), key(1, b"S")])
    return b.plan([b.op(OP_PUT, 0)],
                  [[b.op(OP_PUT, 0), b.op(OP_PUT, 1), b.op(OP_GET, 0)],
                   [b.op(OP_GET, 0), b.op(OP_PUT, 0)]], variant)


def test_hang_controlled(runner: Runner, tinymap: Target) -> None:
    plan = spin_plan(tinymap.variant_index("spin"))
    for strategy in ("pct", "random"):
        e = runner.run(plan, strategy=strategy, step_bound=5000)
        assert e.status == "hang" and "step bound 5000" in e.message
        assert e.steps == 5000
        hung = [r for r in e.records if r.thread == 0 and r.op == 1]
        assert hung and hung[0].ret is None  # the spinning put never returned
        assert all(r.op < 2 for r in e.records if r.thread == 0)  # op 2 never started
        assert runner.run(standard_plan()).status == "ok"  # all threads came back


def test_hang_stress(runner: Runner, tinymap: Target) -> None:
    plan = spin_plan(tinymap.variant_index("spin"))
    e = runner.run(plan, mode="stress", timeout_ms=200)
    assert e.status == "hang" and "watchdog" in e.message
    assert runner.run(standard_plan(), mode="stress").status == "ok"


def test_stuck_thread_breaks_and_replaces_runner(tinymap: Target) -> None:
    plan = spin_plan(tinymap.variant_index("stuck"))
    with Runner(tinymap, max_threads=2) as r:
        old = r._r
        e = r.run(plan, timeout_ms=100)
        assert e.status == "hang" and "create a new one" in e.message
        assert r._r != old  # replaced transparently
        assert r.run(standard_plan(nthreads=2)).status == "ok"
        res = ffi.new("mf_result *")
        assert lib.mf_runner_run(old, ffi.NULL, ffi.NULL, res) == -1
        assert res.broken and b"broken" in ffi.string(res.message)


@pytest.mark.parametrize(("replay", "main_state"), [
    ([0, 0], "running"),        # main plays thread 0, which sleeps in the target
    ([0, 1, 1, 0], "parked"),   # main plays thread 1, parked while thread 0 sleeps
    ([0, 1], "done"),           # main plays thread 1 to its end, then thread 0 sleeps
])
def test_stuck_thread_breaks_the_runner_whatever_main_does(
        tinymap: Target, replay: list[int], main_state: str) -> None:
    """Main plays the run's first thread (runner.c, "Main plays"). Whether the thread
    stuck in the target is main's own (the watchdog thread's signal takes main out),
    or a pool thread while main is parked or waiting for the end, the run ends as a
    hang within the timeout and the grace period, and the runner is replaced."""
    plan = spin_plan(tinymap.variant_index("stuck"))
    with Runner(tinymap, max_threads=2) as r:
        old = r._r
        e = r.run(plan, replay=replay, timeout_ms=100)
        assert e.status == "hang" and "watchdog fired after 100 ms" in e.message, main_state
        assert "create a new one" in e.message
        assert list(e.trace[:2]) == replay[:2]  # the thread main played
        assert r._r != old
        assert r.run(standard_plan(nthreads=2)).status == "ok"


def test_a_thread_blocking_the_rescue_signal_hands_every_thread_to_the_pool(
        tinymap: Target) -> None:
    """Main plays a thread only where the watchdog's signal can reach it: from a
    thread that blocks the signal (runner.c uses SIGRTMIN+6), the stuck thread 0 runs
    on a pool thread, and the run still ends as a hang with the runner replaced."""
    import signal
    import threading

    plan = spin_plan(tinymap.variant_index("stuck"))
    got: list[Execution] = []

    def blocked() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMIN + 6})
        with Runner(tinymap, max_threads=2) as r:
            got.append(r.run(plan, replay=[0, 0], timeout_ms=100))
            got.append(r.run(standard_plan(nthreads=2)))

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the run never returned: main played the stuck thread unrescued"
    assert got[0].status == "hang" and "create a new one" in got[0].message
    assert got[1].status == "ok"


def test_closed_runner(tinymap: Target) -> None:
    r = Runner(tinymap, max_threads=2)
    r.close()
    r.close()
    with pytest.raises(ValueError, match="closed"):
        r.run(standard_plan(nthreads=2))


def test_plan_cache_reuses_buffers(runner: Runner) -> None:
    plan = standard_plan(seed=8)
    a = runner.run(plan, seed=4)
    b = runner.run(standard_plan(seed=8), seed=4)  # equal plan, another object
    assert a.records == b.records and a.trace_hash == b.trace_hash


# ------------------------------------------------------------------ evacmap

evacmap_missing = lib.mf_evacmap() == ffi.NULL


@pytest.mark.skipif(evacmap_missing, reason="evacmap not built yet (mf_evacmap() is NULL)")
@pytest.mark.parametrize("mode", ["controlled", "stress"])
def test_evacmap_disjoint(mode: str) -> None:
    t = Target.load("evacmap")
    with Runner(t, max_threads=4) as r:
        for seed in range(10):
            plan = standard_plan(seed=seed, nthreads=3, nops=16, nkeys=9, disjoint=True)
            exe = r.run(plan, mode=mode, seed=seed, noise=0.1)
            assert exe.status == "ok", exe.message
            model_check(plan, exe)


@pytest.mark.skipif(evacmap_missing, reason="evacmap not built yet (mf_evacmap() is NULL)")
def test_evacmap_deterministic() -> None:
    t = Target.load("evacmap")
    with Runner(t, max_threads=4) as r:
        plan = standard_plan(seed=1)
        first = r.run(plan, seed=9)
        assert first.status == "ok", first.message
        for _ in range(50):
            again = r.run(plan, seed=9)
            assert (again.trace_hash, again.records) == (first.trace_hash, first.records)
        rep = r.run(plan, replay=first.trace)
        assert (rep.trace_hash, rep.records) == (first.trace_hash, first.records)


@pytest.mark.parametrize("variant", [None, "reader-no-seq-validate", "iter-no-snapshot"])
def test_fast_decode_matches_record_by_record(variant: str | None) -> None:
    """_records_fast (column-wise, for runs where every op returned) gives the same
    records as _records_slow on real evacmap runs: returned bytes, iterate items, lens."""
    import random

    from harness.data.plan import compile_schedule
    from harness.data.schedule import MapConfig
    from harness.run.runner import _REC, _c_plan, _Columns, _dyn_struct, _rec_struct
    from harness.search.generate import GenConfig, generate

    t = Target.load("evacmap")
    rng = random.Random(5)
    fast = 0
    with Runner(t, max_threads=4) as r:
        for n in range(5):
            cfg = GenConfig(threads=rng.randint(1, 4), ops_per_thread=rng.randint(2, 20),
                            keys=rng.randint(1, 10), capacity=None)
            plan = compile_schedule(generate(rng, cfg, MapConfig(variant=variant)), t.variants)
            cp = _c_plan(plan)
            for seed in range(10):
                exe = r.run(plan, seed=seed + 50 * n, mode=("controlled", "stress")[seed % 2],
                            record_events=False)
                res = r._res
                nrec = res.nrecords
                raw = ffi.buffer(res.records, nrec * _REC.size)
                arena = ffi.buffer(res.arena, res.arena_len)[:] if res.arena_len else b""
                slow = Runner._records_slow(raw, arena, cp)
                assert exe.records == slow
                dyn = _dyn_struct(nrec).unpack_from(raw)
                if nrec and (1 << 64) - 1 not in dyn[4::6]:
                    cols = _Columns(_rec_struct(nrec).unpack_from(raw), cp.opidx)
                    assert Runner._records_fast(dyn, arena, cp, cols) == slow
                    fast += 1
    assert fast
