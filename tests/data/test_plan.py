"""Schedule -> Plan compilation and Execution -> History conversion (harness/data/plan.py)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.data.history import TORN, History
from harness.data.plan import (
    NO_VALUE,
    OP_DELETE,
    OP_GET,
    OP_ITERATE,
    OP_LEN,
    OP_PUT,
    OP_PUT_IF_ABSENT,
    Plan,
    compile_schedule,
    to_history,
)
from harness.data.schedule import MapConfig, Op, Schedule, ScheduleError
from harness.data.values import PREFILL_WRITER, check_value, encode_key, make_value
from harness.search.generate import standard_schedule

VARIANTS = ("lost-write", "torn-read", "stale-evac")


@dataclass(frozen=True)
class Rec:
    kind: int
    thread: int
    key: int
    value: int
    status: int
    call: int
    ret: int | None
    out: bytes | None = None
    items: tuple[tuple[bytes, bytes], ...] | None = None
    length: int | None = None


@dataclass(frozen=True)
class Exe:
    records: tuple[Rec, ...]
    status: str = "ok"


# ---- compile -----------------------------------------------------------------------


def test_compile_standard() -> None:
    s = standard_schedule()
    plan = compile_schedule(s, VARIANTS)
    assert plan.variant == 0
    assert plan.hash_seed == s.config.hash_seed and plan.capacity == s.config.capacity
    assert plan.keys == tuple(encode_key(k) for k in s.keys)
    nwrites = len(s.prefill) + sum(
        1 for ops in s.threads for op in ops if op.kind in ("put", "put_if_absent")
    )
    assert len(plan.values) == len(set(plan.values)) == nwrites
    assert len(plan.value_key) == len(plan.value_labels) == nwrites
    assert len(plan.prefill) == len(s.prefill)
    assert [len(t) for t in plan.threads] == [len(t) for t in s.threads]
    # every op code points at its key and at a value of the right type and size
    for ops, codes in zip((s.prefill, *s.threads), (plan.prefill, *plan.threads), strict=True):
        for op, (kind, key, v) in zip(ops, codes, strict=True):
            assert (kind, key) == (
                ("get", "put", "put_if_absent", "delete", "iterate", "len").index(op.kind),
                op.key,
            )
            if op.kind in ("put", "put_if_absent"):
                assert plan.value_key[v] == op.key
                assert len(plan.values[v]) == op.vsize
                assert (
                    plan.values[v][:1]
                    == {"int": b"i", "float": b"f", "str": b"s", "bytes": b"b", "tuple": b"t"}[
                        str(op.vtype)
                    ]
                )
            else:
                assert v == NO_VALUE


def test_writers_and_labels() -> None:
    s = standard_schedule()
    plan = compile_schedule(s, VARIANTS)
    npre = len(s.prefill)
    for i in range(npre):
        assert check_value(plan.values[i]) == (PREFILL_WRITER, i + 1)
        assert plan.value_labels[i] == f"pre#{i + 1}"
    # thread t writes with writer t and seq 1, 2, 3, ... in list order
    for t, codes in enumerate(plan.threads):
        seqs = [check_value(plan.values[v]) for k, _, v in codes if v != NO_VALUE]
        assert seqs == [(t, n) for n in range(1, len(seqs) + 1)]
        labels = [plan.value_labels[v] for k, _, v in codes if v != NO_VALUE]
        assert labels[:2] == [f"t{t}#1", f"t{t}#2"]


def test_variant_mapping() -> None:
    s = standard_schedule()
    for i, name in enumerate(VARIANTS):
        bug = Schedule(MapConfig(variant=name, hash_seed=1), s.keys, s.prefill, s.threads)
        assert compile_schedule(bug, VARIANTS).variant == i + 1
    bad = Schedule(MapConfig(variant="nope"), s.keys, s.prefill, s.threads)
    with pytest.raises(ScheduleError, match=r"'nope'.*known: lost-write, torn-read, stale-evac"):
        compile_schedule(bad, VARIANTS)
    with pytest.raises(ScheduleError, match="known: none"):
        compile_schedule(bad, ())


def test_compile_validates() -> None:
    with pytest.raises(ScheduleError, match="key = 5"):
        compile_schedule(Schedule(keys=(1,), threads=((Op("get", 5),),)), ())


# ---- to_history --------------------------------------------------------------------


def small_plan() -> tuple[Schedule, Plan]:
    s = Schedule(
        MapConfig(hash_seed=3, capacity=8),
        (42, "42", b"42"),
        (Op("put", 0, "int"),),
        (
            (Op("put", 1, "str", 12), Op("get", 0), Op("delete", 0)),
            (Op("put_if_absent", 1, "tuple"), Op("iterate"), Op("len")),
        ),
    )
    return s, compile_schedule(s, ())


def test_to_history_fake_execution() -> None:
    _, plan = small_plan()
    pre, a, b = plan.values  # pre#1 (key 0), t0#1 (key 1), t1#1 (key 1)
    k0, k1, _ = plan.keys
    torn = a[:5] + b"\xa5" * (len(a) - 5)
    phantom = make_value("int", 9, 7, 99)
    stranger = encode_key("stranger")
    recs = (
        Rec(OP_PUT, 255, 0, 0, 0, 0, 1),  # prefill: inserted
        # thread 0
        Rec(OP_PUT, 0, 1, 1, 1, 2, 6, out=torn),  # replaced, old torn
        Rec(OP_GET, 0, 0, NO_VALUE, 1, 7, 8, out=phantom),  # found a phantom
        Rec(OP_DELETE, 0, 0, NO_VALUE, -3, 9, None),  # error, never returned
        # thread 1
        Rec(OP_PUT_IF_ABSENT, 1, 1, 2, 0, 3, 4, out=a),  # present: current = t0#1
        Rec(OP_ITERATE, 1, 0, NO_VALUE, 0, 5, 10, items=((k0, pre), (k1, a), (stranger, b))),
        Rec(OP_LEN, 1, 0, NO_VALUE, 0, 11, 12, length=3),
        # post phase
        Rec(OP_GET, 255, 0, NO_VALUE, 1, 13, 14, out=pre),
        Rec(OP_GET, 255, 1, NO_VALUE, 1, 15, 16, out=phantom),
        Rec(OP_GET, 255, 2, NO_VALUE, 0, 17, 18),
        Rec(OP_ITERATE, 255, 0, NO_VALUE, 0, 19, 20, items=((k0, pre), (stranger, torn))),
        Rec(OP_LEN, 255, 0, NO_VALUE, 0, 21, 22, length=2),
    )
    h = to_history(plan, Exe(recs), iterate_concurrent=True, exact_len=False)
    assert isinstance(h, History)
    assert h.keys[:3] == ["int:42", "str:'42'", "bytes:3432"]
    assert h.keys[3] == "str:'stranger'" and h.key_known == [True, True, True, False]
    assert h.quiescent_from == 7
    assert h.unique_writes and h.concurrent_iterate and not h.exact_len
    ops = h.ops
    assert [o.thread for o in ops] == [-1, 0, 0, 0, 1, 1, 1, -1, -1, -1, -1, -1]
    assert [o.kind for o in ops[:7]] == [
        "put",
        "put",
        "get",
        "delete",
        "put_if_absent",
        "iterate",
        "len",
    ]
    assert [o.status for o in ops] == [
        "inserted", "replaced", "found", "error", "present", "done", "done",
        "found", "found", "absent", "done", "done",
    ]  # fmt: skip
    assert ops[0].arg == 0 and ops[1].arg == 1 and ops[4].arg == 2
    assert ops[1].out == TORN
    phantom_id = ops[2].out
    assert phantom_id == 3 and ops[8].out == phantom_id  # interned once
    assert h.values[phantom_id].writer is None and h.values[phantom_id].key is None
    assert h.values[phantom_id].label == "int from t7#99"
    assert ops[3].ret is None and ops[3].out is None
    assert ops[4].out == 1
    assert ops[5].items == [(0, 0), (1, 1), (3, 2)]
    assert ops[5].key is None and ops[6].length == 3
    assert ops[10].items == [(0, 0), (3, TORN)]
    # value infos: writer = index in ops of the write, key = the plan's key
    assert [(v.writer, v.key, v.label) for v in h.values[:3]] == [
        (0, 0, "pre#1"),
        (1, 1, "t0#1"),
        (4, 1, "t1#1"),
    ]
    assert (ops[1].call, ops[1].ret) == (2, 6)


def test_to_history_unwritten_and_hang() -> None:
    _, plan = small_plan()
    # the execution stopped in the parallel phase: no post phase, values unwritten
    recs = (
        Rec(OP_PUT, 255, 0, 0, 0, 0, 1),
        Rec(OP_PUT, 0, 1, 1, 0, 2, None),
    )
    h = to_history(plan, Exe(recs), iterate_concurrent=False, exact_len=True)
    assert h.quiescent_from is None
    assert h.values[2].writer is None and h.values[1].writer == 1
    assert h.exact_len and not h.concurrent_iterate


def test_status_conventions() -> None:
    _, plan = small_plan()
    cases = [
        (OP_GET, 1, "found"), (OP_GET, 0, "absent"),
        (OP_PUT, 1, "replaced"), (OP_PUT, 0, "inserted"),
        (OP_PUT_IF_ABSENT, 1, "inserted"), (OP_PUT_IF_ABSENT, 0, "present"),
        (OP_DELETE, 1, "removed"), (OP_DELETE, 0, "absent"),
        (OP_GET, -1, "error"), (OP_PUT, 2, "error"), (OP_ITERATE, -5, "error"),
        (OP_LEN, -1, "error"),
    ]  # fmt: skip
    value = {OP_PUT: 1, OP_PUT_IF_ABSENT: 2}
    recs = tuple(
        Rec(kind, 0, 0, value.get(kind, NO_VALUE), st, 2 * i, 2 * i + 1)
        for i, (kind, st, _) in enumerate(cases)
    )
    h = to_history(plan, Exe(recs), iterate_concurrent=True, exact_len=False)
    assert [o.status for o in h.ops] == [c[2] for c in cases]


def test_index_cache_is_per_plan() -> None:
    _, p1 = small_plan()
    s2 = Schedule(keys=("other",), threads=((Op("put", 0, "int"),),))
    p2 = compile_schedule(s2, ())
    r = (Rec(OP_PUT, 0, 0, 0, 1, 0, 1, out=p1.values[0]),)
    h1 = to_history(p1, Exe(r), iterate_concurrent=True, exact_len=False)
    h2 = to_history(p2, Exe(r), iterate_concurrent=True, exact_len=False)
    assert h1.ops[0].out == 0 and h1.keys[0] == "int:42"
    # in p2 the bytes are a well-formed value p2 never wrote: phantom
    assert h2.keys == ["str:'other'"]
    assert h2.ops[0].out == 1 and h2.values[1].label == "int from pre#1"




# ---- to_history against a reference construction on real executions ---------------

_REF_STATUS = (("absent", "found"), ("inserted", "replaced"), ("present", "inserted"),
               ("absent", "removed"))


EVACMAP_VARIANTS = ("reader-no-seq-validate", "blob-overwrite-in-place", "free-blob-at-once",
                    "publish-ctrl-before-value", "iter-no-snapshot", "iter-no-home-filter")


def rng_seed(variant: str | None) -> int:
    """The seed of a variant's random inputs: a stable digest of its name (the same in
    every process, unlike ``hash``, which PYTHONHASHSEED salts)."""
    return zlib.crc32(variant.encode()) & 0xFFFF if variant else 7


def test_inputs_do_not_depend_on_the_process() -> None:
    code = ("from tests.data.test_plan import EVACMAP_VARIANTS, rng_seed; "
            "print([rng_seed(v) for v in (None, *EVACMAP_VARIANTS)])")
    root = Path(__file__).resolve().parents[2]
    outs = {subprocess.run([sys.executable, "-c", code], cwd=root, check=True, text=True,
                           capture_output=True, env={**os.environ, "PYTHONHASHSEED": h}).stdout
            for h in ("1", "2", "3")}
    assert outs == {f"{[rng_seed(v) for v in (None, *EVACMAP_VARIANTS)]}\n"}


def _reference_history(plan: Plan, records: Sequence[Any], *, iterate_concurrent: bool,
                       exact_len: bool) -> History:
    """to_history written out plainly, record by record (fresh ids in record order)."""
    from harness.data.history import Operation, ValueInfo
    from harness.data.values import describe_value, key_label

    labels = plan.value_labels or tuple(describe_value(v) for v in plan.values)
    values = [ValueInfo(None, k, lab) for k, lab in zip(plan.value_key, labels, strict=True)]
    keys = [key_label(k) for k in plan.keys]
    known = [True] * len(keys)
    vids: dict[bytes, int] = {v: i for i, v in enumerate(plan.values)}
    kids: dict[bytes, int] = {k: i for i, k in enumerate(plan.keys)}

    def vid(b: bytes) -> int:
        if b not in vids:
            if check_value(b) is None:
                vids[b] = TORN
            else:
                vids[b] = len(values)
                values.append(ValueInfo(None, None, describe_value(b)))
        return vids[b]

    def kid(b: bytes) -> int:
        if b not in kids:
            kids[b] = len(keys)
            keys.append(key_label(b))
            known.append(False)
        return kids[b]

    ops: list[Operation] = []
    for r in records:
        thread = -1 if r.thread == 255 else r.thread
        if r.kind < OP_ITERATE:
            st = _REF_STATUS[r.kind][r.status] if r.status in (0, 1) else "error"
            arg = None
            if r.kind in (OP_PUT, OP_PUT_IF_ABSENT) and r.value >= 0:
                arg = r.value
                values[arg].writer = len(ops)
            out = None if r.out is None else vid(r.out)
            ops.append(Operation(thread, ("get", "put", "put_if_absent", "delete")[r.kind],
                                 r.key, r.call, r.ret, st, arg, out))
        elif r.kind == OP_ITERATE:
            items = None if r.items is None else [(kid(k), vid(v)) for k, v in r.items]
            ops.append(Operation(thread, "iterate", None, r.call, r.ret,
                                 "error" if r.status < 0 else "done", items=items))
        else:
            st = "error" if r.status < 0 or r.kind != OP_LEN else "done"
            ops.append(Operation(thread, "len", None, r.call, r.ret, st, length=r.length))
    q = len(plan.prefill) + sum(len(t) for t in plan.threads)
    return History(ops=ops, keys=keys, key_known=known, values=values, unique_writes=True,
                   quiescent_from=q if len(ops) > q and ops[q].thread == -1 else None,
                   exact_len=exact_len, concurrent_iterate=iterate_concurrent)


def _assert_same_history(a: History, b: History) -> None:
    for f in ("keys", "key_known", "unique_writes", "quiescent_from", "exact_len",
              "concurrent_iterate"):
        assert getattr(a, f) == getattr(b, f), f
    assert len(a.values) == len(b.values)
    for x, y in zip(a.values, b.values, strict=True):
        assert (x.writer, x.key, x.label) == (y.writer, y.key, y.label)
    assert len(a.ops) == len(b.ops)
    for o, p in zip(a.ops, b.ops, strict=True):
        for f in ("thread", "kind", "key", "call", "ret", "status", "arg", "out", "items",
                  "length", "line"):
            assert getattr(o, f) == getattr(p, f), f
            assert type(getattr(o, f)) is type(getattr(p, f)), f
    assert a == b


def _mutated(plan: Plan, records: Sequence[Any], rng: random.Random) -> list[Any]:
    """The records with some returned bytes made torn or phantom and some iterate
    items replaced by unknown keys, torn and phantom values (same Record type)."""
    out = list(records)
    phantom = make_value("int", 9, 7, 99)
    stranger = encode_key("stranger")
    for i, r in enumerate(out):
        roll = rng.random()
        if r.kind < OP_ITERATE and r.out is not None and roll < 0.15:
            bad = r.out[:3] + b"\xa5" * (len(r.out) - 3) if roll < 0.07 else phantom
            out[i] = r._replace(out=bad)
        elif r.kind == OP_ITERATE and r.items and roll < 0.5:
            items = list(r.items)
            j = rng.randrange(len(items))
            k, v = items[j]
            items[j] = rng.choice([(stranger, v), (k, phantom), (k, v[:2] + b"\xa5" * 7)])
            out[i] = r._replace(items=tuple(items))
    return out


@pytest.mark.parametrize("variant", (None, *EVACMAP_VARIANTS))
def test_to_history_matches_reference_on_real_runs(variant: str | None) -> None:
    from harness.run.runner import Runner
    from harness.run.target import Target
    from harness.search.generate import GenConfig, generate

    target = Target.load("evacmap")
    rng = random.Random(rng_seed(variant))
    from harness.data import plan as plan_mod

    seen = {"torn": 0, "phantom": 0, "items": 0, "unknown-key": 0, "len": 0, "columns": 0,
            "by-record": 0}
    with Runner(target, max_threads=4) as runner:
        for n in range(6):
            cfg = GenConfig(threads=rng.randint(1, 4), ops_per_thread=rng.randint(2, 20),
                            keys=rng.randint(1, 10), capacity=None)
            s = generate(rng, cfg, MapConfig(variant=variant))
            plan = compile_schedule(s, target.variants)
            nvals = len(plan.values)
            for seed in range(12):
                mode = "stress" if seed % 3 == 2 else "controlled"
                exe = runner.run(plan, seed=seed + 100 * n, mode=mode, record_events=False)
                for recs in (exe.records, _mutated(plan, exe.records, rng)):
                    for ic, el in ((True, False), (False, True)):
                        h = to_history(plan, Exe(tuple(recs)), iterate_concurrent=ic,
                                       exact_len=el)
                        ref = _reference_history(plan, recs, iterate_concurrent=ic,
                                                 exact_len=el)
                        _assert_same_history(h, ref)
                        # the per-plan caches hold nothing a second call sees differently
                        _assert_same_history(
                            to_history(plan, Exe(tuple(recs)), iterate_concurrent=ic,
                                       exact_len=el), ref)
                    fast = plan_mod._fast_history(plan_mod._index(plan), recs, True, False)
                    seen["columns" if fast is not None else "by-record"] += 1
                    seen["torn"] += sum(o.out == TORN for o in h.ops)
                    seen["torn"] += sum(v == TORN for o in h.ops for _, v in o.items or ())
                    seen["phantom"] += len(h.values) - nvals
                    seen["unknown-key"] += h.key_known.count(False)
                    seen["items"] += sum(o.items is not None for o in h.ops)
                    seen["len"] += sum(o.length is not None for o in h.ops)
    assert all(seen.values()), seen
