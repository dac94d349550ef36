"""Go's runtime map and sync.Map through cgo (csrc/adapters/go/, harness/run/adapters.py).

Every execution of a Go target runs in a worker process (harness.run.worker), as
`mapfuzz fuzz` runs it: a seeded bug may kill the process with Go's "fatal error:
concurrent map writes", and a process holds one Go runtime at work. Which mode finds
which variant: the runtime's own map code runs inside one adapter step, so its races
(no-lock, rlock-for-write, cell-update-under-rlock) need stress mode; bugs between
two adapter steps (check-then-act, load-then-store, load-then-delete) and range-len
are found in controlled mode, deterministically.

Tests skip, naming the Debian package (golang-go), where the Go toolchain is absent
(CI installs it: .ci/run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from harness.oracle import Violation
from harness.run import adapters
from harness.run.target import Target
from harness.run.worker import Worker, WorkerDied
from harness.search.campaign import CampaignConfig, hunt, make_engine
from harness.search.engine import RandomEngine

GO_ADAPTERS = ("gomap", "gosyncmap")

UNLOCKED_WRITES = {"crash", "torn-value", "lost-write", "stale-read", "phantom-value",
                   "resurrected-delete", "missing-key", "duplicate-key"}
"""What writers that run at once on Go's map (no lock, or the read lock) may show."""
EXPECTED: dict[tuple[str, str], tuple[str, set[str]]] = {
    # (target, variant): (mode that finds it, classes it may be found as)
    # Go's runtime detects concurrent misuse only sometimes: before it does, the
    # unlocked map may already have lost a write, or a reader may have met a value
    # (an `any`: type word and data word) half written by a concurrent assignment
    ("gomap", "no-lock"): ("stress", UNLOCKED_WRITES),
    ("gomap", "rlock-for-write"): ("stress", UNLOCKED_WRITES),
    # torn interfaces, and two writers swapping one cell under the read lock (both
    # report the same old value: lost-write)
    ("gomap", "cell-update-under-rlock"): (
        "stress", {"torn-value", "phantom-value", "lost-write", "stale-read", "crash"}),
    ("gomap", "check-then-act"): ("controlled", {"lost-write", "stale-read"}),
    ("gosyncmap", "load-then-store"): ("controlled", {"lost-write", "stale-read"}),
    ("gosyncmap", "load-then-delete"): (
        "controlled", {"lost-write", "stale-read", "phantom-value", "resurrected-delete"}),
    ("gosyncmap", "range-len"): ("controlled", {"len-mismatch"}),
}

DETECT_SECONDS = 300.0
"""Wall-clock budget per variant; typical on a loaded 2-core machine: 1-15 s."""

SHAPES: dict[str, dict[str, Any]] = {
    # one contended key, four threads, no noise: the most overlap of two operations
    # on one cell per execution (measured: 1.5-13.6 s over six seeds)
    "cell-update-under-rlock": {"keys": 1, "threads": 4, "ops": 32, "noise": 0.0},
}
"""Workload shapes (CampaignConfig fields) for variants the default shape finds slowly."""

CLEAN_EXECS = {"controlled": 400, "stress": 120}
"""Executions the correct maps must pass (a fixed count: the same inputs every run)."""


@pytest.fixture(scope="module")
def go_status() -> dict[str, adapters.AdapterStatus]:
    return {s.name: s for s in adapters.status() if s.name in GO_ADAPTERS}


def _need(go_status: dict[str, adapters.AdapterStatus], name: str) -> None:
    st = go_status[name]
    if st.path is None:
        pytest.skip(f"{name} adapter unavailable: {st.reason}")


def _engine(name: str, variant: str | None, mode: str, seed: int = 1) -> RandomEngine:
    shape = SHAPES.get(variant or "", {})
    cfg = CampaignConfig(target=name, variant=variant, mode=mode, seed=seed, **shape)
    return make_engine(cfg, Target.load(name))


# ------------------------------------------------------------------ no toolchain


@pytest.mark.parametrize("name", GO_ADAPTERS)
def test_missing_go_is_a_one_line_message_naming_the_package(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(adapters.shutil, "which",
                        lambda cmd, *a, **k: None if cmd == "go" else real(cmd, *a, **k))
    monkeypatch.setattr(adapters, "_prebuilt", lambda _name: None)
    with pytest.raises(adapters.AdapterUnavailable) as exc:
        adapters.resolve(name)
    msg = str(exc.value)
    assert "\n" not in msg and "Go toolchain" in msg and "apt-get install golang-go" in msg
    assert {s.name: s for s in adapters.status()}[name].reason == msg


def test_targets_says_how_to_get_go_where_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from harness.cli import cli

    real = shutil.which
    monkeypatch.setattr(adapters.shutil, "which",
                        lambda cmd, *a, **k: None if cmd == "go" else real(cmd, *a, **k))
    monkeypatch.setattr(adapters, "_prebuilt", lambda _name: None)
    res = CliRunner().invoke(cli, ["targets"])
    assert res.exit_code == 0, res.output
    for name in GO_ADAPTERS:
        line = next(x for x in res.output.splitlines() if x.startswith(name + " "))
        assert "unavailable" in line and "apt-get install golang-go" in line


# ------------------------------------------------------------------ the tables


def test_targets_lists_both_with_caps_and_variants(
        go_status: dict[str, adapters.AdapterStatus]) -> None:
    for name in GO_ADAPTERS:
        _need(go_status, name)
    p = subprocess.run([sys.executable, "-m", "harness", "targets", "--json"],
                       capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert rows["gomap"]["caps"] == ["multi-writer", "put-if-absent", "iterate", "exact-len"]
    # len from Range is no snapshot: not exact while writers run
    assert rows["gosyncmap"]["caps"] == ["multi-writer", "put-if-absent", "iterate"]
    for (name, variant) in EXPECTED:
        assert variant in rows[name]["variants"]
    assert rows["gomap"]["path"] == go_status["gomap"].path


# ------------------------------------------------------------------ the correct maps


@pytest.mark.parametrize("name", GO_ADAPTERS)
@pytest.mark.parametrize("mode", ["controlled", "stress"])
def test_correct_map_gives_no_finding(
        name: str, mode: str, go_status: dict[str, adapters.AdapterStatus]) -> None:
    _need(go_status, name)
    n = CLEAN_EXECS[mode]
    with Worker(name) as worker:
        batch = worker.fuzz_batch(_engine(name, None, mode, seed=3), 0, n, 3600.0)
    assert batch.findings == [], f"false alarm on {name} ({mode}): {batch.findings[0]}"
    # n inputs considered (feedback may skip some), all run without a restart
    assert batch.next_index == n and 0 < batch.execs <= n and worker.restarts == 0


# ------------------------------------------------------------------ seeded bugs


@pytest.mark.parametrize(("name", "variant"), sorted(EXPECTED))
def test_variant_found_in_its_mode(
        name: str, variant: str, go_status: dict[str, adapters.AdapterStatus]) -> None:
    _need(go_status, name)
    mode, classes = EXPECTED[(name, variant)]
    with Worker(name) as worker:
        finding, seconds, execs = hunt(worker, _engine(name, variant, mode), DETECT_SECONDS)
    assert finding is not None, f"{name}/{variant} escaped {seconds:.0f} s of {mode} mode"
    found = {v.cls for v in finding.violations}
    assert found & classes, f"{name}/{variant} gave {found} after {execs} executions"


def _first_crash(worker: Worker, engine: RandomEngine, seconds: float) -> Violation | None:
    """Fuzz until the worker dies (other findings of the same bug are passed over)."""
    start = time.monotonic()
    index = 0
    while time.monotonic() - start < seconds:
        try:
            batch = worker.fuzz_batch(engine, index, 1 << 40, 5.0)
        except WorkerDied as died:
            return died.violation()
        index = batch.findings[0].index + 1 if batch.findings else index + batch.execs
    return None


def test_go_fatal_error_is_a_crash_naming_it_then_a_fresh_worker_runs_clean(
        go_status: dict[str, adapters.AdapterStatus]) -> None:
    """no-lock kills the worker with Go's "concurrent map ..." fatal error: the finding
    carries the message and the adapter's frame; the same Worker then starts a new
    process (a new Go runtime) and the correct gomap runs its executions clean."""
    _need(go_status, "gomap")
    with Worker("gomap") as worker:
        v = _first_crash(worker, _engine("gomap", "no-lock", "stress"), DETECT_SECONDS)
        assert v is not None, "no-lock never crashed the worker"
        assert v.cls == "crash"
        assert "signal 6 (SIGABRT)" in v.explanation
        assert "Go: fatal error: concurrent map" in v.explanation
        assert "gomap.go:" in v.explanation and "main.(*gomap)" in v.explanation
        assert worker.restarts == 1
        for mode in ("stress", "controlled"):
            batch = worker.fuzz_batch(_engine("gomap", None, mode, seed=5), 0, 60, 3600.0)
            assert batch.findings == [] and batch.next_index == 60 and 0 < batch.execs <= 60
        assert worker.restarts == 1
