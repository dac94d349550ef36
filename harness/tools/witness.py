"""Stress finding -> controlled witness: the same operations, a deterministic interleaving.

A stress reproducer says "this schedule failed while real threads ran freely"; it
replays only by luck. This module searches the controlled scheduler for an
interleaving of the *same schedule* that shows the same violation class, and
writes it as a controlled reproducer, which replays exactly (and tmin can shrink).

The search order is ``harness.search.schedule_search``'s (deterministic, attempt ``i``
uses scheduler seed ``i``). A witness on the same key as the stress finding is
preferred; if none turns up, the first witness of the same class on another key is
returned (``same_key`` says which).

Limitation (STYLE 11): controlled mode explores sequentially consistent
interleavings at the target's schedule points only. A stress finding caused by a
hardware reordering (a missing fence) has no controlled witness; a search that
exhausts its budget is evidence of that, not proof.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer
from harness.run.worker import Attempt
from harness.search.schedule_search import search
from harness.tools.candidates import Case, Runs, Signature, lead_with, signature_of

DEFAULT_BUDGET = 1_000


@dataclass(frozen=True, slots=True)
class WitnessResult:
    reproducer: Reproducer | None
    """The controlled witness, or None when the budget ran out."""
    attempts: int
    """Controlled runs made (up to and including the witness)."""
    same_key: bool
    signature: Signature


def find_witness(r: Reproducer, runs: Runs, budget: int = DEFAULT_BUDGET) -> WitnessResult:
    """Search ``budget`` controlled runs of ``r.schedule`` for ``r``'s violation class."""
    if not r.violations:
        raise ValueError("the reproducer records no violation: there is nothing to witness")
    sig = signature_of(r.violations[0], r.schedule)
    class_only = Signature(sig.cls, None, sig.signal)
    case = Case(r.schedule, (), tuple(range(len(r.schedule.keys))))
    fallback: tuple[RunSpec, Attempt] | None = None
    done = 0
    for spec, a in search(runs, r.schedule, budget):
        done += 1
        if a.outcome is None and not a.trace:
            continue  # a death with no recorded decisions cannot be replayed
        if sig.matches(a.violations, case):
            return WitnessResult(_witness(r, spec, a, sig, case), done, True, sig)
        if fallback is None and class_only.matches(a.violations, case):
            fallback = (spec, a)
    if fallback is not None:
        spec, a = fallback
        return WitnessResult(_witness(r, spec, a, class_only, case), done, False, sig)
    return WitnessResult(None, done, False, sig)


def _witness(r: Reproducer, spec: RunSpec, a: Attempt, sig: Signature, case: Case) -> Reproducer:
    # a crash (same signal) is a witness too: its decisions came from the worker's
    # shared trace mirror, up to the death
    ex = a.outcome.execution if a.outcome is not None else None
    lead = lead_with(sig, replace(case, violations=a.violations))
    return Reproducer(
        target_name=r.target_name,
        target_path=r.target_path,
        abi_version=r.abi_version,
        spec=spec,
        schedule=r.schedule,
        trace=ex.trace if ex is not None else a.trace,
        trace_hash=ex.trace_hash if ex is not None else None,
        violations=lead,
        found={
            "engine": "to-controlled",
            "from_mode": r.spec.mode,
            "from_seed": r.spec.seed,
            "strategy": spec.strategy,
            "seed": spec.seed,
            "pct_depth": spec.pct_depth,
        },
    )


__all__ = ["DEFAULT_BUDGET", "WitnessResult", "find_witness"]
