"""The bulk clearance of keys (``vector.split``) on several processes, by key group.

Keys are independent (P-compositionality), so the operations of a big history are
split by key id into one group per process; each group is cleared on its own
(``vector.split`` on a history of that group's operations) in a forked child, the
first group in this process, and the results are joined: the operations left to the
plain path (as indices into the whole history), the keys, the steps.

A group's history keeps the whole value table. A value written by an operation of
another group looks unwritten there, so a read of it on this group's keys is never
cleared: it goes to the plain path, which reads the whole history. Clearing is only
ever more cautious than on the whole history, never less, and a cleared key is
cleared with the plain path's exact step count, so the verdict is the same.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from multiprocessing.connection import Connection

import numpy as np

from harness.data.history import KIND_CODE, NULL, STATUS_CODE, Columns, History
from harness.data.history_columns import OpsView

from .vector import Split, owned_columns, split

PARALLEL_MIN_OPS = 200_000
"""Below this many operations one process is faster (a fork costs more than it saves)."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _group(history: History, cols: Columns, idx: np.ndarray) -> History:
    """The history of operations ``idx`` (ascending) with the whole value table; a
    value's writer outside the group reads as no writer."""
    pos = np.full(len(cols), NULL, np.int64)
    pos[idx] = np.arange(len(idx), dtype=np.int64)
    vw = cols.value_writer
    sub = Columns(
        thread=cols.thread[idx], kind=cols.kind[idx], key=cols.key[idx], call=cols.call[idx],
        ret=cols.ret[idx], status=cols.status[idx], arg=cols.arg[idx], out=cols.out[idx],
        value_key=cols.value_key,
        value_writer=np.where(vw == NULL, NULL, pos[np.where(vw == NULL, 0, vw)]),
    )
    h = History(keys=history.keys, key_known=history.key_known)
    h.ops = OpsView(sub)
    h.values = history.values  # a ValuesView over the same value_key array as sub
    return h


def _shared_values(cols: Columns) -> bool:
    """Some value is written by two operations, or reported as replaced or removed by
    two: ``vector.split`` then holds back every key involved, which only the whole
    history shows, so such a history is cleared in one process."""
    arg = cols.arg[cols.arg >= 0]
    if len(arg) and np.bincount(arg).max() > 1:
        return True
    pre = ((cols.kind == KIND_CODE["put"]) & (cols.status == STATUS_CODE["replaced"])) | (
        (cols.kind == KIND_CODE["delete"]) & (cols.status == STATUS_CODE["removed"]))
    old = cols.out[pre & (cols.out >= 0)]
    return bool(len(old) and np.bincount(old).max() > 1)


def _child(conn: Connection, history: History, cols: Columns, idx: np.ndarray,
           budget: int) -> None:
    try:
        res = split(_group(history, cols, idx), budget)
        conn.send(("ok", None if res is None else (idx[res.plain_ops].tolist(), res.keys,
                                                    res.steps)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def split_parallel(history: History, budget: int, procs: int | None = None) -> Split | None:
    """``vector.split(history, budget)``, computed on ``procs`` processes (default: the
    cores) when the history is big enough and has columns; same result."""
    cols = owned_columns(history)
    procs = cores() if procs is None else procs
    if (procs < 2 or cols is None or len(cols) < PARALLEL_MIN_OPS
            or "fork" not in mp.get_all_start_methods()):
        return split(history, budget)
    if len(cols.value_key) != len(history.values) or len(history.ops) != len(cols):
        return None
    if (cols.key < 0).any() or _shared_values(cols):
        return split(history, budget)
    group = cols.key % procs
    parts = [np.flatnonzero(group == g) for g in range(procs)]
    parts = [p for p in parts if len(p)]
    ctx = mp.get_context("fork")
    children = []
    for idx in parts[1:]:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(child, history, cols, idx, budget), daemon=True)
        proc.start()
        child.close()
        children.append((proc, parent))
    results: list[tuple[list[int], int, int] | None] = []
    first = split(_group(history, cols, parts[0]), budget)
    results.append(None if first is None else (parts[0][first.plain_ops].tolist(), first.keys,
                                               first.steps))
    for proc, conn in children:
        try:
            status, payload = conn.recv()
        except EOFError:
            status, payload = "error", f"the clearing process died (exit {proc.exitcode})"
        proc.join()
        if status != "ok":
            raise RuntimeError(f"clearing keys in parallel failed: {payload}")
        results.append(payload)
    if any(r is None for r in results):
        return split(history, budget)
    plain: list[int] = []
    nkeys = steps = 0
    for r in results:
        assert r is not None
        plain.extend(r[0])
        nkeys += r[1]
        steps += r[2]
    plain.sort()
    return Split(plain, nkeys, steps, cols)
