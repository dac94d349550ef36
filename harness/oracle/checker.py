"""``check``: split a history by key, check each key, add value/iteration/len rules."""

from __future__ import annotations

from collections.abc import Callable

from harness.data.history import TORN, Columns, History

from .classify import Namer
from .events import BOT, INF, NEG, RN, WB, WN, WP, Event, R, W
from .fallback import exact_check, find_witness
from .iteration import check_iteration
from .register import Finding, fast_check
from .verdict import Verdict, Violation

ValueProblem = Callable[[int, int, int], None]

# order of preference when one key has several problems
_RANK = {"torn-value": 0, "phantom-value": 1}


def events_by_key(
    history: History, only: list[int] | None = None, cols: Columns | None = None,
) -> tuple[dict[int, list[Event]], dict[int, Finding], list[int], Namer | None, ValueProblem]:
    """Per-key register events, value findings (torn/phantom) per key, failed ops.

    ``only``: the indices (ascending) of the operations to convert; default all.
    ``cols``: the columns the bulk split built from this history's operations (their
    value arrays replace reading every ``ValueInfo``)."""
    ops = history.ops
    values = history.values
    vkey: list[int | None] | None = None

    def value_keys() -> list[int | None]:
        """vkey[v]: the key value v was written to (None if unknown)."""
        nonlocal vkey
        if vkey is None:
            if not (range(len(ops)) if only is None else only):
                vkey = []
            elif cols is not None:
                # (bulk path leftovers) the value arrays, as lists, without reading ValueInfo
                from harness.data.history import NULL

                vkey = [None if x == NULL else x for x in cols.value_key.tolist()]
            else:
                vkey = [vi.key for vi in values]
        return vkey

    # written[v]: the key of value v when an operation of the history wrote it; a read
    # of v on key k (never None) is fine only when written.get(v) == k (else torn or
    # phantom)
    written: dict[int, int | None]
    if cols is not None:
        from harness.data.history import NULL

        nv = len(values)
        wrote = (cols.value_writer[:nv] != NULL).nonzero()[0]
        written = dict(zip(wrote.tolist(), [None if x == NULL else x
                                            for x in cols.value_key[wrote].tolist()],
                           strict=True))
    else:
        written = {v: vi.key for v, vi in enumerate(values) if vi.writer is not None}
    wget = written.get
    per_key: dict[int, list[Event]] = {}
    bad: dict[int, Finding] = {}
    errors: list[int] = []
    nm: Namer | None = None

    def value_problem(k: int, v: int, op: int) -> None:
        nonlocal nm
        old = bad.get(k)
        if old is not None and (old.cls == "torn-value" or v != TORN):
            return
        if nm is None:
            nm = Namer(history)
        if v == TORN:
            bad[k] = Finding("torn-value", (op,),
                             f"{nm.op(op)} returned torn bytes that no single write produced.")
        else:
            vk = value_keys()
            other = vk[v] if 0 <= v < len(vk) else None
            where = (f"written for key {nm.key(other)}" if other is not None and other != k
                     else "never written for this key")
            bad[k] = Finding("phantom-value", (op,),
                             f"{nm.op(op)} returned {nm.value(v)}, a value {where}.")

    pget = per_key.get
    todo = enumerate(ops) if only is None else zip(only, map(ops.__getitem__, only), strict=True)
    for idx, op in todo:
        k = op.key
        kind = op.kind
        st = op.status
        if k is None or kind == "iterate" or kind == "len":
            if st == "error":
                errors.append(idx)
            continue
        f = op.ret
        if st == "error":
            errors.append(idx)
            f = None
        evs = pget(k)
        if evs is None:
            evs = per_key[k] = []
        if kind == "get":
            if f is None:
                continue
            if st == "found":
                v = op.out
                assert v is not None
                if wget(v) != k:
                    value_problem(k, v, idx)
                evs.append((op.call, f, R, v, v, idx))
            else:
                evs.append((op.call, f, R, BOT, BOT, idx))
            continue
        s = op.call
        if f is None:
            if kind == "delete":
                evs.append((s, INF, WB, BOT, BOT, idx))
            else:
                a = op.arg
                assert a is not None
                evs.append((s, INF, WB if kind == "put" else WP, BOT, a, idx))
            continue
        v = op.out
        if v is not None and wget(v) != k:
            value_problem(k, v, idx)
        if kind == "put":
            a = op.arg
            assert a is not None
            if st == "inserted":
                evs.append((s, f, W, BOT, a, idx))
            elif v is not None:
                evs.append((s, f, W, v, a, idx))
            else:
                evs.append((s, f, WN, BOT, a, idx))
        elif kind == "delete":
            if st == "removed":
                if v is not None:
                    evs.append((s, f, W, v, BOT, idx))
                else:
                    evs.append((s, f, WN, BOT, BOT, idx))
            else:
                evs.append((s, f, R, BOT, BOT, idx))
        else:  # put_if_absent
            a = op.arg
            assert a is not None
            if st == "inserted":
                evs.append((s, f, W, BOT, a, idx))
            elif v is not None:
                evs.append((s, f, R, v, v, idx))
            else:
                evs.append((s, f, RN, BOT, BOT, idx))

    return per_key, bad, errors, nm, value_problem


FAST_PATHS = True
"""Take the exact shortcuts (a key whose operations never overlap; the quiescent
iterate and len rules). Off, every key and rule goes through the general code; the
verdicts are the same either way (tests compare them)."""

VECTOR_MIN_OPS = 4000
"""Histories with at least this many operations first clear keys in bulk (``vector``)."""


def check(history: History, *, budget: int = 100_000) -> Verdict:
    """Decide whether ``history`` could have come from a correct (linearizable) map.

    Per key (P-compositionality) the operations are checked as an atomic register:
    zones plus an exact ⊥ search when every value is written once and every operation
    returned with its old value, otherwise an exact bounded search. ``budget`` bounds
    the search steps per key; a key whose search runs out is reported in
    ``unknown_keys`` and is never turned into a violation. See :class:`Verdict` for
    how to read the result.
    """
    return check_with(history, budget=budget, vector=len(history.ops) >= VECTOR_MIN_OPS)


def check_with(
    history: History, *, budget: int = 100_000, vector: bool = False, procs: int | None = None,
) -> Verdict:
    """``check``, choosing whether keys are first cleared in bulk (same verdicts), and on
    how many processes (default: the cores, for big histories; harness.oracle.partition)."""
    split = None
    if vector:
        from .partition import split_parallel
        split = split_parallel(history, budget, procs)
    cleared_steps = 0
    if split is None:
        per_key, bad, errors, nm, value_problem = events_by_key(history)
        nkeys = len(per_key)
    else:
        nkeys, cleared_steps = split.keys, split.steps
        per_key, bad, errors, nm, value_problem = events_by_key(
            history, split.plain_ops, split.columns)
    ops = history.ops
    # (a history with iterate, len or failed operations is never split)
    if nm is None and split is None and (
            errors or any(o.kind in ("iterate", "len") for o in ops)):
        nm = Namer(history)
    extra: list[Violation] = []
    if nm is not None and split is None:
        extra = check_iteration(history, nm, per_key, bad, value_problem)

    violations: list[Violation] = []
    unknown: list[str] = []
    steps = cleared_steps
    fallback_keys = 0
    for k, evs in per_key.items():
        fnd = bad.get(k)
        if fnd is None:
            status, used, fnd, fb = _check_key(evs, budget, history, nm)
            steps += used
            fallback_keys += fb
            if status == "unknown":
                unknown.append(history.keys[k])
                continue
        if fnd is not None:
            violations.append(Violation(fnd.cls, history.keys[k], fnd.ops, fnd.explanation))
    violations.sort(key=lambda x: (_RANK.get(x.cls, 2), x.ops))
    violations.extend(extra)
    if errors:
        assert nm is not None
        for i in errors:
            violations.append(Violation(
                "target-error", nm.key(ops[i].key), (i,),
                f"{nm.op(i)} failed: the target reported an error."))
    status = "violation" if violations else ("unknown" if unknown else "ok")
    return Verdict(status, tuple(violations), tuple(unknown),
                   {"keys": nkeys, "ops": len(ops), "dfs_steps": steps,
                    "fallback_keys": fallback_keys})


def _check_key(
    evs: list[Event], budget: int, history: History, nm: Namer | None
) -> tuple[str, int, Finding | None, int]:
    """Check one key's events; returns (status, steps, finding, used fallback)."""
    if FAST_PATHS:
        nbot = _sequential_bot_reads(evs)
        if 0 <= nbot <= budget:
            # what fast_check concludes here: each ⊥ read has one candidate and
            # costs one search step
            return "ok", nbot, None, 0
    fast = True
    written: set[int] = set()
    observed: set[int] = set()
    optional = False
    for e in evs:
        kd = e[2]
        if kd == R:
            observed.add(e[3])
        elif kd == W:
            observed.add(e[3])
            if e[4] != BOT:
                if e[4] in written:
                    fast = False
                written.add(e[4])
        elif kd in (WB, WP):
            optional = True
            if e[4] == BOT or e[4] in written:
                fast = False
            written.add(e[4])
        else:
            fast = False
    if optional and fast:
        # a pending put whose value nobody saw can be left out: after it only other
        # such writes could follow, so dropping it (and them) keeps any order valid
        keep = [e for e in evs if not ((e[2] == WB or e[2] == WP) and e[4] not in observed)]
        if any(e[2] == WB or e[2] == WP for e in keep):
            fast = False
        else:
            evs = keep
    if fast:
        if nm is None:
            nm = Namer(history)
        st, used, fnd = fast_check(evs, budget, nm)
        return st, used, fnd, 0
    if nm is None:
        nm = Namer(history)
    res, used = exact_check(evs, budget)
    if res is None:
        return "unknown", used, None, 1
    if res:
        return "ok", used, None, 1
    return "violation", used, find_witness(evs, nm), 1


def _sequential_bot_reads(evs: list[Event]) -> int:
    """The number of ⊥ reads when the key's events are all ``R`` and ``W`` (so all
    returned), every value is written at most once (``_check_key`` would use
    ``fast_check``), no two intervals overlap and replaying them in real-time order on
    one register is consistent; otherwise -1. Such a key has exactly one order, and it
    is valid."""
    order = sorted(evs)
    cur = BOT
    last_f = NEG
    nbot = 0
    written: set[int] = set()
    for s, f, kd, pre, post, _ in order:
        if s <= last_f or pre != cur:
            return -1
        last_f = f
        if kd == W:
            if post != BOT:
                if post in written:
                    return -1
                written.add(post)
            cur = post
        elif kd != R:
            return -1
        elif pre == BOT:
            nbot += 1
    return nbot
