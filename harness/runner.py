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
import importlib
import os
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from harness.plan import Plan

_c: Any = importlib.import_module("harness._mapfuzz_c")
ffi: Any = _c.ffi
lib: Any = _c.lib

THREAD_SEQ = -1
"""Record.thread of prefill and post-phase operations (MF_THREAD_SEQ in C)."""

STATUSES = ("ok", "hang", "target-error", "invariant", "replay-diverged", "bad-plan")
MODES = {"controlled": 0, "stress": 1}
STRATEGIES = {"random": 0, "pct": 1, "replay": 2}
EVENT_KINDS = ("point", "blocked", "call", "return", "exit")
COV_SIZE: int = lib.MF_COV_SIZE

_REC = struct.Struct("<BBHiiIQQQq")
_ITEM = struct.Struct("<QQII")
_EVENT = struct.Struct("<IBBH")
_OP = struct.Struct("<BBHi")
assert _REC.size == ffi.sizeof("mf_record")
assert _ITEM.size == ffi.sizeof("mf_item")
assert _EVENT.size == ffi.sizeof("mf_event")
assert _OP.size == ffi.sizeof("mf_op")
_NEVER = (1 << 64) - 1
_OP_ITERATE, _OP_LEN = 4, 5


class TargetError(Exception):
    """A target could not be loaded: the message names the path and what to do."""


@dataclass(frozen=True)
class Target:
    """A map the runner can drive: the built-in evacmap or a loaded adapter .so."""

    name: str
    path: str | None
    abi_version: int
    caps: int
    variants: tuple[str, ...]
    _table: Any = field(default=None, repr=False, compare=False)

    @staticmethod
    def load(spec: str) -> Target:
        """``"evacmap"``: the built-in map; anything else: a path to a target .so."""
        if spec == "evacmap":
            table = lib.mf_evacmap()
            if table == ffi.NULL:
                raise TargetError(
                    "the built-in evacmap is not part of this build yet (mf_evacmap() "
                    "returned NULL); pass the path of a target .so instead"
                )
            path: str | None = None
        else:
            path = os.path.abspath(spec) if os.path.exists(spec) else spec
            if not os.path.exists(path):
                raise TargetError(
                    f"{spec}: no such file; a target is 'evacmap' or the path of a shared "
                    "library that exports mf_target_v1 (see csrc/mapfuzz_target.h)"
                )
            err = ffi.new("char[]", 512)
            table = lib.mf_load_target(path.encode(), err, 512)
            if table == ffi.NULL:
                raise TargetError(ffi.string(err).decode(errors="replace"))
        variants: list[str] = []
        if table.variants != ffi.NULL:
            i = 0
            while table.variants[i] != ffi.NULL:
                variants.append(ffi.string(table.variants[i]).decode(errors="replace"))
                i += 1
        name = ffi.string(table.name).decode(errors="replace") if table.name != ffi.NULL else "?"
        return Target(name, path, int(table.abi_version), int(table.caps), tuple(variants), table)

    def variant_index(self, name: str | None) -> int:
        """The ``variant`` argument of create: 0 for the correct map, i for variants[i-1]."""
        if name is None or name == "correct":
            return 0
        try:
            return self.variants.index(name) + 1
        except ValueError:
            known = ", ".join(("correct", *self.variants))
            raise ValueError(
                f"target {self.name} has no variant {name!r}; its variants: {known}"
            ) from None


@dataclass(frozen=True)
class Record:
    """One operation as it ran. ``thread`` is THREAD_SEQ for prefill/post ops.

    ``key``/``value`` are plan indices (value -1 when the op writes none);
    ``status`` is the target's return; ``out`` the bytes it returned (get found,
    put replaced, put_if_absent present, delete removed; None when none were
    reported); ``items`` the (key, value) pairs an iterate visited; ``length``
    the result of len. ``call``/``ret`` are timestamps of one global counter
    (closed intervals; ``ret is None``: never returned). ``op``: index in its list.
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


_new = object.__new__
_setattr = object.__setattr__


@dataclass(frozen=True)
class Event:
    """A schedule point the running thread passed (controlled mode)."""

    site: str
    thread: int
    kind: int
    """0 point, 1 blocked, 2 op call, 3 op return, 4 thread exit (EVENT_KINDS)."""
    op: int


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
    ) -> Execution:
        """Execute ``plan`` once. ``replay`` (flat (step, thread) pairs, as in
        ``Execution.trace``) implies the replay strategy. ``step_bound`` 0 means
        100,000 steps; ``timeout_ms`` 0 means a 10 s watchdog (both modes)."""
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
        cp = _c_plan(plan)
        res = self._res
        rc = lib.mf_runner_run(self._r, cp.ptr, cfg, res)
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

    def _decode(self, res: Any, record_events: bool, cp: _CPlan) -> Execution:
        status = STATUSES[res.status]
        message = ffi.string(res.message).decode(errors="replace")
        records: tuple[Record, ...] = ()
        n = res.nrecords
        if n:
            arena = ffi.buffer(res.arena, res.arena_len)[:] if res.arena_len else b""
            out: list[Record] = []
            append = out.append
            opidx = cp.opidx
            i = -1
            for kind, thread, key, value, st, olen, ooff, call, ret, ln in _REC.iter_unpack(
                ffi.buffer(res.records, n * _REC.size)
            ):
                i += 1
                if call == _NEVER:
                    continue
                items = None
                length = None
                ob = None
                if olen:
                    ob = arena[ooff:ooff + olen]
                elif kind == _OP_ITERATE:
                    if ret != _NEVER:
                        items = tuple(
                            (arena[ko:ko + kl], arena[vo:vo + vl])
                            for ko, vo, kl, vl in _ITEM.iter_unpack(
                                arena[ooff:ooff + ln * _ITEM.size])
                        )
                elif kind == _OP_LEN and ret != _NEVER:
                    length = ln
                rec = _new(Record)
                # Filling __dict__ directly: Record(...) through the frozen __init__
                # costs ~3x more, which shows at 60 records x thousands of runs/s.
                _setattr(rec, "__dict__", {
                    "kind": kind, "thread": -1 if thread == 255 else thread, "key": key,
                    "value": value, "status": st, "out": ob, "items": items,
                    "length": length, "call": call, "ret": None if ret == _NEVER else ret,
                    "op": opidx[i]})
                append(rec)
            records = tuple(out)
        events: tuple[Event, ...] = ()
        if record_events and res.nevents:
            ev = []
            names = _SITE_NAMES
            for site, thread, kind, op in _EVENT.iter_unpack(
                ffi.buffer(res.events, res.nevents * _EVENT.size)
            ):
                e = _new(Event)
                name = names.get(site)
                _setattr(e, "__dict__", {"site": name if name is not None else site_name(site),
                                         "thread": thread, "kind": kind, "op": op})
                ev.append(e)
            events = tuple(ev)
        trace = tuple(ffi.unpack(res.trace, res.ntrace)) if res.ntrace else ()
        return Execution(status, message, int(res.steps), int(res.trace_hash),
                         int(res.preemptions), trace, records, events,
                         bool(res.events_truncated))

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
