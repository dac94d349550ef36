"""Adapters for real maps (harness/run/adapters.py, csrc/adapters/): build, resolve, ABI
table, no finding on the correct adapters, every seeded misuse found in stress mode.

Tests that need a library skip, naming the Debian package to install, when it is
absent (CI installs both: .ci/run).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.run import adapters
from harness.run.execute import (
    MF_CAP_EVENTS,
    MF_CAP_EXACT_LEN,
    MF_CAP_ITERATE,
    MF_CAP_PUT_IF_ABSENT,
    execute,
)
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine

MF_CAP_MULTI_WRITER = 1

EXPECTED: dict[str, dict[str, set[str]]] = {
    "cds_lfht": {
        "free-replaced-at-once": {"torn-value", "phantom-value"},
        "copy-after-unlock": {"torn-value", "phantom-value"},
        "add-allows-duplicates": {"invariant", "duplicate-key", "lost-write", "stale-read"},
    },
    "cuckoo": {
        "find-copy-unlocked": {"torn-value", "phantom-value"},
        "iterate-unlocked-snapshot": {"torn-value", "phantom-value"},
        "check-then-insert": {"lost-write", "stale-read"},
    },
}

C_ADAPTERS = sorted(n for n, s in adapters.ADAPTERS.items() if s.go_tag is None)
"""The C and C++ adapters (the Go ones: tests/run/test_go_adapters.py)."""

DETECT_SECONDS = 90.0
"""Wall-clock budget per misuse variant (stress mode with noise); typical: 1-5 s."""


def _status() -> dict[str, adapters.AdapterStatus]:
    return {s.name: s for s in adapters.status()}


@pytest.fixture(scope="module")
def built() -> dict[str, adapters.AdapterStatus]:
    return _status()


def _target(built: dict[str, adapters.AdapterStatus], name: str) -> Target:
    st = built[name]
    if st.path is None:
        pytest.skip(f"{name} adapter unavailable: {st.reason}")
    return Target.load(st.path)


# ------------------------------------------------------------------ build and resolve


def test_unknown_name_resolves_to_none() -> None:
    assert adapters.resolve("no-such-map") is None
    assert adapters.resolve("evacmap") is None


def test_every_adapter_is_listed_with_a_path_or_a_reason(
        built: dict[str, adapters.AdapterStatus]) -> None:
    avail = adapters.available()
    assert set(avail) == set(adapters.ADAPTERS) == {"cds_lfht", "cuckoo", "gomap", "gosyncmap"}
    for name, st in built.items():
        spec = adapters.ADAPTERS[name]
        if st.path is not None:
            assert st.reason is None
            assert Path(st.path).is_absolute() and Path(st.path).is_file()
            assert avail[name] == st.path
        else:
            assert st.reason and spec.package in st.reason and "apt-get install" in st.reason
            assert avail[name] == st.reason


@pytest.mark.parametrize("kind", ["pkg-config", "header"])
def test_missing_package_is_a_message_not_a_crash(
        kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAPFUZZ_CACHE_DIR", str(tmp_path))
    fake = adapters.AdapterSpec(
        name="fake", source="cds_lfht.c", compiler="gcc", std="-std=gnu11",
        package="libmapfuzz-fake-dev",
        pkg_config=("mapfuzz-no-such-module",) if kind == "pkg-config" else (),
        header="mapfuzz/no_such_header.h" if kind == "header" else None)
    monkeypatch.setattr(adapters, "ADAPTERS", {"fake": fake})
    with pytest.raises(adapters.AdapterUnavailable) as exc:
        adapters.resolve("fake")
    assert "libmapfuzz-fake-dev is not installed" in str(exc.value)
    assert "apt-get install libmapfuzz-fake-dev" in str(exc.value)
    st = {s.name: s for s in adapters.status()}["fake"]
    assert st.path is None and st.reason == str(exc.value)
    assert list(tmp_path.rglob("*.so")) == []
    assert adapters.available() == {"fake": str(exc.value)}
    rows = adapters.build_all(tmp_path / "out", log=False)
    assert "apt-get install libmapfuzz-fake-dev" in rows["fake"]


def test_missing_compiler_is_a_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAPFUZZ_CACHE_DIR", str(tmp_path))
    fake = adapters.AdapterSpec(name="fake", source="cuckoo.cpp",
                                compiler="mapfuzz-no-such-compiler", std="-std=c++11",
                                package="libcuckoo-dev")
    monkeypatch.setattr(adapters, "ADAPTERS", {"fake": fake})
    with pytest.raises(adapters.AdapterUnavailable, match="mapfuzz-no-such-compiler"):
        adapters.resolve("fake")


@pytest.mark.parametrize("name", sorted(adapters.ADAPTERS))
def test_lazy_build_into_a_fresh_cache_is_reused(
        name: str, built: dict[str, adapters.AdapterStatus],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if built[name].path is None:
        pytest.skip(f"{name} adapter unavailable: {built[name].reason}")
    monkeypatch.setenv("MAPFUZZ_CACHE_DIR", str(tmp_path))
    first = adapters.build(name)
    assert first.parent == tmp_path and first.name.startswith(f"{name}-")
    mtime = first.stat().st_mtime_ns
    assert adapters.build(name) == first and first.stat().st_mtime_ns == mtime
    out = adapters.build(name, tmp_path / "pkg")
    assert out == (tmp_path / "pkg" / f"{name}.so").resolve()
    assert (tmp_path / "pkg" / f"{name}.digest").read_text().strip() in first.name


# ------------------------------------------------------------------ the ABI tables


@pytest.mark.parametrize("name", C_ADAPTERS)
def test_table_caps_and_variants(name: str, built: dict[str, adapters.AdapterStatus]) -> None:
    t = _target(built, name)
    assert t.name == name and t.abi_version == 1
    # many writers, put_if_absent and iteration alongside writers; len is exact
    # only when quiescent, so no MF_CAP_EXACT_LEN
    # structural events: libcuckoo exposes its table size, liburcu's lfht nothing
    events = MF_CAP_EVENTS if name == "cuckoo" else 0
    assert t.caps == MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE | events
    assert not t.caps & MF_CAP_EXACT_LEN
    assert set(t.variants) == set(EXPECTED[name])
    assert len(t.variants) >= 2


@pytest.mark.parametrize("name", C_ADAPTERS)
def test_loaded_by_name_and_reloadable_by_spec(
    name: str, built: dict[str, adapters.AdapterStatus]
) -> None:
    if built[name].path is None:
        pytest.skip(f"{name} adapter unavailable: {built[name].reason}")
    t = Target.load(name)
    assert t.name == name and t.spec == name and t.path == built[name].path
    assert Target.load(t.spec).variants == t.variants


# ------------------------------------------------------------------ the correct adapters


@pytest.mark.parametrize("name", C_ADAPTERS)
@pytest.mark.parametrize("mode", ["controlled", "stress"])
def test_correct_adapter_gives_no_finding(
        name: str, mode: str, built: dict[str, adapters.AdapterStatus]) -> None:
    t = _target(built, name)
    engine = make_engine(CampaignConfig(mode=mode, seed=3), t)
    budget = 400 if mode == "controlled" else 150
    with Runner(t) as runner:
        for item in engine.inputs(t.variants):
            if item.index >= budget:
                break
            outcome = execute(runner, t, item.plan, item.spec)
            assert not outcome.violations, (
                f"false alarm on {name} ({mode}), input {item.index}: {outcome.violations}")


@pytest.mark.parametrize("name", C_ADAPTERS)
def test_many_threads_and_runs_on_one_pool(
        name: str, built: dict[str, adapters.AdapterStatus]) -> None:
    """Pool threads come and go through thread_exit (RCU registration for cds_lfht),
    and every destroy returns: 16 threads, both modes, many maps."""
    from tests.fixtures.runner_support import standard_plan

    t = _target(built, name)
    with Runner(t, max_threads=16) as runner:
        for seed in range(40):
            plan = standard_plan(seed=seed, nthreads=16 if seed % 2 else 3, nops=24,
                                 nkeys=6, nprefill=12)
            mode = "stress" if seed % 3 else "controlled"
            exe = runner.run(plan, mode=mode, seed=seed, noise=0.2, record_events=False)
            assert exe.status == "ok", exe.message


# ------------------------------------------------------------------ seeded misuse


@pytest.mark.parametrize(
    ("name", "variant"),
    [(n, v) for n, vs in sorted(EXPECTED.items()) for v in sorted(vs)])
def test_misuse_variant_found_in_stress_mode(
        name: str, variant: str, built: dict[str, adapters.AdapterStatus]) -> None:
    t = _target(built, name)
    engine = make_engine(CampaignConfig(variant=variant, mode="stress", seed=1), t)
    start = time.monotonic()
    with Runner(t) as runner:
        for item in engine.inputs(t.variants):
            outcome = execute(runner, t, item.plan, item.spec)
            if outcome.violations:
                classes = {v.cls for v in outcome.violations}
                assert classes & EXPECTED[name][variant], (
                    f"{name}/{variant} gave {classes} at input {item.index}")
                return
            if time.monotonic() - start > DETECT_SECONDS:
                break
    pytest.fail(f"{name}/{variant} escaped {DETECT_SECONDS:.0f} s of stress mode")


def test_unwritable_cache_is_a_message(built: dict[str, adapters.AdapterStatus],
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if built["cds_lfht"].path is None:
        pytest.skip(f"cds_lfht adapter unavailable: {built['cds_lfht'].reason}")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MAPFUZZ_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(adapters.AdapterBuildError, match="MAPFUZZ_CACHE_DIR"):
        adapters.build("cds_lfht")
