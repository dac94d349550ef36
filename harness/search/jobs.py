"""``--jobs N``: N worker processes on one campaign, on this machine.

One Python thread per worker process takes a slice of input indices from the
campaign's :class:`~harness.search.slices.Ledger`, runs it in its worker
(:func:`~harness.search.slices.run_slice`, the GIL is free while the worker runs) and
hands the result to the calling thread, which does all the bookkeeping: progress,
deduplication, reproducer files. A crashed worker restarts inside ``run_slice``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.run.worker import Finding, Worker
from harness.search.engine import RandomEngine
from harness.search.slices import BATCH_SECONDS, Ledger, SliceResult, run_slice

MIN_SLICE = 8
MAX_SLICE = 1 << 14


def slice_size(execs: int, seconds: float, aim: float = BATCH_SECONDS) -> int:
    """Inputs that take about ``aim`` seconds at the rate just measured, a multiple
    of 8 (the engine's seeds per schedule, so a schedule is compiled once)."""
    if execs <= 0 or seconds <= 0:
        return MIN_SLICE
    return max(MIN_SLICE, min(MAX_SLICE, int(execs / seconds * aim) // 8 * 8))


class Feed:
    """What the executors share: the ledger behind its lock, the deadline, and whether
    the campaign stops at its first finding."""

    def __init__(self, ledger: Ledger, deadline: float, *, first_only: bool) -> None:
        self.ledger = ledger
        self.lock = threading.Lock()
        self.deadline = deadline
        self.first_only = first_only

    def take(self, size: int) -> tuple[int, int] | None:
        if self.deadline - time.perf_counter() <= 0:
            return None
        with self.lock:
            return self.ledger.take(size)

    def put(self, res: SliceResult) -> Done:
        """Record a slice's result at once (so a first finding stops the hand-out before
        the next take); the findings it releases go with it to the bookkeeping."""
        with self.lock:
            return Done(res, self.ledger.put(res))


@dataclass(frozen=True, slots=True)
class Done:
    """A slice's result and the findings the ledger released with it (index order)."""

    result: SliceResult
    released: list[Finding]


def run_jobs(
    jobs: int,
    target_spec: str,
    engine: RandomEngine,
    feed: Feed,
    on_result: Callable[[Done], None],
) -> None:
    """Run the campaign's slices on ``jobs`` worker processes until the feed is empty
    or the deadline passes; ``on_result`` is called in this thread for every slice.
    On KeyboardInterrupt the workers finish their slices (at most a batch each) and
    their results are still handed over before the interrupt goes on."""
    results: queue.Queue[Done | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def loop() -> None:
        size = MIN_SLICE
        try:
            with Worker(target_spec) as worker:
                while not stop.is_set() and (sl := feed.take(size)) is not None:
                    left = feed.deadline - time.perf_counter()
                    res = run_slice(worker, engine, *sl, left, first_only=feed.first_only)
                    results.put(feed.put(res))
                    size = slice_size(res.execs, res.seconds)
        except BaseException as exc:
            results.put(exc)
        finally:
            results.put(None)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(jobs)]
    for t in threads:
        t.start()
    running = len(threads)
    error: BaseException | None = None
    interrupted = False
    while running:
        try:
            item = results.get()
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            continue
        if item is None:
            running -= 1
        elif isinstance(item, BaseException):
            error = error or item
            stop.set()
        else:
            on_result(item)
    for t in threads:
        t.join()
    if interrupted:
        raise KeyboardInterrupt
    if error is not None:
        raise error
