"""A campaign's input indices, cut into slices that any number of workers run.

Input i of a campaign is a pure function of (seed, i) (harness.search.engine), so a
campaign is a walk over the index space and it does not matter which process runs
which index. :class:`Ledger` hands out slices ``[start, end)`` in increasing order
and takes the results back in any order; it releases findings in *index order* as
soon as every lower index has run, so what a campaign reports (the first finding,
each distinct finding's first input, the hit counts for an execution budget) is the
same with one worker, N workers or a cluster.

:func:`run_slice` runs one slice in a worker process (harness.run.worker): a target
that kills the worker is a ``crash``/``hang`` finding for the input it was running,
the worker restarts, and the slice goes on from the next index.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

from harness.data.schedule import to_json
from harness.run.worker import Finding, InputSource, Worker, WorkerDied
from harness.search.engine import RandomEngine

BATCH_SECONDS = 0.25
"""A worker answers at least this often (progress, stop requests)."""


@dataclass(slots=True)
class SliceResult:
    """What running ``[start, end)`` gave: inputs ``[start, stop)`` ran (``stop < end``
    when the time ran out, or at the first finding when the campaign stops there)."""

    start: int
    stop: int
    execs: int = 0
    unknown: int = 0
    features: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    """How long the slice ran (sizes the next one)."""


def died_finding(engine: RandomEngine, died: WorkerDied) -> Finding:
    """The finding for the input that killed (or hung) the worker."""
    return Finding(
        index=died.index,
        schedule=to_json(engine.schedule(died.index)),
        spec=engine.run_spec(died.index),
        violations=(died.violation(),),
        trace=died.trace,  # controlled: the decisions up to the crash (replayable)
        trace_hash=0,
    )


def run_slice(
    worker: Worker,
    engine: RandomEngine,
    start: int,
    end: int,
    seconds: float,
    *,
    first_only: bool,
) -> SliceResult:
    """Run inputs ``[start, end)`` in ``worker`` for at most ``seconds``; with
    ``first_only`` stop at the first finding."""
    res = SliceResult(start, start)
    began = time.perf_counter()
    deadline = began + seconds
    source: InputSource = engine
    while res.stop < end and (left := deadline - time.perf_counter()) > 0:
        try:
            batch = worker.fuzz_batch(source, res.stop, end - res.stop, min(BATCH_SECONDS, left))
        except WorkerDied as died:
            res.findings.append(died_finding(engine, died))
            res.execs += died.index - res.stop + 1
            res.stop = died.index + 1
            if first_only:
                break
            continue
        # feedback may skip indices (harness.search.engine): the batch says where it
        # stopped; never past the slice, which the ledger hands to others
        res.stop = min(end, max(res.stop + batch.execs, batch.next_index))
        res.execs += batch.execs
        res.unknown += batch.unknown
        res.features = max(res.features, batch.features)
        res.findings.extend(batch.findings)
        if batch.findings and first_only:
            break
    res.seconds = time.perf_counter() - began
    return res


class Ledger:
    """Which input indices are handed out, which have run, and which findings may be
    released. Not thread-safe: callers hold one lock around it.

    ``limit``: the execution budget (indices ``[0, limit)``); ``first_only``: the
    campaign stops at its first finding, so once a finding at index f is known no
    index above f is handed out, and only the lowest finding is released.
    ``align``: slices end on multiples of it (the engine's seeds per schedule), so the
    engine's feedback, which skips only to the next schedule's first input, never
    skips across a slice: the inputs run do not depend on how the range was cut.
    """

    def __init__(self, limit: int, *, first_only: bool, align: int = 1) -> None:
        self.align = max(1, align)
        self.next = 0
        self.stop_at = limit
        self.first_only = first_only
        self.prefix = 0
        """Every index below it has run."""
        self._done: dict[int, int] = {}
        self._held: list[tuple[int, int, Finding]] = []
        self._seq = 0

    def take(self, size: int) -> tuple[int, int] | None:
        """The next slice, or None when nothing is left to hand out."""
        if self.next >= self.stop_at:
            return None
        end = -(-(self.next + size) // self.align) * self.align
        start, self.next = self.next, min(end, self.stop_at)
        return start, self.next

    def put(self, res: SliceResult) -> list[Finding]:
        """Record a slice's result; the findings now released, in index order."""
        for f in res.findings:
            heapq.heappush(self._held, (f.index, self._seq, f))
            self._seq += 1
            if self.first_only:
                self.stop_at = min(self.stop_at, f.index + 1)
        self._done[res.start] = res.stop
        while self.prefix in self._done:
            stop = self._done.pop(self.prefix)
            if stop == self.prefix:
                self._done[stop] = stop  # an empty slice: keep the gap open
                break
            self.prefix = stop
        return self._release(self.prefix)

    def flush(self) -> list[Finding]:
        """At the end: every finding still held (those above a gap the time budget
        left), in index order."""
        return self._release(self.stop_at)

    def _release(self, below: int) -> list[Finding]:
        out = []
        while self._held and self._held[0][0] < below:
            index, _, f = heapq.heappop(self._held)
            if index < self.stop_at:
                out.append(f)
        return out
