"""tmin: the same failure signature, smaller schedules, deterministic results."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.data.schedule import MapConfig, Op, Schedule
from harness.data.values import format_key
from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer, save, to_json_obj
from harness.run.worker import Attempt
from harness.search.generate import growth_threshold
from harness.tools.candidates import Case, LocalRuns, PoolRuns, Signature, signature_of
from harness.tools.tmin import (
    StressPolicy,
    TminError,
    merge_threads,
    minimise,
    remap_trace,
    sizes,
    tiny_table,
)
from tests.fixtures.findings import seeded_finding


def controlled_finding(variant: str) -> Reproducer:
    item, outcome = seeded_finding(variant)
    return Reproducer("evacmap", None, 1, item.spec, item.schedule, outcome.execution.trace,
                      outcome.execution.trace_hash, outcome.violations)


# ---- trace remapping -------------------------------------------------------------


def test_remap_moves_steps_back_by_the_dropped_events() -> None:
    # events: t0 op0 x2, t1 op0 x2, t0 op1 x2, t1 exit, t0 exit
    events = [(0, 0, 2), (0, 0, 3), (1, 0, 2), (1, 0, 3), (0, 1, 2), (0, 1, 3), (1, 1, 4),
              (0, 2, 4)]
    trace = (0, 0, 2, 1, 4, 0, 6, 1)

    def drop_t0_op0(e: tuple[int, int, int]) -> bool:
        return e[0] == 0 and e[1] == 0 and e[2] != 4

    assert remap_trace(trace, events, drop_t0_op0, lambda t: t) == (0, 1, 2, 0, 4, 1)


def test_remap_drops_a_threads_pairs_and_renumbers_the_rest() -> None:
    events = [(0, 0, 2), (1, 0, 2), (2, 0, 2), (1, 1, 4), (0, 1, 4), (2, 1, 4)]
    trace = (0, 0, 1, 1, 2, 2, 4, 0, 5, 2)

    def t1(e: tuple[int, int, int]) -> bool:
        return e[0] == 1

    def renumber(t: int) -> int | None:
        return None if t == 1 else (t - 1 if t > 1 else t)

    assert remap_trace(trace, events, t1, renumber) == (0, 0, 1, 1, 2, 0, 3, 1)


def test_remap_without_an_event_log_keeps_the_trace() -> None:
    assert remap_trace((0, 1, 5, 0), [], lambda e: True, lambda t: t) == (0, 1, 5, 0)


# ---- signatures ------------------------------------------------------------------


def test_the_role_of_a_key_follows_it_through_renumbering() -> None:
    s = Schedule(MapConfig(), keys=(10, 20, 30), threads=((Op("get", 2),),))
    sig = signature_of(Violation("lost-write", "int:30", (), ""), s)
    assert sig == Signature("lost-write", 2)
    # key 0 dropped: the old keys[2] is now keys[1], renamed to int 0
    smaller = Case(Schedule(MapConfig(), keys=(20, 0), threads=((Op("get", 1),),)), (), (1, 2))
    assert sig.matches([Violation("lost-write", "int:0", (), "")], smaller)
    assert not sig.matches([Violation("lost-write", "int:20", (), "")], smaller)
    assert not sig.matches([Violation("stale-read", "int:0", (), "")], smaller)
    whole = Signature("len-mismatch", None)
    assert whole.matches([Violation("len-mismatch", None, (), "")], smaller)


# ---- controlled minimisation -------------------------------------------------------


@pytest.mark.parametrize("variant", ["blob-overwrite-in-place", "delete-absent-decrements"])
def test_controlled_minimisation_keeps_the_signature(variant: str, local: LocalRuns) -> None:
    r = controlled_finding(variant)
    res = minimise(r, local, seconds=None)
    assert not res.exhausted
    before, after = sizes(res.before), sizes(res.after)
    assert after["ops"] < before["ops"] and after["threads"] <= before["threads"]
    assert res.reproducer.main_class == r.main_class
    # the written reproducer replays its class on the key that plays the same part
    again = local.attempts(res.reproducer.schedule, [res.reproducer.replay_spec()])[0]
    assert res.signature.matches(again.violations, res.after)
    assert res.reproducer.trace_hash == again.outcome.execution.trace_hash  # type: ignore[union-attr]


def test_controlled_minimisation_is_deterministic(local: LocalRuns) -> None:
    r = controlled_finding("free-blob-at-once")
    a = minimise(r, local, seconds=None)
    b = minimise(r, local, seconds=None)
    assert to_json_obj(a.reproducer) == to_json_obj(b.reproducer)
    assert a.calls == b.calls


def test_tiny_table_candidates_lower_the_limit_and_keep_the_keys_that_matter() -> None:
    keys = tuple(range(7))
    s = Schedule(MapConfig(variant="x", capacity=8), keys,
                 tuple(Op("put", k, "int") for k in range(6)),
                 ((Op("put", 6, "int"),), (Op("get", 0),)))
    named = Violation("lost-write", format_key(3), (7,), "")
    c = Case(s, (0, 1), tuple(range(7)), violations=(named,))
    cands = list(tiny_table(c))
    assert [growth_threshold(x.schedule.config.capacity) for x in cands] == [1, 2, 3, 4, 5, 6]
    assert all(x.search and x.trace == c.trace for x in cands)  # replayed, then searched
    prefills = [[op.key for op in x.schedule.prefill] for x in cands]
    # keys 0 (a thread reads it) and 3 (the violation names it) always stay;
    # the limit drops by d and so do d of the other prefill puts, latest first
    assert prefills == [[0, 3]] * 3 + [[0, 1, 3], [0, 1, 2, 3], [0, 1, 2, 3, 4]]
    # a two-group first table (limit 14): the candidates are the one-group limits 1..7
    big = Case(replace(s, config=replace(s.config, capacity=16)), (0, 1), tuple(range(7)))
    limits = [growth_threshold(x.schedule.config.capacity) for x in tiny_table(big)]
    assert limits == [1, 2, 3, 4, 5, 6, 7]


def test_growth_witness_shrinks_into_a_tiny_first_table(local: LocalRuns) -> None:
    """A growth bug found in a full first group (7 entries before it grows) ends in a
    tiny first table, shorter than the fill a full group needs, found by search and
    replayed exactly; twice gives the same file."""
    r = controlled_finding("evac-mark-before-copy")
    assert growth_threshold(r.schedule.config.capacity) == 7
    res = minimise(r, local, seconds=None)
    assert res.accepted.get("tiny table", 0) >= 1
    assert 1 <= res.after.schedule.config.capacity <= 7
    assert sizes(res.after)["ops"] < 7 and sizes(res.after)["threads"] == 2
    again = local.attempts(res.reproducer.schedule, [res.reproducer.replay_spec()])[0]
    assert res.signature.matches(again.violations, res.after)
    twice = minimise(r, local, seconds=None)
    assert to_json_obj(twice.reproducer) == to_json_obj(res.reproducer)


def test_tmin_on_two_workers_gives_the_same_file(local: LocalRuns) -> None:
    """--jobs: the tiny-table pass searches schedules on two worker processes at once;
    the result is the one worker's, byte for byte."""
    r = controlled_finding("evac-mark-before-copy")
    pool = PoolRuns("evacmap", 2)
    try:
        two = minimise(r, pool, seconds=None)
    finally:
        pool.close()
    one = minimise(r, local, seconds=None)
    assert two.accepted.get("tiny table", 0) >= 1
    assert to_json_obj(two.reproducer) == to_json_obj(one.reproducer)


def test_merge_candidates_move_a_threads_ops_into_its_neighbour() -> None:
    a, b, c3 = (Op("get", 0),), (Op("put", 1, "int"),), (Op("delete", 2),)
    s = Schedule(MapConfig(variant="x"), (0, 1, 2), (), (a, b, c3))
    cands = list(merge_threads(Case(s, (0, 1), (0, 1, 2))))
    assert [x.schedule.threads for x in cands] == [
        (a, b + c3), (a, c3 + b),  # thread 2 into thread 1, after then before its ops
        (a + b, c3), (b + a, c3),  # thread 1 into thread 0
    ]
    assert all(x.search and x.trace == () for x in cands)


def test_a_bug_one_thread_can_hit_merges_down_to_one_thread(local: LocalRuns) -> None:
    r = controlled_finding("iter-no-home-filter")
    assert len(r.schedule.threads) == 3
    res = minimise(r, local, seconds=None)
    assert res.accepted.get("merge threads", 0) >= 1
    assert sizes(res.after)["threads"] == 1
    again = local.attempts(res.reproducer.schedule, [res.reproducer.replay_spec()])[0]
    assert res.signature.matches(again.violations, res.after)


def test_input_that_does_not_fail_is_refused(local: LocalRuns) -> None:
    r = controlled_finding("free-blob-at-once")
    clean = Reproducer("evacmap", None, 1, r.spec, r.schedule.__class__(
        MapConfig(variant=None, hash_seed=r.schedule.config.hash_seed,
                  capacity=r.schedule.config.capacity),
        r.schedule.keys, r.schedule.prefill, r.schedule.threads), r.trace, None, r.violations)
    with pytest.raises(TminError, match="does not reproduce"):
        minimise(clean, local, seconds=None)


# ---- stress: k of N --------------------------------------------------------------


class FlakyRuns:
    """A fake target: 'lost-write' on the key written by two threads, in the runs whose
    seed is not a multiple of 3 (so 2 of every 3 runs fail)."""

    def __init__(self) -> None:
        self.calls = 0

    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        out = []
        for spec in specs:
            self.calls += 1
            writers: dict[int, set[int]] = {}
            for t, ops in enumerate(schedule.threads):
                for op in ops:
                    if op.kind == "put":
                        writers.setdefault(op.key, set()).add(t)
            shared = [k for k, ts in writers.items() if len(ts) >= 2]
            fails = shared and spec.seed % 3 != 0
            vs = (Violation("lost-write", f"int:{schedule.keys[shared[0]]!r}", (), ""),) \
                if fails else ()
            out.append(Attempt(vs, None))
        return out

    def close(self) -> None:
        pass


def test_stress_minimisation_needs_k_of_n_and_reports_the_rate() -> None:
    put = Op("put", 1, "int")
    s = Schedule(
        MapConfig(variant="x", hash_seed=5, capacity=16),
        keys=(100, 200, 300),
        prefill=(Op("put", 0, "int"),),
        threads=((Op("get", 0), put, Op("delete", 2)), (put, Op("get", 2)), (Op("len"),)),
    )
    r = Reproducer("evacmap", None, 1, RunSpec(mode="stress", seed=1, noise=0.05), s, (), None,
                   (Violation("lost-write", "int:200", (), ""),))
    res = minimise(r, FlakyRuns(), seconds=None, stress=StressPolicy(k=3, n=5, final_runs=30))
    assert res.after.schedule.threads == ((Op("put", 0, "int"),), (Op("put", 0, "int"),))
    assert res.after.origin == (1,)
    assert res.reproduction_rate == pytest.approx(20 / 30)
    assert res.reproducer.spec.mode == "stress" and res.reproducer.trace == ()
    # asking for more hits than the fake can give: the input itself is refused
    with pytest.raises(TminError):
        minimise(r, FlakyRuns(), seconds=None, stress=StressPolicy(k=5, n=5))


# ---- the command -----------------------------------------------------------------


def test_tmin_command_writes_a_new_file_and_never_overwrites(tmp_path: Path) -> None:
    r = controlled_finding("delete-fast-path-skips-lock")
    src = save(r, tmp_path / "in")
    out = tmp_path / "min.json"
    cli_runner = CliRunner()
    res = cli_runner.invoke(cli, ["tmin", str(src), "-o", str(out), "--json", "--in-process"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["class"] == r.main_class and report["output"] == str(out)
    assert report["after"]["ops"] < report["before"]["ops"]
    assert set(report["before"]) == {"threads", "ops", "preemptions"}
    assert report["reproduction_rate"] is None
    # same input, same output: a second run finds the identical file and leaves it
    again = cli_runner.invoke(cli, ["tmin", str(src), "-o", str(out), "--in-process"])
    assert again.exit_code == 0
    out.write_text(out.read_text().replace('"tmin"', '"edited"'))
    refused = cli_runner.invoke(cli, ["tmin", str(src), "-o", str(out), "--in-process"])
    assert refused.exit_code == 2 and "refusing to overwrite" in refused.output
