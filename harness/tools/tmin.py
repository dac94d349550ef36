"""tmin: shrink a reproducer to the smallest schedule that fails the same way.

The generic shrinker (``harness.tools.minimize``) sees a ``Case``: a schedule, the
decision trace to replay it with (controlled) and, per key, the index that key had
in the input schedule (``origin``). This module supplies the passes that propose
smaller cases and the predicate that runs them; runs go through a ``Runs`` object
(a worker process by default, so a candidate that crashes the target is a failed
attempt, not a dead tmin).

Failure signature
-----------------
A candidate is kept only when it fails with the same *signature* as the input: the
input's first violation class, and the same *role* of the key. The role of a key is
its index in the input schedule, carried through every reduction by ``origin``
(dropping key 2 renumbers keys 3.. to 2.., renaming a key keeps its origin). So
"lost-write on the key that was keys[5]" in the input must stay a lost write on
the key that descends from keys[5]; a lost write on another key is a different
bug and is rejected. Whole-map findings (``len-mismatch``, ``invariant``, ``hang``,
``crash``) have no key: the class alone is the signature.

Controlled reproducers: one run per candidate
---------------------------------------------
A controlled run replays its decision trace exactly, so one run decides a
candidate. When a candidate drops operations or a thread, the trace is remapped
with the event log of the current case's run: a trace pair ``(step, thread)``
moves back by the number of dropped events before ``step``; pairs naming a dropped
thread go, and thread numbers above it shift down. Cutting a preemption is
removing a pair: where the trace is silent the running thread goes on (see
csrc/host.c, replay). The predicate answers with the trace the run actually took,
so the next remap works from real events. Same input, same output: nothing in the
search depends on time unless ``seconds`` runs out (the result says so).

Tiny tables: a reshaped run
---------------------------
Growth bugs need the first table filled to its load limit, 7 entries for a full
group. The tiny-table pass lowers the limit through the capacity hint (evacmap
takes 1..7 as a tiny first table) and drops as many prefill puts. Such a candidate
runs its growth at another point of the run, so when replaying the trace does not
fail the same way, a fixed, seeded search of controlled schedules
(``harness.search.schedule_search``, ``research_budget`` runs) looks for one that does;
the search is as deterministic as a replay.

Merging threads is the other reshaping reduction: one thread's operations move
into a neighbour's list, and the merged case is searched the same way.

Stress reproducers: k of N
--------------------------
A stress run is not repeatable, so a candidate is kept only when at least ``k`` of
``n`` stress runs (fixed noise seeds) show the signature; the result carries the
reproduction rate of the final schedule over a fresh set of runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from harness.data.schedule import WRITE_KINDS, Op, Schedule
from harness.data.values import SIZE_RANGES, Key, MyInt, format_key
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer
from harness.run.worker import Attempt
from harness.search.generate import GROUP_SLOTS, growth_threshold
from harness.search.schedule_search import search
from harness.tools.candidates import (
    Case,
    EventKey,
    LocalRuns,
    Runs,
    Signature,
    WorkerRuns,
    lead_with,
    signature_of,
)
from harness.tools.minimize import Pass, Size, chunk_deletions, shrink

RESEARCH_BUDGET = 200
"""Controlled runs a searched candidate (``Case.search``) gets before it is rejected."""

EVENT_EXIT = 4
"""Event kind of a thread's exit (harness.run.runner.EVENT_KINDS)."""

_VTYPE_RANK = {"int": 0, "float": 1, "str": 2, "tuple": 3, "bytes": 4}


class TminError(ValueError):
    """The input cannot be minimised (it does not fail, or the target will not run it)."""


def total_ops(s: Schedule) -> int:
    """Operations of the parallel phase and the prefill."""
    return s.nops + len(s.prefill)


def _key_cost(k: Key) -> int:
    if isinstance(k, int):
        return abs(k).bit_length()
    if isinstance(k, MyInt):
        return 50 + abs(k.value).bit_length()
    if isinstance(k, str):
        return 100 + len(k.encode())
    return 200 + len(k)


def case_size(c: Case) -> Size:
    """Lexicographic: operations, threads, trace pairs, keys, then how plain the
    values, keys and map configuration are."""
    s = c.schedule
    writes = [op for op in (*s.prefill, *(op for t in s.threads for op in t))
              if op.kind in WRITE_KINDS]
    value_cost = sum(_VTYPE_RANK[op.vtype or "int"] * 1000 + op.vsize for op in writes)
    kind_cost = sum(1 for t in s.threads for op in t if op.kind == "put_if_absent")
    return (
        total_ops(s),
        len(s.threads),
        len(c.trace) // 2,
        len(s.keys),
        kind_cost,
        value_cost,
        sum(_key_cost(k) for k in s.keys),
        int(s.config.hash_seed != 0),
        s.config.capacity,
    )


# ---- trace remapping ---------------------------------------------------------------


def remap_trace(
    trace: Sequence[int],
    events: Sequence[EventKey],
    dropped: Callable[[EventKey], bool],
    thread_map: Callable[[int], int | None],
) -> tuple[int, ...]:
    """The trace of a schedule with some events gone (``dropped``) and threads
    renumbered (``thread_map``: new index, or None for a dropped thread).

    Steps are event counts: a pair's step moves back by the dropped events before
    it. Two pairs landing on one step keep the later decision. Without an event log
    (a crashed run) the trace is returned unchanged."""
    if not events:
        return tuple(trace)
    prefix = [0]
    for e in events:
        prefix.append(prefix[-1] + (0 if dropped(e) else 1))
    removed = len(events) - prefix[-1]
    pairs: list[tuple[int, int]] = []
    for i in range(0, len(trace) - 1, 2):
        step, thread = trace[i], trace[i + 1]
        nt = thread_map(thread)
        if nt is None:
            continue
        ns = prefix[step] if step <= len(events) else step - removed
        while pairs and pairs[-1][0] >= ns:
            pairs.pop()
        pairs.append((ns, nt))
    return tuple(x for p in pairs for x in p)


def _same(t: int) -> int | None:
    return t


# ---- passes ------------------------------------------------------------------------


def _with(c: Case, schedule: Schedule, trace: tuple[int, ...] | None = None,
          origin: tuple[int, ...] | None = None) -> Case:
    return Case(schedule, c.trace if trace is None else trace,
                c.origin if origin is None else origin, c.events)


def drop_threads(c: Case) -> Iterator[Case]:
    s = c.schedule
    n = len(s.threads)
    if n == 1:
        return
    for t in reversed(range(n)):
        threads = s.threads[:t] + s.threads[t + 1 :]

        def tmap(x: int, t: int = t) -> int | None:
            return None if x == t else (x - 1 if x > t else x)

        def gone(e: EventKey, t: int = t) -> bool:
            return e[0] == t

        trace = remap_trace(c.trace, c.events, gone, tmap)
        yield _with(c, replace(s, threads=threads), trace)


def merge_threads(c: Case) -> Iterator[Case]:
    """One thread fewer, its operations kept: thread t's ops appended to (then put in
    front of) thread t-1's. A race between t and a third thread often needs
    only t's effect, not t's concurrency (a delete and a put that another thread's
    read straddles can run one after the other in one thread). Thread numbers change,
    so the candidate is searched (``Case.search``) when its replay does not fail the
    same way."""
    s = c.schedule
    for t in reversed(range(1, len(s.threads))):
        u = t - 1
        for merged in (s.threads[u] + s.threads[t], s.threads[t] + s.threads[u]):
            threads = list(s.threads)
            threads[u] = merged
            del threads[t]
            yield Case(replace(s, threads=tuple(threads)), (), c.origin, search=True)


def drop_thread_ops(c: Case) -> Iterator[Case]:
    s = c.schedule
    for t in reversed(range(len(s.threads))):
        ops = s.threads[t]
        idx = tuple(range(len(ops)))
        for kept in chunk_deletions(idx):
            keep = set(kept)

            def gone(e: EventKey, t: int = t, keep: set[int] = keep, n: int = len(ops)) -> bool:
                return e[0] == t and e[2] != EVENT_EXIT and e[1] < n and e[1] not in keep

            threads = list(s.threads)
            threads[t] = tuple(ops[i] for i in kept)
            trace = remap_trace(c.trace, c.events, gone, _same)
            yield _with(c, replace(s, threads=tuple(threads)), trace)


def drop_prefill(c: Case) -> Iterator[Case]:
    s = c.schedule
    for pre in chunk_deletions(s.prefill):
        yield _with(c, replace(s, prefill=pre))


def drop_unused_keys(c: Case) -> Iterator[Case]:
    s = c.schedule
    used = {op.key for op in s.prefill} | {op.key for t in s.threads for op in t
                                           if op.kind not in ("iterate", "len")}
    unused = [i for i in range(len(s.keys)) if i not in used]
    if not unused or len(unused) == len(s.keys):
        return
    for drop in ([*unused], *([i] for i in reversed(unused))):
        gone = set(drop)
        kept = [i for i in range(len(s.keys)) if i not in gone]
        new_index = {old: new for new, old in enumerate(kept)}

        def re(op: Op, m: dict[int, int] = new_index) -> Op:
            if op.kind in ("iterate", "len"):
                return op
            return Op(op.kind, m[op.key], op.vtype, op.vsize)

        sched = replace(
            s,
            keys=tuple(s.keys[i] for i in kept),
            prefill=tuple(re(op) for op in s.prefill),
            threads=tuple(tuple(re(op) for op in t) for t in s.threads),
        )
        yield _with(c, sched, origin=tuple(c.origin[i] for i in kept))


def cut_preemptions(c: Case) -> Iterator[Case]:
    """The trace with one decision pair removed (latest first); all pairs at once first."""
    pairs = len(c.trace) // 2
    if pairs == 0:
        return
    yield _with(c, c.schedule, ())
    for p in reversed(range(pairs)):
        yield _with(c, c.schedule, c.trace[: 2 * p] + c.trace[2 * p + 2 :])


def _tiny_hint(limit: int) -> int:
    """The smallest capacity hint whose first table grows after ``limit`` entries."""
    return next(h for h in range(1, GROUP_SLOTS + 1) if growth_threshold(h) == limit)


def tiny_table(c: Case) -> Iterator[Case]:
    """A smaller first table with fewer prefill puts, the growth coming earlier.

    A bug that needs a growth needs the first table filled to its load limit; with
    a full group that is 7 entries, which sets a floor on the witness. evacmap
    takes a capacity hint of 1..7 as a tiny first table that grows after
    ``growth_threshold(hint)`` entries, so the same race can start from a prefill
    of a single key. Each candidate lowers the limit by d and drops d prefill puts
    (latest first; keys that threads use or that the case's violations name stay),
    lowest limit first, down from at most one full group's limit (a hint sizes a
    one-group table only). When d puts can go, the growth comes at the same step of
    the parallel phase and the old trace often still works; otherwise it comes
    earlier and the trace means little. So a candidate is replayed first and, if
    that does not fail the same way, searched (``Case.search``). For a target
    without tiny tables the candidate simply fails to reproduce and is dropped."""
    s = c.schedule
    limit = growth_threshold(s.config.capacity)
    used = {op.key for t in s.threads for op in t if op.kind not in ("iterate", "len")}
    named = {v.key for v in c.violations}
    used |= {i for i, k in enumerate(s.keys) if format_key(k) in named}
    droppable = [i for i, op in enumerate(s.prefill) if op.key not in used]
    for new in range(1, min(limit, growth_threshold(GROUP_SLOTS) + 1)):
        d = min(limit - new, len(droppable))
        gone = set(droppable[len(droppable) - d :])
        sched = replace(
            s,
            config=replace(s.config, capacity=_tiny_hint(new)),
            prefill=tuple(op for i, op in enumerate(s.prefill) if i not in gone),
        )
        yield Case(sched, c.trace, c.origin, c.events, search=True)


def _map_ops(s: Schedule, where: tuple[int, int], op: Op) -> Schedule:
    t, i = where
    if t < 0:
        pre = list(s.prefill)
        pre[i] = op
        return replace(s, prefill=tuple(pre))
    threads = [list(x) for x in s.threads]
    threads[t][i] = op
    return replace(s, threads=tuple(tuple(x) for x in threads))


def simplify_ops(c: Case) -> Iterator[Case]:
    """put_if_absent -> put; every written value -> the smallest int, else its type's
    smallest size."""
    s = c.schedule
    sites = [((-1, i), op) for i, op in enumerate(s.prefill)]
    sites += [((t, i), op) for t, ops in enumerate(s.threads) for i, op in enumerate(ops)]
    for where, op in sites:
        if op.kind == "put_if_absent":
            yield _with(c, _map_ops(s, where, Op("put", op.key, op.vtype, op.vsize)))
    for where, op in sites:
        if op.kind not in WRITE_KINDS or op.vtype is None:
            continue
        if op.vtype != "int":
            yield _with(c, _map_ops(s, where, Op(op.kind, op.key, "int")))
        lo = SIZE_RANGES[op.vtype][0]
        if op.vsize > lo:
            yield _with(c, _map_ops(s, where, Op(op.kind, op.key, op.vtype, lo)))


def simplify_keys(c: Case) -> Iterator[Case]:
    """Each key -> the smallest non-negative int no other key uses (its hash changes:
    only kept when the bug does not depend on where the key lands)."""
    s = c.schedule
    for i, k in enumerate(s.keys):
        taken = {x for x in s.keys if isinstance(x, int) and x is not k}
        n = 0
        while n in taken:
            n += 1
        if isinstance(k, int) and abs(k) <= n:
            continue
        keys = list(s.keys)
        keys[i] = n
        yield _with(c, replace(s, keys=tuple(keys)))


def simplify_config(c: Case) -> Iterator[Case]:
    s = c.schedule
    cfg = s.config
    if cfg.hash_seed:
        yield _with(c, replace(s, config=replace(cfg, hash_seed=0)))
    for cap in (0, 8, 16, 32, 64):
        if cap < cfg.capacity:
            yield _with(c, replace(s, config=replace(cfg, capacity=cap)))


PASSES: tuple[Pass[Case], ...] = (
    Pass("drop threads", drop_threads),
    Pass("drop ops", drop_thread_ops),
    Pass("drop prefill", drop_prefill),
    Pass("merge threads", merge_threads),
    Pass("tiny table", tiny_table),
    Pass("drop keys", drop_unused_keys),
    Pass("cut preemptions", cut_preemptions),
    Pass("simplify ops", simplify_ops),
    Pass("simplify keys", simplify_keys),
    Pass("simplify config", simplify_config),
)
STRESS_PASSES = tuple(p for p in PASSES if p.name != "cut preemptions")


# ---- the predicate and the driver --------------------------------------------------


@dataclass(frozen=True, slots=True)
class StressPolicy:
    """Stress acceptance: at least ``k`` of ``n`` runs fail the same way."""

    k: int = 3
    n: int = 10
    final_runs: int = 40
    """Runs (fresh seeds) that measure the result's reproduction rate."""


@dataclass(slots=True)
class TminResult:
    before: Case
    after: Case
    signature: Signature
    calls: int
    elapsed_s: float
    exhausted: bool
    accepted: dict[str, int]
    reproduction_rate: float | None
    reproducer: Reproducer


def _controlled_spec(r: Reproducer, trace: tuple[int, ...]) -> RunSpec:
    return RunSpec(mode="controlled", strategy=r.spec.strategy, seed=r.spec.seed,
                   pct_depth=r.spec.pct_depth, replay=trace, step_bound=r.spec.step_bound)


def _stress_specs(r: Reproducer, first: int, n: int) -> list[RunSpec]:
    return [RunSpec(mode="stress", seed=r.spec.seed + first + i, noise=r.spec.noise)
            for i in range(n)]


def _from_attempt(c: Case, a: Attempt) -> Case:
    o = a.outcome
    if o is None:
        # the target died: keep the decisions it took up to the death (controlled
        # crash, from the worker's shared trace mirror), with no event log to remap
        return Case(c.schedule, a.trace or c.trace, c.origin, (), 0, a.violations)
    ex = o.execution
    events = tuple((e.thread, e.op, e.kind) for e in ex.events)
    if ex.events_truncated:
        events = ()  # an incomplete log cannot remap steps: keep the trace as it is
    return Case(c.schedule, ex.trace, c.origin, events, ex.preemptions, a.violations)


def minimise(
    r: Reproducer,
    runs: Runs,
    *,
    seconds: float | None = 60.0,
    max_calls: int | None = None,
    stress: StressPolicy | None = None,
    found: dict[str, object] | None = None,
    research_budget: int = RESEARCH_BUDGET,
) -> TminResult:
    """Shrink reproducer ``r``; raises TminError when ``r`` does not fail as recorded."""
    if not r.violations:
        raise TminError("the reproducer records no violation: nothing to keep while shrinking")
    start = time.monotonic()
    sig = signature_of(r.violations[0], r.schedule)
    controlled = r.spec.mode == "controlled"
    policy = stress or StressPolicy()
    origin = tuple(range(len(r.schedule.keys)))
    initial = Case(r.schedule, r.trace if controlled else (), origin)

    def run_controlled(c: Case) -> Case | None:
        a = runs.attempts(c.schedule, [_controlled_spec(r, c.trace)])[0]
        if c.search and not sig.matches(a.violations, c):
            for _, a in search(runs, c.schedule, research_budget):
                if a.outcome is not None and sig.matches(a.violations, c):
                    break
        if not sig.matches(a.violations, c):
            return None
        return _from_attempt(c, a)

    def run_stress(c: Case) -> Case | None:
        hits = 0
        last: Attempt | None = None
        for i, spec in enumerate(_stress_specs(r, 0, policy.n)):
            a = runs.attempts(c.schedule, [spec])[0]
            if sig.matches(a.violations, c):
                hits += 1
                last = a
            if hits >= policy.k:
                break
            if hits + (policy.n - i - 1) < policy.k:
                return None
        assert last is not None
        return Case(c.schedule, (), c.origin, (), 0, last.violations)

    predicate = run_controlled if controlled else run_stress
    first = predicate(initial)
    if first is None:
        if controlled:
            raise TminError(
                f"the input does not reproduce {sig.describe(r.schedule.keys)} under its "
                "recorded trace; check it with: mapfuzz repro <file>")
        raise TminError(
            f"the input does not reproduce {sig.describe(r.schedule.keys)} in "
            f"{policy.k} of {policy.n} stress runs. Try first `mapfuzz repro --to-controlled "
            "<file> -o DIR` (a controlled witness replays exactly and shrinks "
            f"deterministically), or accept rarer failures with --min-hits (below "
            f"{policy.k}) and more --runs")
    result = shrink(first, predicate, PASSES if controlled else STRESS_PASSES, case_size,
                    max_calls=max_calls, seconds=seconds)
    after = result.value
    rate: float | None = None
    if not controlled:
        attempts = runs.attempts(after.schedule,
                                 _stress_specs(r, policy.n, policy.final_runs))
        rate = sum(1 for a in attempts if sig.matches(a.violations, after)) / policy.final_runs
    out = Reproducer(
        target_name=r.target_name,
        target_path=r.target_path,
        abi_version=r.abi_version,
        spec=r.spec if not controlled else replace(r.spec, replay=None),
        schedule=after.schedule,
        trace=after.trace,
        trace_hash=None,
        violations=lead_with(sig, after),
        found=dict(found or {}),
    )
    if controlled:
        a = runs.attempts(after.schedule, [_controlled_spec(r, after.trace)])[0]
        if a.outcome is not None:
            out = replace(out, trace_hash=a.outcome.execution.trace_hash)
    return TminResult(
        before=first,
        after=after,
        signature=sig,
        calls=result.calls,
        elapsed_s=time.monotonic() - start,
        exhausted=result.exhausted,
        accepted=result.accepted,
        reproduction_rate=rate,
        reproducer=out,
    )


def sizes(c: Case) -> dict[str, int]:
    """The ``before``/``after`` object of ``mapfuzz tmin --json``."""
    return {"threads": len(c.schedule.threads), "ops": total_ops(c.schedule),
            "preemptions": c.preemptions}


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def size_text(d: dict[str, int]) -> str:
    """A ``sizes`` object in words: "2 threads, 3 ops, 1 preemption"."""
    return (f"{_n(d['threads'], 'thread')}, {_n(d['ops'], 'op')}, "
            f"{_n(d['preemptions'], 'preemption')}")


__all__ = [
    "PASSES",
    "Case",
    "LocalRuns",
    "Runs",
    "Signature",
    "StressPolicy",
    "TminError",
    "TminResult",
    "WorkerRuns",
    "merge_threads",
    "minimise",
    "remap_trace",
    "signature_of",
    "size_text",
    "sizes",
    "tiny_table",
]
