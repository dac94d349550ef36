"""The oracle's exact shortcuts agree with its general code on real runner histories.

``checker.FAST_PATHS`` (a key whose operations never overlap) and
``iteration.FAST_PATHS`` (quiescent iterate/len rules, inlined len bounds) may only
answer what the general code answers: the whole Verdict (status, violations with
their witnesses and sentences, unknown keys, stats) must be the same with them on and
off, on correct and on seeded-bug maps.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from harness.data.history import History
from harness.data.plan import compile_schedule, to_history
from harness.data.schedule import MapConfig
from harness.oracle import Verdict, check, checker, iteration
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.generate import GenConfig, generate

N_EXEC = int(os.environ.get("MAPFUZZ_FASTPATH_N", "2000"))
VARIANTS = (None, "iter-no-snapshot", "iter-skips-evacuated", "iter-no-home-filter",
            "delete-absent-decrements", "put-if-absent-no-recheck",
            "evac-mark-before-copy", "publish-ctrl-before-value", "free-blob-at-once",
            "delete-fast-path-skips-lock")


def _with(flag: bool, h: History) -> Verdict:
    old = checker.FAST_PATHS, iteration.FAST_PATHS
    checker.FAST_PATHS = iteration.FAST_PATHS = flag
    try:
        return check(h)
    finally:
        checker.FAST_PATHS, iteration.FAST_PATHS = old


def _histories(t: Target, n: int) -> Iterator[History]:
    rng = random.Random(20261121)
    with Runner(t) as r:
        per = max(1, n // (len(VARIANTS) * 10))
        i = 0
        while i < n:
            variant = VARIANTS[(i // per) % len(VARIANTS)]
            cfg = GenConfig(threads=rng.choice((2, 3, 4)), ops_per_thread=rng.choice((8, 16)),
                            keys=rng.choice((2, 4, 8)), capacity=None)
            plan = compile_schedule(generate(rng, cfg, MapConfig("evacmap", variant)),
                                    t.variants)
            for _ in range(per):
                ex = r.run(plan, seed=rng.getrandbits(32), record_events=False)
                for conc in (True, False):
                    yield to_history(plan, ex, iterate_concurrent=conc, exact_len=conc)
                i += 1


def test_fast_paths_agree_with_general_code_on_runner_histories() -> None:
    t = Target.load("evacmap")
    counts = {"ok": 0, "violation": 0, "unknown": 0}
    for h in _histories(t, N_EXEC):
        fast, slow = _with(True, h), _with(False, h)
        assert fast == slow
        counts[fast.status] += 1
    # both kinds of history were exercised
    assert counts["ok"] > 0 and counts["violation"] > 0, counts


@pytest.mark.parametrize("seed", range(40))
def test_fast_paths_agree_on_mutated_histories(seed: int) -> None:
    """Runner histories with results tampered with: shortcuts must step aside."""
    t = Target.load("evacmap")
    rng = random.Random(seed)
    for h in _histories_small(t, rng):
        for _ in range(4):
            m = _mutate(rng, h)
            assert _with(True, m) == _with(False, m)


def _histories_small(t: Target, rng: random.Random) -> Iterator[History]:
    with Runner(t) as r:
        for _ in range(3):
            cfg = GenConfig(threads=rng.choice((1, 2, 3)), ops_per_thread=8, keys=4)
            plan = compile_schedule(generate(rng, cfg, MapConfig("evacmap", None)), t.variants)
            ex = r.run(plan, seed=rng.getrandbits(32), record_events=False)
            yield to_history(plan, ex, iterate_concurrent=True, exact_len=True)


def _mutate(rng: random.Random, h: History) -> History:
    import copy

    m = copy.deepcopy(h)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(m.ops)
        nvals = len(m.values)
        what = rng.random()
        if op.kind == "iterate" and op.items:
            items = list(op.items)
            c = rng.random()
            if c < 0.3:
                items.pop(rng.randrange(len(items)))
            elif c < 0.6:
                items.append(rng.choice(items))
            else:
                i = rng.randrange(len(items))
                items[i] = (items[i][0], rng.randrange(nvals))
            op.items = items
        elif op.kind == "len" and op.length is not None:
            op.length += rng.choice((-1, 1))
        elif what < 0.5 and op.kind == "get":
            if op.status == "found":
                op.status, op.out = "absent", None
            else:
                op.status, op.out = "found", rng.randrange(nvals)
        elif what < 0.8 and op.out is not None:
            op.out = rng.randrange(nvals)
        else:
            op.call, op.ret = (op.call - rng.randint(0, 30),
                               None if op.ret is None or rng.random() < 0.05 else op.ret)
    return m
