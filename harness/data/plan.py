"""A schedule compiled for the runner: encoded keys and values, ops as small ints.

Contract between harness/data/schedule.py (which compiles a Schedule into a Plan, see
``compile_schedule``), harness/run/runner.py (which hands a Plan to the C runner) and
the oracle (which reads the History that ``to_history`` builds from a Plan and an
Execution).

An op is ``(kind, key, value)``: kind is one of the ``OP_*`` codes (equal to the
C side's MF_OP_*), key an index into ``keys`` (0 for iterate/len), value an index
into ``values`` for put/put_if_absent and ``NO_VALUE`` otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import getitem
from typing import Any, Protocol

from harness.data.history import TORN, History, Operation, ValueInfo
from harness.data.schedule import KEYED_KINDS, WRITE_KINDS, Op, Schedule, ScheduleError
from harness.data.values import (
    PREFILL_WRITER,
    check_value,
    describe_value,
    encode_key,
    key_label,
    make_value,
    writer_label,
)

OP_GET, OP_PUT, OP_PUT_IF_ABSENT, OP_DELETE, OP_ITERATE, OP_LEN = range(6)
OP_NAMES = ("get", "put", "put_if_absent", "delete", "iterate", "len")
NO_VALUE = -1

OpCode = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Plan:
    hash_seed: int
    capacity: int
    variant: int
    """Index into the target's variants + 1; 0 is the correct map."""
    keys: tuple[bytes, ...]
    """Encoded keys, tag byte first (harness/data/values.py encodes them)."""
    values: tuple[bytes, ...]
    """Encoded, self-checking values; every one unique."""
    value_key: tuple[int, ...]
    """value_key[v]: the key index value v is written to."""
    prefill: tuple[OpCode, ...]
    threads: tuple[tuple[OpCode, ...], ...]
    value_labels: tuple[str, ...] = ()
    """value_labels[v]: the write that produced value v (``"t1#3"``, ``"pre#2"``)."""


# ---- compiling a schedule --------------------------------------------------------

_KIND_CODES = {name: i for i, name in enumerate(OP_NAMES)}


def compile_schedule(s: Schedule, variants: Sequence[str] | None = None) -> Plan:
    """Compile a (validated) schedule for the runner.

    Keys are encoded; every put/put_if_absent gets its own self-checking value:
    parallel thread i writes with writer i and sequence numbers 1, 2, 3, ... in list
    order, the prefill with ``PREFILL_WRITER``. Values are numbered prefill first,
    then thread 0's writes, thread 1's, ... ``variants`` are the target's seeded-bug
    names: variant name -> its index + 1; None -> 0 (the correct map).
    """
    s.validate()
    variant = 0
    if s.config.variant is not None:
        names = list(variants or ())
        if s.config.variant not in names:
            known = ", ".join(names) if names else "none"
            raise ScheduleError(
                f"config.variant = {s.config.variant!r} is not a variant of "
                f"{s.config.target}; known: {known}"
            )
        variant = names.index(s.config.variant) + 1
    values: list[bytes] = []
    value_key: list[int] = []
    labels: list[str] = []

    def compile_ops(ops: Sequence[Op], writer: int) -> tuple[OpCode, ...]:
        out: list[OpCode] = []
        seq = 0
        for op in ops:
            code = _KIND_CODES[op.kind]
            if op.kind in WRITE_KINDS:
                assert op.vtype is not None
                seq += 1
                out.append((code, op.key, len(values)))
                values.append(make_value(op.vtype, op.vsize, writer, seq))
                value_key.append(op.key)
                labels.append(writer_label(writer, seq))
            elif op.kind in KEYED_KINDS:
                out.append((code, op.key, NO_VALUE))
            else:
                out.append((code, 0, NO_VALUE))
        return tuple(out)

    prefill = compile_ops(s.prefill, PREFILL_WRITER)
    threads = tuple(compile_ops(ops, t) for t, ops in enumerate(s.threads))
    return Plan(
        hash_seed=s.config.hash_seed,
        capacity=s.config.capacity,
        variant=variant,
        keys=tuple(encode_key(k) for k in s.keys),
        values=tuple(values),
        value_key=tuple(value_key),
        prefill=prefill,
        threads=threads,
        value_labels=tuple(labels),
    )


# ---- execution -> history --------------------------------------------------------


class RecordLike(Protocol):
    """One record of an execution (harness.run.runner.Record has this shape)."""

    @property
    def kind(self) -> int: ...
    @property
    def thread(self) -> int: ...
    @property
    def key(self) -> int: ...
    @property
    def value(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def out(self) -> bytes | None: ...
    @property
    def items(self) -> Sequence[tuple[bytes, bytes]] | None: ...
    @property
    def length(self) -> int | None: ...
    @property
    def call(self) -> int: ...
    @property
    def ret(self) -> int | None: ...


class ExecutionLike(Protocol):
    @property
    def records(self) -> Sequence[RecordLike]: ...


THREAD_SEQ = 255
"""Record.thread of the sequential prefill and post phases (MF_THREAD_SEQ)."""

# STATUS[kind][ret] for ret 0 and 1 (target return conventions, mapfuzz_target.h)
_STATUS = (
    ("absent", "found"),  # get
    ("inserted", "replaced"),  # put
    ("present", "inserted"),  # put_if_absent
    ("absent", "removed"),  # delete
)


class _Index:
    """Per-plan lookup tables for to_history, built once and cached."""

    __slots__ = ("items_ids", "key_ids", "key_labels", "layouts", "n_par", "n_pre",
                 "value_ids", "value_info", "value_keys", "value_labels")

    def __init__(self, plan: Plan) -> None:
        self.value_ids = {v: i for i, v in enumerate(plan.values)}
        self.key_ids = {k: i for i, k in enumerate(plan.keys)}
        self.key_labels = [key_label(k) for k in plan.keys]
        labels = plan.value_labels or tuple(describe_value(v) for v in plan.values)
        self.value_info = list(zip(plan.value_key, labels, strict=True))
        self.value_keys = tuple(plan.value_key)
        self.value_labels = tuple(labels)
        self.n_pre = len(plan.prefill)
        self.n_par = sum(len(t) for t in plan.threads)
        # record columns (kind, thread, key, value) -> their _Layout
        self.layouts: dict[tuple[tuple[Any, ...], ...], _Layout | None] = {}
        # an iterate's items -> their (key id, value id) pairs; None when some key or
        # value is not the plan's (those take the record-by-record path)
        self.items_ids: dict[Any, tuple[tuple[int, int], ...] | None] = {}


_MEMO_MAX = 4096


class _Layout:
    """The Operation fields that depend only on a record's kind, thread, key and
    value (its place in the plan), column-wise, for one sequence of records; plus
    the writer of every plan value and where the iterates and lens sit. ``statuses[i]``:
    record i's Operation.status for target returns 0 and 1."""

    __slots__ = ("args", "iterates", "keys", "lens", "names", "none", "others", "quiescent",
                 "statuses", "threads", "writers")

    def __init__(self, ix: _Index, kinds: tuple[int, ...], threads: tuple[int, ...],
                 keys: tuple[int, ...], vals: tuple[int, ...]) -> None:
        n = len(kinds)
        nvals = len(ix.value_keys)
        writers: list[int | None] = [None] * nvals
        names: list[str] = []
        okeys: list[int | None] = []
        args: list[int | None] = []
        iterates: list[int] = []
        lens: list[int] = []
        others: list[int] = []
        statuses: list[tuple[str, str]] = []
        for i in range(n):
            kind = kinds[i]
            if kind.__class__ is not int or not OP_GET <= kind <= OP_LEN:
                raise _NoLayout
            statuses.append(_STATUS[kind] if kind < OP_ITERATE else ("done", "done"))
            if kind < OP_ITERATE:
                names.append(OP_NAMES[kind])
                okeys.append(keys[i])
                arg: int | None = None
                if kind in (OP_PUT, OP_PUT_IF_ABSENT):
                    arg = vals[i]
                    if arg < 0:
                        arg = None
                    else:
                        if arg >= nvals:
                            raise _NoLayout
                        writers[arg] = i
                args.append(arg)
            else:
                others.append(i)
                okeys.append(None)
                args.append(None)
                if kind == OP_ITERATE:
                    names.append("iterate")
                    iterates.append(i)
                else:
                    names.append("len")
                    lens.append(i)
        self.threads = tuple(-1 if t == THREAD_SEQ else t for t in threads)
        self.names = tuple(names)
        self.statuses = tuple(statuses)
        self.keys = tuple(okeys)
        self.args = tuple(args)
        self.writers = tuple(writers)
        self.iterates = tuple(iterates)
        self.lens = tuple(lens)
        self.others = tuple(others)
        self.none: tuple[None, ...] = (None,) * n
        q = ix.n_pre + ix.n_par
        self.quiescent = q if n > q and self.threads[q] == -1 else None


class _NoLayout(Exception):
    """The records do not fit the column-wise path (to_history goes record by record)."""


class _StatusMemo(dict[tuple[int, int], str]):
    """(kind, status) -> Operation.status, computed on first sight."""

    def __missing__(self, ks: tuple[int, int]) -> str:
        kind, status = ks
        if kind < OP_ITERATE:
            st = _STATUS[kind][status] if status in (0, 1) else "error"
        elif kind == OP_ITERATE:
            st = "error" if status < 0 else "done"
        else:
            st = "error" if status < 0 or kind != OP_LEN else "done"
        if len(self) < _MEMO_MAX:
            self[ks] = st
        return st


_STATUS_OF = _StatusMemo()
_STATUS_01 = frozenset((0, 1))
_new = object.__new__
_op_init = Operation.__init__
_vi_init = ValueInfo.__init__
_RECORD_FIELDS = ("kind", "thread", "key", "value", "status", "out", "items", "length",
                  "call", "ret")

_CACHE: dict[int, tuple[Plan, _Index]] = {}
_CACHE_MAX = 64


def _index(plan: Plan) -> _Index:
    hit = _CACHE.get(id(plan))
    if hit is not None and hit[0] is plan:
        return hit[1]
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    ix = _Index(plan)
    _CACHE[id(plan)] = (plan, ix)  # holds the plan, so its id is not reused meanwhile
    return ix


def to_history(
    plan: Plan, execution: ExecutionLike, *, iterate_concurrent: bool, exact_len: bool
) -> History:
    """The History the oracle reads, from a plan and the execution of it.

    Returned value bytes become value ids: the plan's value index when they are a
    value this plan wrote, a fresh id (writer and key None, labelled with the write
    the bytes name) when they pass the self-check but this plan never wrote them
    (phantom), ``TORN`` when they fail it. Iterated keys the plan does not have get
    fresh key ids with ``key_known`` False. Negative target returns give status
    ``"error"``.
    """
    ix = _index(plan)
    records = execution.records
    if records:
        h = _fast_history(ix, records, iterate_concurrent, exact_len)
        if h is not None:
            return h
    return _slow_history(ix, records, iterate_concurrent, exact_len)


def _layout(ix: _Index, cols: tuple[tuple[Any, ...], ...]) -> _Layout | None:
    key = cols[:4]
    layouts = ix.layouts
    try:
        return layouts[key]
    except KeyError:
        pass
    try:
        lay: _Layout | None = _Layout(ix, *key)
    except _NoLayout:
        lay = None
    if len(layouts) >= _MEMO_MAX:
        layouts.clear()
    layouts[key] = lay
    return lay


def _items_ids(ix: _Index, items: Any) -> tuple[tuple[int, int], ...] | None:
    """(key id, value id) pairs of an iterate's items, all the plan's; else None."""
    memo = ix.items_ids
    try:
        return memo[items]
    except KeyError:
        pass
    key_ids, value_ids = ix.key_ids, ix.value_ids
    ids: tuple[tuple[int, int], ...] | None = None
    if all(kb in key_ids and vb in value_ids for kb, vb in items):
        ids = tuple([(key_ids[kb], value_ids[vb]) for kb, vb in items])
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[items] = ids
    return ids


def _fast_history(
    ix: _Index, records: Sequence[RecordLike], iterate_concurrent: bool, exact_len: bool
) -> History | None:
    """to_history column by column, for records that are tuples in Record's field
    order whose returned bytes and iterated items are all the plan's (no torn or
    phantom value, no unknown key). None for anything else: those go record by
    record (``_slow_history``), which numbers fresh ids in record order."""
    rt = type(records[0])
    if not issubclass(rt, tuple) or tuple(getattr(rt, "_fields", ()))[:10] != _RECORD_FIELDS \
            or len(set(map(type, records))) != 1:
        return None
    cols: tuple[tuple[Any, ...], ...] = tuple(zip(*records, strict=True))
    try:
        lay = _layout(ix, cols)
    except TypeError:  # unhashable columns
        return None
    if lay is None:
        return None
    kinds, _, _, _, statuses, outs, items, lengths, calls, rets = cols[:10]
    try:
        oids = list(map(ix.value_ids.get, outs))
    except TypeError:  # unhashable bytes
        return None
    if oids.count(None) != outs.count(None):
        return None  # bytes the plan never wrote (or a mismatch): record by record
    for i in lay.others:
        oids[i] = None
    item_col: Sequence[Any] = lay.none
    if lay.iterates:
        item_col = list(item_col)
        for i in lay.iterates:
            it = items[i]
            if it is not None:
                try:
                    ids = _items_ids(ix, it)
                except TypeError:  # unhashable items
                    return None
                if ids is None:
                    return None
                item_col[i] = list(ids)
    length_col: Sequence[Any] = lay.none
    if lay.lens:
        length_col = list(length_col)
        for i in lay.lens:
            length_col[i] = lengths[i]
    sts: Iterable[str]
    if _STATUS_01.issuperset(statuses):
        sts = map(getitem, lay.statuses, statuses)
    else:
        sts = map(_STATUS_OF.__getitem__, zip(kinds, statuses, strict=True))
    # Operation(...) is object.__new__ then __init__; calling the two from map skips
    # the class call machinery per operation
    ops = list(map(_new, repeat(Operation, len(records))))
    deque(map(_op_init, ops, lay.threads, lay.names, lay.keys, calls, rets, sts, lay.args,
              oids, item_col, length_col), maxlen=0)
    values = list(map(_new, repeat(ValueInfo, len(lay.writers))))
    deque(map(_vi_init, values, lay.writers, ix.value_keys, ix.value_labels), maxlen=0)
    return History(
        ops=ops,
        keys=list(ix.key_labels),
        key_known=[True] * len(ix.key_labels),
        values=values,
        unique_writes=True,
        quiescent_from=lay.quiescent,
        exact_len=exact_len,
        concurrent_iterate=iterate_concurrent,
    )


def _slow_history(
    ix: _Index, records: Sequence[RecordLike], iterate_concurrent: bool, exact_len: bool
) -> History:
    """to_history record by record (any records)."""
    value_ids = ix.value_ids
    values = [ValueInfo(None, k, label) for k, label in ix.value_info]
    keys = list(ix.key_labels)
    key_known = [True] * len(keys)
    extra: dict[bytes, int] = {}

    def value_id(b: bytes) -> int:
        v = value_ids.get(b)
        if v is not None:
            return v
        v = extra.get(b)
        if v is not None:
            return v
        if check_value(b) is None:
            v = TORN
        else:
            v = len(values)
            values.append(ValueInfo(None, None, describe_value(b)))
        extra[b] = v
        return v

    key_ids = ix.key_ids
    key_extra: dict[bytes, int] = {}

    def key_id(b: bytes) -> int:
        k = key_extra.get(b)
        if k is None:
            k = len(keys)
            keys.append(key_label(b))
            key_known.append(False)
            key_extra[b] = k
        return k

    ops: list[Operation] = []
    append = ops.append
    for r in records:
        kind = r.kind
        status = r.status
        thread = r.thread
        if thread == THREAD_SEQ:
            thread = -1
        if kind < OP_ITERATE:
            st = _STATUS[kind][status] if status in (0, 1) else "error"
            out = r.out
            oid = None if out is None else value_ids.get(out)
            if oid is None and out is not None:
                oid = value_id(out)
            arg: int | None = None
            if kind in (OP_PUT, OP_PUT_IF_ABSENT):
                arg = r.value
                if arg < 0:
                    arg = None
                else:
                    values[arg].writer = len(ops)
            append(Operation(thread, OP_NAMES[kind], r.key, r.call, r.ret, st, arg, oid))
        elif kind == OP_ITERATE:
            items = None
            if r.items is not None:
                items = [
                    (
                        key_ids[kb] if kb in key_ids else key_id(kb),
                        value_ids[vb] if vb in value_ids else value_id(vb),
                    )
                    for kb, vb in r.items
                ]
            append(
                Operation(
                    thread,
                    "iterate",
                    None,
                    r.call,
                    r.ret,
                    "error" if status < 0 else "done",
                    items=items,
                )
            )
        else:
            st = "error" if status < 0 or kind != OP_LEN else "done"
            append(Operation(thread, "len", None, r.call, r.ret, st, length=r.length))
    q = ix.n_pre + ix.n_par
    quiescent = q if len(ops) > q and ops[q].thread == -1 else None
    return History(
        ops=ops,
        keys=keys,
        key_known=key_known,
        values=values,
        unique_writes=True,
        quiescent_from=quiescent,
        exact_len=exact_len,
        concurrent_iterate=iterate_concurrent,
    )
