"""Run one Plan against a target on the C runner and return what happened.

The C side (csrc/runner.c, csrc/host.c) owns a persistent pool of pthreads and runs
a whole execution with the GIL released: create the map, sequential prefill,
parallel phase (controlled or stress), quiescent post phase, destroy. This module
loads targets, hands Plans to C (their C buffers are cached per Plan object, so a
replay that runs one plan 1,000 times converts it once) and turns the C records
into Python objects.

Record order (the runner's contract, csrc/mapfuzz_runner.h): prefill ops first
(``thread == THREAD_SEQ``), then the parallel ops in plan order (thread 0's list,
then thread 1's, ...), then the post phase (``THREAD_SEQ``): one get per key of
the plan's key table, one iterate (if the target has it), one len. ``Record.op``
is the op's index in its list (prefill, the thread's list, or the post phase).
Operations that never started (the run was aborted first) are left out; one that
started but never returned has ``ret is None``.

Controlled mode is deterministic: the same plan, strategy, seed and depth give the
same decisions, trace hash and records. ``Execution.trace`` is the decision trace,
flat pairs ``(step, thread, step, thread, ...)``: from event ``step`` on,
``thread`` runs. Pass it back as ``replay=`` to reproduce the execution.

Hangs: a controlled run that reaches the step bound, or a stress run whose
watchdog fires, ends with status ``"hang"``; every pool thread is unwound from its
next schedule point. A thread stuck in the target without ever calling the host
cannot be unwound: the C runner is then broken, and this class replaces it with a
new one transparently (the old threads are leaked).
"""

from __future__ import annotations

import contextlib
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from types import TracebackType
from typing import Any, NamedTuple

from harness.data.plan import Plan
from harness.run.binding import ffi, lib
from harness.run.target import Target

THREAD_SEQ = -1
"""Record.thread of prefill and post-phase operations (MF_THREAD_SEQ in C)."""

STATUSES = ("ok", "hang", "target-error", "invariant", "replay-diverged", "bad-plan")
MODES = {"controlled": 0, "stress": 1}
STRATEGIES = {"random": 0, "pct": 1, "replay": 2}
EVENT_KINDS = ("point", "blocked", "call", "return", "exit")
STRUCT_KINDS = {1: "grow-begin", 2: "grow-end", 3: "generation"}
"""Structural events a target reports (MF_EVENT_* in csrc/mapfuzz_target.h)."""
COV_SIZE: int = lib.MF_COV_SIZE

_REC = struct.Struct("<BBHiiIQQQq")
_ITEM = struct.Struct("<QQII")
_EVENT = struct.Struct("<IBBH")
_OP = struct.Struct("<BBHi")
_SEVENT = struct.Struct("<QQIBBH")
assert _REC.size == ffi.sizeof("mf_record")
assert _ITEM.size == ffi.sizeof("mf_item")
assert _EVENT.size == ffi.sizeof("mf_event")
assert _OP.size == ffi.sizeof("mf_op")
assert _SEVENT.size == ffi.sizeof("mf_sevent")
_NEVER = (1 << 64) - 1
_OP_ITERATE, _OP_LEN = 4, 5


class Record(NamedTuple):
    """One operation as it ran. ``thread`` is THREAD_SEQ for prefill/post ops.

    ``key``/``value`` are plan indices (value -1 when the op writes none);
    ``status`` is the target's return; ``out`` the bytes it returned (get found,
    put replaced, put_if_absent present, delete removed; None when none were
    reported); ``items`` the (key, value) pairs an iterate visited; ``length``
    the result of len. ``call``/``ret`` are timestamps of one global counter
    (closed intervals; ``ret is None``: never returned). ``op``: index in its list.

    Immutable. A NamedTuple rather than a frozen dataclass: decoding builds ~100
    of them per execution, and ``tuple.__new__`` is ~4x cheaper than filling a
    dataclass instance.
    """

    kind: int
    thread: int
    key: int
    value: int
    status: int
    out: bytes | None
    items: tuple[tuple[bytes, bytes], ...] | None
    length: int | None
    call: int
    ret: int | None
    op: int = 0


class Event(NamedTuple):
    """A schedule point the running thread passed (controlled mode)."""

    site: str
    thread: int
    kind: int
    """0 point, 1 blocked, 2 op call, 3 op return, 4 thread exit (EVENT_KINDS)."""
    op: int


class StructEvent(NamedTuple):
    """A structural event the target reported (MF_CAP_EVENTS): a growth began or
    ended, a table generation changed. ``clock`` places it among the records:
    records with ``ret < clock`` returned before it, records with ``call >= clock``
    were called after it. ``step`` (controlled parallel phase only, else None): the
    schedule events passed before it, so it lies between ``events[step - 1]`` and
    ``events[step]``. ``thread`` is THREAD_SEQ outside the parallel phase; ``op`` the
    reporting thread's op in flight (index in its list)."""

    kind: str
    """grow-begin | grow-end | generation (STRUCT_KINDS)"""
    arg: int
    clock: int
    step: int | None
    thread: int
    op: int


_new = object.__new__
_setattr = object.__setattr__
_tnew = tuple.__new__


@dataclass(frozen=True)
class Execution:
    status: str
    """ok | hang | target-error | invariant | replay-diverged | bad-plan"""
    message: str
    steps: int
    trace_hash: int
    preemptions: int
    trace: tuple[int, ...]
    records: tuple[Record, ...]
    events: tuple[Event, ...]
    events_truncated: bool
    structural: tuple[StructEvent, ...] = ()
    """Structural events the target reported, in the order they were reported."""

    def grows_in_parallel(self, nprefill: int) -> bool:
        """Whether a growth ran during the parallel phase: one began or ended on a
        pool thread, or one begun in the prefill was still running when it started
        (the prefill's ops take the clock values 0 .. 2 * nprefill - 1)."""
        open_ = 0
        for e in self.structural:
            if e.thread != THREAD_SEQ:
                return True
            if e.clock < 2 * nprefill:
                open_ += {"grow-begin": 1, "grow-end": -1}.get(e.kind, 0)
        return open_ > 0


class _CPlan:
    """The C buffers of one Plan (kept alive as long as the mf_plan points at them)."""

    def __init__(self, plan: Plan) -> None:
        keys, values = plan.keys, plan.values
        self.keep: list[Any] = []
        p = ffi.new("mf_plan *")
        p.hash_seed = plan.hash_seed
        p.capacity = plan.capacity
        p.variant = plan.variant
        p.nkeys = len(keys)
        p.key_data = self._bytes(b"".join(keys))
        p.key_off = self._offsets(keys)
        p.nvalues = len(values)
        p.val_data = self._bytes(b"".join(values))
        p.val_off = self._offsets(values)
        p.nprefill = len(plan.prefill)
        p.prefill = self._ops(plan.prefill)
        p.nthreads = len(plan.threads)
        p.thread_nops = self._u32([len(t) for t in plan.threads])
        p.ops = self._ops([op for t in plan.threads for op in t])
        self.ptr = p
        # Record.op by record position: prefill, each thread's list, post phase.
        opidx = list(range(len(plan.prefill)))
        for t in plan.threads:
            opidx.extend(range(len(t)))
        opidx.extend(range(len(keys) + 2))
        self.opidx = opidx
        # Per record count: the plan-determined columns of the records (see
        # _Columns); filled by the first complete run decoded with that count.
        self.columns: dict[int, _Columns] = {}
        # Iterate results seen with this plan (see _items_memo).
        self.items_memo: dict[Any, tuple[tuple[bytes, bytes], ...]] = {}

    def _bytes(self, data: bytes) -> Any:
        buf = ffi.new("uint8_t[]", max(1, len(data)))
        ffi.memmove(buf, data, len(data))
        self.keep.append(buf)
        return buf

    def _u32(self, xs: Sequence[int]) -> Any:
        buf = ffi.new("uint32_t[]", list(xs) or [0])
        self.keep.append(buf)
        return buf

    def _offsets(self, items: Sequence[bytes]) -> Any:
        offs = [0]
        for it in items:
            offs.append(offs[-1] + len(it))
        return self._u32(offs)

    def _ops(self, ops: Sequence[tuple[int, int, int]]) -> Any:
        raw = bytearray(_OP.size * max(1, len(ops)))
        for i, (kind, key, value) in enumerate(ops):
            # Out-of-range fields are clamped into something the C validator
            # rejects with a message (bad-plan) rather than raising struct.error.
            _OP.pack_into(raw, i * _OP.size, kind if 0 <= kind < 256 else 255, 0,
                          key if 0 <= key < 65536 else 65535,
                          value if -(1 << 31) <= value < (1 << 31) else -(1 << 31))
        buf = self._bytes(bytes(raw))
        return ffi.cast("mf_op *", buf)


class _Columns:
    """What the C runner presets from the plan in every record (kind, thread, key,
    value) plus Record.op, as columns, and where the iterates and lens sit. The
    same for every run of one plan with one record count, so they are built once."""

    def __init__(self, flat: tuple[int, ...], opidx: list[int]) -> None:
        n = len(flat) // 10
        kinds = flat[0::10]
        self.kinds = kinds
        self.threads = tuple(-1 if t == 255 else t for t in flat[1::10])
        self.keys = flat[2::10]
        self.values = flat[3::10]
        self.ops = tuple(opidx[:n])
        self.iterates = tuple(i for i, k in enumerate(kinds) if k == _OP_ITERATE)
        self.lens = tuple(i for i, k in enumerate(kinds) if k == _OP_LEN)
        self.none = (None,) * n


_REC_N: dict[int, struct.Struct] = {}
_DYN_N: dict[int, struct.Struct] = {}
_LENS_N: dict[int, struct.Struct] = {}
_U64 = struct.Struct("<Q")


def _rec_struct(n: int) -> struct.Struct:
    """n consecutive mf_records, every field."""
    st = _REC_N.get(n)
    if st is None:
        st = _REC_N[n] = struct.Struct("<" + _REC.format.lstrip("<") * n)
    return st


def _dyn_struct(n: int) -> struct.Struct:
    """n consecutive mf_records, only the fields a run fills in (status, out_len,
    out_off, t_call, t_ret, len): 6 per record; kind/thread/key/value are skipped."""
    st = _DYN_N.get(n)
    if st is None:
        st = _DYN_N[n] = struct.Struct("<" + "8xiIQQQq" * n)
    return st


def _items(arena: bytes, off: int, count: int) -> tuple[tuple[bytes, bytes], ...]:
    """The (key, value) pairs of an iterate: `count` mf_items at `off` in the arena."""
    return tuple([(arena[ko:ko + kl], arena[vo:vo + vl])
                  for ko, vo, kl, vl in _ITEM.iter_unpack(arena[off:off + count * _ITEM.size])])


_ITEMS_MEMO_CAP = 4096


def _items_memo(memo: dict[Any, tuple[tuple[bytes, bytes], ...]], arena: bytes, off: int,
                count: int) -> tuple[tuple[bytes, bytes], ...]:
    """_items through a per-plan memo keyed by content. The runner lays out an
    iterate's bytes contiguously (csrc/runner.c, visit: key, value, key, value...),
    so its items are determined by those bytes and the (key, value) lengths; one
    unpack of the lengths and one slice replace a slice pair per item. A layout
    that is not contiguous (never produced) is decoded item by item, uncached."""
    if not count:
        return ()
    st = _LENS_N.get(count)
    if st is None:
        st = _LENS_N[count] = struct.Struct("<" + "16xII" * count)
    lens = st.unpack_from(arena, off)
    start = _U64.unpack_from(arena, off)[0]
    key = (arena[start:start + sum(lens)], lens)
    hit = memo.get(key)
    if hit is not None:
        return hit
    items = _items(arena, off, count)
    if b"".join([k + v for k, v in items]) == key[0] and \
            _U64.unpack_from(arena, off + (count - 1) * _ITEM.size + 8)[0] + lens[-1] \
            == start + len(key[0]):
        if len(memo) >= _ITEMS_MEMO_CAP:
            memo.clear()
        memo[key] = items
    return items


_PLAN_CACHE: OrderedDict[int, tuple[Plan, _CPlan]] = OrderedDict()
_PLAN_CACHE_SIZE = 64


def _c_plan(plan: Plan) -> _CPlan:
    # Keyed by id(); the entry holds the Plan itself, so the id cannot be reused
    # while the entry lives.
    hit = _PLAN_CACHE.get(id(plan))
    if hit is not None and hit[0] is plan:
        _PLAN_CACHE.move_to_end(id(plan))
        return hit[1]
    cp = _CPlan(plan)
    _PLAN_CACHE[id(plan)] = (plan, cp)
    if len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
        _PLAN_CACHE.popitem(last=False)
    return cp


_SITE_NAMES: dict[int, str] = {}


def site_name(site: int) -> str:
    """The string of a site id (as the target passed it to point/blocked)."""
    name = _SITE_NAMES.get(site)
    if name is None:
        p = lib.mf_site_name(site)
        name = ffi.string(p).decode(errors="replace") if p != ffi.NULL else f"site#{site:08x}"
        _SITE_NAMES[site] = name
    return name


def mirrored_trace(mirror: Sequence[int]) -> tuple[int, ...]:
    """The decision trace a run left in a ``trace_mirror`` buffer (whole pairs)."""
    n = min(int(mirror[0]), len(mirror) - 1) & ~1
    return tuple(int(x) for x in mirror[1:1 + n])


class Runner:
    """A pool of ``max_threads`` pthreads driving one target; reuse it for many runs."""

    def __init__(self, target: Target, max_threads: int = 16) -> None:
        self.target = target
        self.max_threads = max_threads
        self._cfg = ffi.new("mf_config *")
        self._res = ffi.new("mf_result *")
        self._replay_key: tuple[int, ...] | None = None
        self._replay_buf: Any = None
        self._r: Any = None
        self._r = self._new()

    def _new(self) -> Any:
        err = ffi.new("char[]", 512)
        r = lib.mf_runner_new(self.target._table, self.max_threads, err, 512)
        if r == ffi.NULL:
            msg = ffi.string(err).decode(errors="replace")
            raise RuntimeError(f"cannot create a runner: {msg}")
        return r

    def run(
        self,
        plan: Plan,
        *,
        mode: str = "controlled",
        strategy: str = "pct",
        seed: int = 0,
        pct_depth: int = 3,
        noise: float = 0.0,
        replay: Sequence[int] | None = None,
        step_bound: int = 0,
        record_events: bool = True,
        pct_steps: int = 0,
        timeout_ms: int = 0,
        trace_mirror: Any = None,
    ) -> Execution:
        """Execute ``plan`` once. ``replay`` (flat (step, thread) pairs, as in
        ``Execution.trace``) implies the replay strategy. ``step_bound`` 0 means
        100,000 steps; ``timeout_ms`` 0 means a 10 s watchdog (both modes).
        ``trace_mirror``: a writable buffer of uint32 (e.g. memory shared with a
        parent process) that receives a crash-safe copy of the decision trace:
        word 0 the number of trace words so far, then the words (see
        ``mirrored_trace``)."""
        if self._r is None:
            raise ValueError("this Runner is closed")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        if replay is not None:
            strategy = "replay"
        elif strategy == "replay":
            raise ValueError("strategy 'replay' needs replay=<a trace from Execution.trace>")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; strategies: {', '.join(STRATEGIES)}")
        cfg = self._cfg
        cfg.mode = MODES[mode]
        cfg.strategy = STRATEGIES[strategy]
        cfg.seed = seed & 0xFFFFFFFFFFFFFFFF
        cfg.pct_depth = pct_depth
        cfg.step_bound = step_bound
        cfg.noise = noise
        cfg.stress_timeout_ms = timeout_ms
        cfg.pct_steps = pct_steps
        if replay is not None:
            key = tuple(replay)
            if len(key) % 2:
                raise ValueError(
                    "a replay trace is flat (step, thread) pairs: its length must be even")
            if key != self._replay_key:
                self._replay_buf = ffi.new("uint32_t[]", [x & 0xFFFFFFFF for x in key] or [0])
                self._replay_key = key
            cfg.replay = self._replay_buf
            cfg.replay_len = len(key) // 2
        else:
            cfg.replay = ffi.NULL
            cfg.replay_len = 0
        if trace_mirror is not None:
            mirror = ffi.from_buffer("uint32_t[]", trace_mirror, require_writable=True)
            cfg.trace_mirror = mirror
            cfg.trace_mirror_cap = len(mirror)
        else:
            mirror = None
            cfg.trace_mirror = ffi.NULL
            cfg.trace_mirror_cap = 0
        cp = _c_plan(plan)
        res = self._res
        rc = lib.mf_runner_run(self._r, cp.ptr, cfg, res)
        cfg.trace_mirror = ffi.NULL
        del mirror
        if rc < 0:
            msg = ffi.string(res.message).decode(errors="replace")
            if res.broken:
                self._r = self._new()
            raise RuntimeError(f"runner failed: {msg}")
        exe = self._decode(res, record_events, cp)
        if res.broken:
            # The old pool has a thread stuck in the target: C leaks it; start afresh.
            self._r = self._new()
        return exe

    def run_undecoded(
        self, plan: Plan, seeds: Sequence[int], *, strategy: str = "pct", pct_depth: int = 3
    ) -> int:
        """Run ``plan`` in controlled mode once per seed and decode nothing: the C
        core's own speed, for benchmarks (oracle and Python decoding excluded).
        Returns how many executions ended with a status other than ok."""
        if self._r is None:
            raise ValueError("this Runner is closed")
        cfg = self._cfg
        cfg.mode = MODES["controlled"]
        cfg.strategy = STRATEGIES[strategy]
        cfg.pct_depth = pct_depth
        cfg.step_bound = 0
        cfg.noise = 0.0
        cfg.stress_timeout_ms = 0
        cfg.pct_steps = 0
        cfg.replay = ffi.NULL
        cfg.replay_len = 0
        cfg.trace_mirror = ffi.NULL
        cfg.trace_mirror_cap = 0
        cp = _c_plan(plan)
        res = self._res
        bad = 0
        for seed in seeds:
            cfg.seed = seed & 0xFFFFFFFFFFFFFFFF
            if lib.mf_runner_run(self._r, cp.ptr, cfg, res) < 0 or res.status != 0:
                bad += 1
                if res.broken:
                    self._r = self._new()
        return bad

    def _decode(self, res: Any, record_events: bool, cp: _CPlan) -> Execution:
        status = STATUSES[res.status]
        message = ffi.string(res.message).decode(errors="replace")
        records: tuple[Record, ...] = ()
        n = res.nrecords
        if n:
            alen = res.arena_len
            arena = ffi.buffer(res.arena, alen)[:] if alen else b""
            raw = ffi.buffer(res.records, n * _REC.size)
            dyn = _dyn_struct(n).unpack_from(raw) if n <= 16384 else None
            if dyn is not None and _NEVER not in dyn[4::6]:
                cols = cp.columns.get(n)
                if cols is None:
                    cols = cp.columns[n] = _Columns(_rec_struct(n).unpack_from(raw), cp.opidx)
                records = self._records_fast(dyn, arena, cp, cols)
            else:
                records = self._records_slow(raw, arena, cp)
        events: tuple[Event, ...] = ()
        if record_events and res.nevents:
            names = _SITE_NAMES
            ev_t = Event
            events = tuple([
                _tnew(ev_t, (names[site] if site in names else site_name(site), thread, kind, op))
                for site, thread, kind, op in _EVENT.iter_unpack(
                    ffi.buffer(res.events, res.nevents * _EVENT.size))
            ])
        nt = res.ntrace
        trace = tuple(ffi.unpack(res.trace, nt)) if nt else ()
        structural: tuple[StructEvent, ...] = ()
        if res.nsevents:
            structural = tuple(
                StructEvent(STRUCT_KINDS.get(kind, f"event-{kind}"), arg, clock,
                            None if step == 0xFFFFFFFF else step,
                            -1 if thread == 255 else thread, op)
                for clock, arg, step, thread, kind, op in _SEVENT.iter_unpack(
                    ffi.buffer(res.sevents, res.nsevents * _SEVENT.size)))
        exe = _new(Execution)
        # Filling __dict__ directly: the frozen dataclass __init__ sets each field
        # through object.__setattr__, several times slower.
        _setattr(exe, "__dict__", {
            "status": status, "message": message, "steps": res.steps,
            "trace_hash": res.trace_hash, "preemptions": res.preemptions, "trace": trace,
            "records": records, "events": events,
            "events_truncated": bool(res.events_truncated), "structural": structural})
        return exe

    @staticmethod
    def _records_fast(dyn: tuple[int, ...], arena: bytes, cp: _CPlan,
                      cols: _Columns) -> tuple[Record, ...]:
        """Every op ran and returned: build the records column-wise. The plan's
        columns are cached; the run's come out of one struct unpack (``dyn``: 6
        fields per record, see _dyn_struct); no Python code runs per record
        except for its returned bytes."""
        # bytes only where a record returned some (out_len > 0); None elsewhere
        lens, offs = dyn[1::6], dyn[2::6]
        outs: list[bytes | None] = list(cols.none)
        for i in compress(range(len(lens)), lens):
            o = offs[i]
            outs[i] = arena[o:o + lens[i]]
        items: Sequence[Any] = cols.none
        if cols.iterates:
            items = list(items)
            counts = dyn[5::6]
            memo = cp.items_memo
            for i in cols.iterates:
                items[i] = _items_memo(memo, arena, offs[i], counts[i])
        lengths: Sequence[Any] = cols.none
        if cols.lens:
            lengths = list(lengths)
            counts = dyn[5::6]
            for i in cols.lens:
                lengths[i] = counts[i]
        return tuple(map(_tnew, repeat(Record), zip(
            cols.kinds, cols.threads, cols.keys, cols.values, dyn[0::6], outs, items,
            lengths, dyn[3::6], dyn[4::6], cols.ops, strict=True)))

    @staticmethod
    def _records_slow(raw: Any, arena: bytes, cp: _CPlan) -> tuple[Record, ...]:
        """Record by record: runs with ops that never started or never returned."""
        out: list[Record] = []
        append = out.append
        opidx = cp.opidx
        tnew = _tnew
        rec_t = Record
        i = -1
        for kind, thread, key, value, st, olen, ooff, call, ret, ln in _REC.iter_unpack(raw):
            i += 1
            if call == _NEVER:
                continue
            if ret == _NEVER:
                ret = None
            if thread == 255:
                thread = -1
            ob = arena[ooff:ooff + olen] if olen else None
            items = None
            length = None
            if not olen and ret is not None:
                if kind == _OP_ITERATE:
                    items = _items(arena, ooff, ln)
                elif kind == _OP_LEN:
                    length = ln
            append(tnew(rec_t, (kind, thread, key, value, st, ob, items, length, call, ret,
                                opidx[i])))
        return tuple(out)

    def coverage(self) -> bytes:
        """A copy of the interleaving-coverage counters (COV_SIZE bytes) of the last run."""
        if self._r is None:
            raise ValueError("this Runner is closed")
        return bytes(ffi.buffer(lib.mf_runner_coverage(self._r), COV_SIZE))

    def features(self) -> int:
        """Distinct interleaving-coverage counters hit by any controlled run of this runner."""
        if self._r is None:
            raise ValueError("this Runner is closed")
        return int(lib.mf_runner_features(self._r))

    def close(self) -> None:
        if self._r is not None:
            lib.mf_runner_free(self._r)
            self._r = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
