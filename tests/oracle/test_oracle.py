"""Hand-written oracle cases: one story per violation class, plus ok and unknown."""

from __future__ import annotations

from harness.data.history import TORN, History, Operation, ValueInfo
from harness.oracle import CLASSES, Verdict, check


class B:
    """Tiny history builder: values are named by label, written ones get their writer."""

    def __init__(self) -> None:
        self.h = History()
        self.keys: dict[str, int] = {}
        self.vals: dict[str, int] = {}

    def k(self, name: str) -> int:
        if name not in self.keys:
            self.keys[name] = len(self.h.keys)
            self.h.keys.append(name)
            self.h.key_known.append(True)
        return self.keys[name]

    def v(self, label: str | None, key: str) -> int | None:
        if label is None:
            return None
        if label == "TORN":
            return TORN
        if label not in self.vals:
            self.vals[label] = len(self.h.values)
            self.h.values.append(ValueInfo(None, self.k(key), label))
        return self.vals[label]

    def op(self, t: int, kind: str, key: str, call: int, ret: int | None, status: str,
           arg: str | None = None, out: str | None = None) -> int:
        a = self.v(arg, key)
        o = self.v(out, key)
        i = len(self.h.ops)
        self.h.ops.append(Operation(t, kind, self.k(key), call, ret, status, a, o))
        if a is not None and status in ("inserted", "replaced", "pending"):
            self.h.values[a].writer = i
        return i

    def put(self, t: int, key: str, call: int, ret: int | None, val: str,
            old: str | None = None) -> int:
        return self.op(t, "put", key, call, ret,
                       "pending" if ret is None else ("replaced" if old else "inserted"),
                       val, old)

    def get(self, t: int, key: str, call: int, ret: int, val: str | None) -> int:
        return self.op(t, "get", key, call, ret, "found" if val else "absent", None, val)

    def delete(self, t: int, key: str, call: int, ret: int | None, old: str | None) -> int:
        st = "pending" if ret is None else ("removed" if old else "absent")
        return self.op(t, "delete", key, call, ret, st, None, old)


def one(v: Verdict, cls: str) -> None:
    assert v.status == "violation", v
    assert [x.cls for x in v.violations] == [cls], v.violations


def test_classes_listed() -> None:
    assert len(CLASSES) == 12 and "lost-write" in CLASSES and "hang" in CLASSES


def test_linearizable_overlapping_history_is_ok() -> None:
    b = B()
    b.put(0, "a", 0, 10, "x")
    b.get(1, "a", 1, 2, None)          # before the put took effect
    b.get(2, "a", 3, 4, "x")           # after
    b.put(1, "a", 5, 12, "y", old="x")
    b.delete(2, "a", 6, 13, "y")
    b.get(0, "a", 11, 11, "y")         # equal timestamps overlap
    v = check(b.h)
    assert v.status == "ok", v
    assert v.stats["keys"] == 1 and v.stats["ops"] == 6


def test_stale_read() -> None:
    b = B()
    b.put(-1, "a", 0, 1, "t2#1")
    w = b.put(0, "a", 2, 3, "t0#2", old="t2#1")
    r = b.get(1, "a", 4, 5, "t2#1")
    v = check(b.h)
    one(v, "stale-read")
    x = v.violations[0]
    assert x.key == "a" and w in x.ops and r in x.ops
    assert "t0 put t0#2" in x.explanation and "t1 get (read t2#1)" in x.explanation


def test_lost_write_absent_after_insert() -> None:
    b = B()
    w = b.put(0, "a", 0, 1, "t0#1")
    r = b.get(1, "a", 2, 3, None)
    v = check(b.h)
    one(v, "lost-write")
    assert set(v.violations[0].ops) == {w, r}
    assert "t0 put t0#1" in v.violations[0].explanation


def test_lost_write_two_replacements_of_one_value() -> None:
    b = B()
    b.put(-1, "a", 0, 1, "v0")
    b.put(0, "a", 2, 5, "v1", old="v0")
    b.put(1, "a", 3, 6, "v2", old="v0")
    one(check(b.h), "lost-write")


def test_resurrected_delete() -> None:
    b = B()
    b.put(0, "a", 0, 1, "v1")
    d = b.delete(1, "a", 2, 3, "v1")
    r = b.get(2, "a", 4, 5, "v1")
    v = check(b.h)
    one(v, "resurrected-delete")
    assert set(v.violations[0].ops) == {d, r}


def test_torn_and_phantom_values() -> None:
    b = B()
    b.put(0, "a", 0, 1, "v1")
    b.get(1, "a", 2, 3, "TORN")
    b.get(1, "b", 2, 3, "never")
    v = check(b.h)
    assert v.status == "violation"
    assert [x.cls for x in v.violations] == ["torn-value", "phantom-value"]
    assert v.violations[0].key == "a" and v.violations[1].key == "b"
    # a value written for another key is a phantom too
    b2 = B()
    b2.put(0, "a", 0, 1, "v1")
    b2.op(1, "get", "b", 2, 3, "found", None, None)
    b2.h.ops[-1].out = b2.vals["v1"]
    one(check(b2.h), "phantom-value")


def test_pending_write_may_or_may_not_take_effect() -> None:
    b = B()
    b.put(0, "a", 0, None, "v1")
    b.get(1, "a", 2, 3, None)
    b.get(1, "a", 4, 5, "v1")
    assert check(b.h).status == "ok"
    b.get(2, "a", 6, 7, None)   # v1 appeared, then vanished with no delete
    assert check(b.h).status == "violation"


def test_unknown_when_budget_runs_out() -> None:
    b = B()
    # insert/delete pairs and absent reads: each read must be matched to a delete
    for i in range(6):
        b.put(i, "a", 10 * i, 10 * i + 2, f"v{i}")
        b.delete(i, "a", 10 * i + 3, 10 * i + 5, f"v{i}")
        b.get(6, "a", 10 * i + 4, 10 * i + 12, None)
    full = check(b.h)
    assert full.status == "ok" and full.stats["dfs_steps"] >= 6
    v = check(b.h, budget=0)
    assert v.status == "unknown" and v.unknown_keys == ("a",) and not v.violations


def test_non_unique_writes_use_exact_search() -> None:
    b = B()
    b.put(0, "a", 0, 1, "x")
    b.put(1, "a", 2, 3, "y", old="x")
    i = b.put(0, "a", 4, 5, "x", old="y")  # x written twice
    b.h.unique_writes = False
    b.get(2, "a", 6, 7, "x")
    v = check(b.h)
    assert v.status == "ok" and v.stats["fallback_keys"] == 1
    b.h.ops[i].call, b.h.ops[i].ret = 8, 9  # now the read of x at 6..7 is stale
    v = check(b.h)
    assert v.status == "violation" and v.violations[0].cls == "stale-read"


def test_target_error() -> None:
    b = B()
    b.op(0, "put", "a", 0, 1, "error", "v1")
    v = check(b.h)
    one(v, "target-error")
    assert "t0 put v1" in v.violations[0].explanation


def _iterate(b: B, t: int, call: int, ret: int, items: list[tuple[str, str]]) -> int:
    i = len(b.h.ops)
    b.h.ops.append(Operation(t, "iterate", None, call, ret, "done",
                             items=[(b.k(k), b.vals[v]) for k, v in items]))
    return i


def _len(b: B, t: int, call: int, ret: int, n: int) -> int:
    i = len(b.h.ops)
    b.h.ops.append(Operation(t, "len", None, call, ret, "done", length=n))
    return i


def test_duplicate_and_missing_key_in_iteration() -> None:
    b = B()
    b.put(0, "a", 0, 1, "va")
    b.put(0, "b", 2, 3, "vb")
    b.put(1, "c", 10, 30, "vc")  # overlaps the iteration: may or may not appear
    it = _iterate(b, 2, 11, 20, [("a", "va"), ("a", "va")])
    v = check(b.h)
    classes = sorted(x.cls for x in v.violations)
    assert classes == ["duplicate-key", "missing-key"], v
    miss = next(x for x in v.violations if x.cls == "missing-key")
    assert miss.key == "b" and miss.ops == (it,)


def test_iteration_items_are_reads() -> None:
    b = B()
    b.put(0, "a", 0, 1, "v1")
    b.put(0, "a", 2, 3, "v2", old="v1")
    _iterate(b, 1, 5, 6, [("a", "v1")])
    one(check(b.h), "stale-read")


def test_iteration_not_checked_when_target_forbids_concurrent_iterate() -> None:
    b = B()
    b.put(0, "a", 0, 1, "va")
    b.put(1, "c", 10, 30, "vc")
    _iterate(b, 2, 11, 20, [])
    assert check(b.h).status == "violation"
    b.h.concurrent_iterate = False
    assert check(b.h).status == "ok"


def test_len_mismatch_at_quiescence() -> None:
    b = B()
    b.put(0, "a", 0, 5, "va")
    b.put(1, "b", 1, 6, "vb")
    b.delete(1, "b", 7, 8, "vb")
    b.h.quiescent_from = len(b.h.ops)
    b.get(-1, "a", 10, 10, "va")
    b.get(-1, "b", 11, 11, None)
    _iterate(b, -1, 12, 12, [("a", "va")])
    n = _len(b, -1, 13, 13, 1)
    assert check(b.h).status == "ok"
    b.h.ops[n].length = 2
    v = check(b.h)
    one(v, "len-mismatch")
    assert v.violations[0].key is None and "returned 2" in v.violations[0].explanation


def test_len_during_parallel_phase_only_with_exact_len() -> None:
    b = B()
    b.put(0, "a", 0, 1, "va")
    b.put(1, "b", 5, 20, "vb")
    _len(b, 2, 6, 7, 3)
    assert check(b.h).status == "ok"
    b.h.exact_len = True
    one(check(b.h), "len-mismatch")
    b.h.ops[-1].length = 2  # b may already be in
    assert check(b.h).status == "ok"
