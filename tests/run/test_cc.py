"""`mapfuzz cc`: instrumented targets built from C and C++ sources, their schedule
points, lock and spin handling, the C++ abort path, and site names."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data.plan import Plan, compile_schedule
from harness.data.schedule import MapConfig
from harness.run.cc import CcError, build, include_dir
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.generate import GenConfig, generate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("g++") is None,
    reason="mapfuzz cc needs gcc and g++ (apt-get install build-essential)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Target]:
    out = tmp_path_factory.mktemp("cc")
    return {
        "authormap": Target.load(str(build([FIXTURES / "authormap.c"], out / "authormap.so",
                                           ["-Wall", "-Wextra", "-Werror"]))),
        "cxxmap": Target.load(str(build([FIXTURES / "cxxmap.cpp"], out / "cxxmap.so",
                                        ["-std=c++17", "-Wall", "-Wextra", "-Werror"]))),
    }


def plan_for(target: Target, variant: str | None, seed: int, **gen: int | float) -> Plan:
    cfg = GenConfig(**gen)  # type: ignore[arg-type]
    if not target.caps & 2 and "op_weights" not in gen:   # no put_if_absent
        cfg = GenConfig(**{**gen, "op_weights": {"get": 3, "put": 4, "delete": 2}})  # type: ignore[arg-type]
    s = generate(random.Random(seed), cfg, MapConfig(target=target.spec, variant=variant))
    return compile_schedule(s, target.variants)


def test_builds_c_and_cxx_targets_with_the_runtime(built: dict[str, Target]) -> None:
    for t in built.values():
        assert t.instrumented
        assert t.path is not None
        syms = subprocess.run(["nm", "-D", t.path], capture_output=True, text=True).stdout
        assert "mf_instrument_v1" in syms
        assert "__tsan_" not in syms          # served inside the .so, never by libtsan
        deps = subprocess.run(["ldd", t.path], capture_output=True, text=True).stdout
        assert "libtsan" not in deps


def test_uninstrumented_targets_are_not_instrumented() -> None:
    assert not Target.load("evacmap").instrumented


def test_points_inside_operations_are_named_by_file_and_line(built: dict[str, Target]) -> None:
    t = built["authormap"]
    plan = plan_for(t, None, 1, threads=2, ops_per_thread=6, keys=4)
    with Runner(t) as r:
        e = r.run(plan, seed=1)
    assert e.status == "ok"
    points = [ev for ev in e.events if ev.kind in (0, 1)]
    ops = sum(1 for ev in e.events if ev.kind == 2)
    # tens of compiler-placed points per operation, where an uninstrumented map has none
    assert len(points) > 10 * ops
    sites = {ev.site for ev in points}
    assert any(s.startswith("authormap.c:") and "(am_get)" in s for s in sites), sites
    assert any("(upsert)" in s for s in sites)


def test_sync_density_keeps_only_atomics_and_lock_calls(built: dict[str, Target]) -> None:
    from harness.run.binding import lib

    t = built["authormap"]
    plan = plan_for(t, None, 1, threads=2, ops_per_thread=6, keys=4)
    with Runner(t) as r:
        full = r.run(plan, seed=1)
        lib.mf_target_density(t._table, 0)
        try:
            sync = r.run(plan, seed=1)
        finally:
            lib.mf_target_density(t._table, 1)
    assert sync.status == "ok"
    assert 0 < len(sync.events) < len(full.events)


def test_a_busy_mutex_yields_to_its_holder(built: dict[str, Target]) -> None:
    """Two threads on one stripe: the loser reports `blocked` at its lock call and
    the holder runs; every run finishes (a blocking lock would deadlock the one
    running thread)."""
    t = built["authormap"]
    blocked_at_lock = 0
    with Runner(t) as r:
        for seed in range(12):
            plan = plan_for(t, None, seed, threads=2, ops_per_thread=8, keys=1)
            e = r.run(plan, strategy="random", seed=seed)
            assert e.status == "ok", (seed, e.message)
            blocked_at_lock += sum(1 for ev in e.events if ev.kind == 1)
    assert blocked_at_lock > 0


def test_a_spin_lock_holder_preempted_is_not_a_livelock(built: dict[str, Target]) -> None:
    """cxxmap's spinlock variant spins on an atomic_flag: spin detection reports the
    fruitless re-reads as `blocked`, so PCT runs the holder instead of spinning to
    the step bound."""
    t = built["cxxmap"]
    spun = 0
    with Runner(t) as r:
        for seed in range(16):
            plan = plan_for(t, "spinlock", seed, threads=3, ops_per_thread=6, keys=2,
                            prefill_fraction=0.0)
            e = r.run(plan, strategy="pct", seed=seed, step_bound=200_000)
            assert e.status == "ok", (seed, e.message)
            spun += sum(1 for ev in e.events if ev.kind == 1 and "cxxmap.cpp" in ev.site)
    assert spun > 0


def test_an_aborted_cxx_run_releases_its_raii_lock(built: dict[str, Target]) -> None:
    """hang-under-lock livelocks holding a process-wide std::mutex in a lock_guard.
    The abort unwinds the thread and runs the guard's destructor, so the next
    execution (same process, same mutex) runs to the end instead of deadlocking."""
    t = built["cxxmap"]
    with Runner(t) as r:
        hang = plan_for(t, "hang-under-lock", 0, threads=2, ops_per_thread=4, keys=2,
                        prefill_fraction=0.0)
        e = r.run(hang, seed=0, step_bound=20_000)
        assert e.status == "hang"
        for seed in range(3):
            ok = plan_for(t, None, seed, threads=2, ops_per_thread=4, keys=2,
                          prefill_fraction=0.0)
            e2 = r.run(ok, seed=seed, step_bound=20_000)
            assert e2.status == "ok", e2.message


def test_stress_mode_runs_the_same_instrumented_target(built: dict[str, Target]) -> None:
    t = built["authormap"]
    with Runner(t) as r:
        for seed in range(3):
            plan = plan_for(t, None, seed, threads=3, ops_per_thread=16, keys=4)
            e = r.run(plan, mode="stress", seed=seed, noise=0.05)
            assert e.status == "ok"


def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CcError, match="no such source file"):
        build([tmp_path / "missing.c"])
    bad = tmp_path / "bad.c"
    bad.write_text("int f( {\n")
    with pytest.raises(CcError, match=r"compiling .*bad.c failed: .*error"):
        build([bad], tmp_path / "bad.so")
    with pytest.raises(CcError, match="unknown source kind"):
        build([tmp_path / "x.txt"]) if (tmp_path / "x.txt").write_text("") == 0 else None


def test_cli_builds_and_prints_the_include_dir(tmp_path: Path) -> None:
    def cc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "cc", *args],
                              capture_output=True, text=True, cwd=tmp_path)

    inc = cc("--print-include")
    assert inc.returncode == 0 and Path(inc.stdout.strip()) == include_dir()
    assert (include_dir() / "mapfuzz_target.h").is_file()
    out = tmp_path / "m.so"
    ok = cc("-o", str(out), str(FIXTURES / "authormap.c"), "--", "-O2", "-Wall", "-Werror")
    assert ok.returncode == 0, ok.stderr
    assert out.is_file()
    missing = cc("nope.c")
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "nope.c" in missing.stderr


def test_a_rebuilt_library_with_the_same_code_replays_with_the_same_sites(
    built: dict[str, Target], tmp_path: Path
) -> None:
    """Sites are named file:line, not by code offset: the same map linked after an
    extra object (every address moves) replays a finding's trace to the same trace
    hash (which folds in every site) and the same records."""
    from harness.search.campaign import CampaignConfig, make_engine
    from harness.search.engine import first_finding

    a = built["authormap"]
    engine = make_engine(CampaignConfig(target=a.spec, variant="get-copy-unlocked", seed=1), a)
    with Runner(a) as r:
        hit = first_finding(engine, r, a, 400)
    assert hit is not None
    item, outcome = hit
    pad = tmp_path / "pad.c"
    pad.write_text("int authormap_pad(int x) { int s = 0; for (int i = 0; i < x; i++) "
                   "s += i * x ^ (s >> 3); return s; }\n")
    b = Target.load(str(build([pad, FIXTURES / "authormap.c"], tmp_path / "moved.so",
                              ["-Wall", "-Wextra", "-Werror"])))
    with Runner(b) as r:
        again = r.run(item.plan, replay=outcome.execution.trace)
    assert again.trace_hash == outcome.execution.trace_hash
    assert again.records == outcome.execution.records
    points = {e.site for e in again.events if e.kind in (0, 1)}
    assert points and all(s.startswith("authormap.c:") for s in points), points


def test_every_atomic_and_memory_call_is_performed(tmp_path: Path) -> None:
    """tests/fixtures/cc_atomics.c checks each hooked operation's result: outside a
    run (plain operations) and inside a controlled run (each one a point too)."""
    import ctypes

    so = build([FIXTURES / "cc_atomics.c"], tmp_path / "atomics.so", ["-Wall", "-Werror"])
    nm = subprocess.run(["nm", str(so)], capture_output=True, text=True).stdout
    for hook in ("__tsan_atomic8_fetch_nand", "__tsan_atomic64_compare_exchange_weak",
                 "__tsan_atomic16_store", "__tsan_atomic_signal_fence", "__wrap_memmove"):
        assert hook in nm
    assert ctypes.CDLL(str(so)).mf_test_atomics() == 0
    t = Target.load(str(so))
    plan = plan_for(t, None, 0, threads=1, ops_per_thread=3, keys=1, prefill_fraction=0.0,
                    op_weights={"get": 1})
    with Runner(t) as r:
        e = r.run(plan, seed=0)
    assert e.status == "ok", e.message
    assert sum(1 for ev in e.events if ev.kind == 0) > 100


def test_a_missing_symbol_is_a_build_error(tmp_path: Path) -> None:
    src = tmp_path / "u.c"
    src.write_text("int nowhere(void);\nint f(void) { return nowhere(); }\n")
    with pytest.raises(CcError, match="nowhere"):
        build([src], tmp_path / "u.so")


def test_a_condition_variable_wait_yields(built: dict[str, Target]) -> None:
    """cxxmap's condvar-gate waits in std::condition_variable::wait (out of line in
    libstdc++) and pthread_cond_clockwait: both wrapped, a waiter reports `blocked`
    and the gate's holder runs; no run sleeps in the kernel."""
    t = built["cxxmap"]
    src = (FIXTURES / "cxxmap.cpp").read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(src) if "g_cv.wait(" in text)
    waited = 0
    with Runner(t) as r:
        for seed in range(12):
            plan = plan_for(t, "condvar-gate", seed, threads=3, ops_per_thread=6, keys=2,
                            prefill_fraction=0.0)
            e = r.run(plan, strategy="pct", seed=seed, step_bound=200_000, timeout_ms=5_000)
            assert e.status == "ok", (seed, e.message)
            waited += sum(1 for ev in e.events
                          if ev.kind == 1 and ev.site.startswith(f"cxxmap.cpp:{line} "))
    assert waited > 0


def test_points_flag_sets_the_default_density(tmp_path: Path) -> None:
    from harness.run.binding import lib
    from harness.run.cc import parse_points

    assert (parse_points("sync"), parse_points("all"), parse_points("4")) == (0, 1, 4)
    with pytest.raises(CcError, match="--points"):
        parse_points("some")
    so = build([FIXTURES / "authormap.c"], tmp_path / "sync.so", points=parse_points("4"))
    assert lib.mf_target_density(Target.load(str(so))._table, -1) == 4
