"""``--cluster ADDRESS``: a campaign's slices as tasks on a Dask distributed cluster.

The client (this process) keeps the campaign's :class:`~harness.search.slices.Ledger`
and submits slices of input indices as tasks, two per Dask worker thread, so no
worker waits for the next one. Each task runs its slice in a mapfuzz worker process
on the Dask worker (:func:`slice_task`; one kept per Dask worker thread and target),
so a target that crashes kills that mapfuzz worker, never the Dask worker: the crash
is a finding of the slice like any other. Findings travel back inside the task's
result and the client writes the reproducers. A Dask worker that dies mid-slice
loses nothing: the scheduler runs its task again elsewhere, and since input i is a
pure function of (seed, i) the re-run finds exactly what the lost run would have.

Dask worker processes must be allowed to start processes of their own: a nanny's
worker is daemonic by default, so start workers with
``DASK_DISTRIBUTED__WORKER__DAEMON=False`` (``--cluster local`` sets it itself).
Every Dask worker needs mapfuzz installed and the target: the built-in evacmap, an
adapter by name, or a ``.so`` at the same path as on the client.

Needs the cluster extra: ``pip install 'mapfuzz[cluster]'``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.run.worker import Worker
from harness.search.engine import RandomEngine
from harness.search.jobs import MIN_SLICE, Done, Feed, slice_size
from harness.search.slices import SliceResult, run_slice

INSTALL_HINT = "pip install 'mapfuzz[cluster]'"
TASK_SECONDS = 1.0
"""A task runs about this long (the rate measured on earlier slices sets the size)."""
LOCAL_WORKERS = 2
DAEMON_HINT = (
    "this Dask worker is a daemonic process and cannot start mapfuzz's worker process; "
    "start the Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
)


class ClusterError(Exception):
    """The cluster cannot be used (extra missing, no scheduler at the address, ...)."""


_WORKERS: dict[tuple[str, int], Worker] = {}
_WORKERS_LOCK = threading.Lock()


def slice_task(
    target_spec: str, engine: RandomEngine, start: int, end: int, seconds: float,
    first_only: bool,
) -> SliceResult:
    """A Dask task: run inputs ``[start, end)`` in this Dask worker's mapfuzz worker
    process (started on first use, restarted after a crash by ``run_slice``)."""
    if mp.current_process().daemon:
        raise ClusterError(DAEMON_HINT)
    slot = (target_spec, threading.get_ident())  # one per Dask worker thread
    with _WORKERS_LOCK:
        worker = _WORKERS.get(slot)
        if worker is None:
            worker = _WORKERS[slot] = Worker(target_spec)
    return run_slice(worker, engine, start, end, seconds, first_only=first_only)


def close_workers() -> int:
    """Stop this Dask worker's mapfuzz worker processes (run on every worker at the end
    of a campaign); how many there were."""
    with _WORKERS_LOCK:
        n = len(_WORKERS)
        for worker in _WORKERS.values():
            worker.close()
        _WORKERS.clear()
    return n


@contextlib.contextmanager
def _closing(client: Any) -> Iterator[Any]:
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.run(close_workers)


@contextlib.contextmanager
def connect(address: str, *, local_workers: int = LOCAL_WORKERS) -> Iterator[Any]:
    """A Dask client for ``address`` ("local": a LocalCluster of ``local_workers``
    processes with one thread each, on this machine, closed at the end)."""
    try:
        dask: Any = importlib.import_module("dask")
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise ClusterError(f"--cluster needs Dask distributed: {INSTALL_HINT}") from None
    Client = distributed.Client
    if address == "local":
        with dask.config.set({"distributed.worker.daemon": False}):
            cluster = distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client, _closing(client):
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"no Dask scheduler answers at {address!r} ({exc}); start one with "
            "`dask scheduler` and give its address (tcp://HOST:8786)") from None
    with client, _closing(client):
        yield client


def threads_of(client: Any) -> int:
    """Worker threads the cluster has now (at least 1)."""
    info = client.scheduler_info()
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def run_on_cluster(
    client: Any,
    target_spec: str,
    engine: RandomEngine,
    feed: Feed,
    on_result: Callable[[Done], None],
) -> None:
    """Run the campaign's slices as tasks until the feed is empty or the deadline
    passes; ``on_result`` is called in this thread for every slice."""
    distributed: Any = importlib.import_module("distributed")
    size = MIN_SLICE * 4
    pending = distributed.as_completed()

    def submit() -> bool:
        sl = feed.take(size)
        if sl is None:
            return False
        left = feed.deadline - time.perf_counter()
        pending.add(client.submit(slice_task, target_spec, engine, sl[0], sl[1], left,
                                  feed.first_only, pure=False))
        return True

    for _ in range(2 * threads_of(client)):
        if not submit():
            break
    try:
        for fut in pending:
            res: SliceResult = fut.result()
            on_result(feed.put(res))
            size = slice_size(res.execs, res.seconds, TASK_SECONDS)
            submit()
    except KeyboardInterrupt:
        for fut in pending.futures:
            fut.cancel()
        raise
