"""Where a target grows: a sequential probe read through its structural events.

A target with MF_CAP_EVENTS reports each growth it begins. One probe schedule puts
``PROBE_INSERTS`` distinct keys in its prefill, in order, with no concurrency; the
grow-begin events it reports give the insert counts at which the map began growing
(its first threshold and the later ones, 2x, 4x ... for a doubling map). The swarm
generator aims some schedules' prefills just under one of them (``GenConfig.growths``),
so that the parallel phase's few fresh inserts cross it.

The probe runs in a worker process (a target that crashes on it takes down the
worker, not the campaign; the campaign then simply has no calibration). It is a
pure function of the target: every process that builds the engine gets the same
counts, so input i stays a pure function of (campaign seed, i) for a given target.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.data.schedule import MapConfig, Op, Schedule
from harness.run.execute import MF_CAP_EVENTS, Outcome, RunSpec
from harness.run.runner import THREAD_SEQ, Execution
from harness.run.target import Target
from harness.run.worker import Worker, WorkerDied, WorkerError

PROBE_INSERTS = 2100
"""Distinct keys the probe inserts: past the largest prefill a swarm shape aims at."""
PROBE_SEED = 0x6772_6F77_7468_7072
"""The probe's hash seed (a count-triggered growth does not depend on it)."""


def probe_schedule(base: MapConfig, capacity: int, inserts: int = PROBE_INSERTS) -> Schedule:
    """``inserts`` distinct int keys put in order by the prefill; one thread reads one."""
    keys = tuple(range(1, inserts + 1))
    prefill = tuple(Op("put", i, "int") for i in range(inserts))
    config = MapConfig(base.target, base.variant, PROBE_SEED, capacity)
    return Schedule(config, keys, prefill, ((Op("get", 0),),)).validate()


def growth_points(execution: Execution, nprefill: int) -> tuple[int, ...]:
    """The 1-based prefill inserts during which a growth began (the prefill's op i is
    called at clock 2i and returns at 2i + 1)."""
    return tuple(sorted({e.clock // 2 + 1 for e in execution.structural
                         if e.kind == "grow-begin" and e.thread == THREAD_SEQ
                         and e.clock < 2 * nprefill}))


def probe_growths(run: Callable[[Schedule], Outcome], base: MapConfig,
                  capacity: int) -> tuple[int, ...]:
    """Run the probe with ``run`` and read its growth points."""
    schedule = probe_schedule(base, capacity)
    return growth_points(run(schedule).execution, len(schedule.prefill))


_measured: dict[tuple[object, ...], tuple[int, ...]] = {}


def calibrate(target: Target, base: MapConfig, capacity: int) -> tuple[int, ...]:
    """The target's growth points under capacity hint ``capacity``, measured in a
    worker process (once per process for a given library file, variant and hint);
    () for a target without MF_CAP_EVENTS or one the probe kills."""
    if not target.caps & MF_CAP_EVENTS:
        return ()
    try:
        stamp: object = os.stat(target.path).st_mtime_ns if target.path else None
    except OSError:
        stamp = None
    key = (target.spec, target.path, stamp, base.variant, capacity)
    if key not in _measured:
        spec = RunSpec(mode="controlled", strategy="pct", seed=0)
        try:
            with Worker(target.spec) as worker:
                _measured[key] = probe_growths(lambda s: worker.run(s, [spec])[0],
                                               base, capacity)
        except (WorkerDied, WorkerError):
            _measured[key] = ()
    return _measured[key]
