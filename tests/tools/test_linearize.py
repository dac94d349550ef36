"""The report's linearization attempt: it places every operation of a key when the
map is correct, and stops where the oracle's register violations say it must, naming
a refused operation and why. The history's JSON form round-trips exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.data.history_json import history_from_json, history_to_json
from harness.oracle import check
from harness.run.inputs import load_input
from harness.run.reproducer import Reproducer
from harness.tools.candidates import LocalRuns
from harness.tools.linearize import attempt

REGRESSIONS = sorted((Path(__file__).resolve().parents[2] / "corpus" / "regressions")
                     .glob("*.json"))
REGISTER = ("lost-write", "stale-read")
"""Classes that are per-key linearizability failures of gets, puts and deletes."""


@pytest.fixture(scope="module")
def runs() -> Iterator[Callable[[str], LocalRuns]]:
    """Candidate runs in this process, one per target the reproducers name (the
    regression corpus holds evacmap's and syncmap's)."""
    by_target: dict[str, LocalRuns] = {}

    def on(target: str) -> LocalRuns:
        if target not in by_target:
            by_target[target] = LocalRuns(target)
        return by_target[target]

    yield on
    for r in by_target.values():
        r.close()


def reproducer(path: Path) -> Reproducer:
    r = load_input(path).reproducer
    assert r is not None
    return r


@pytest.mark.parametrize("path", [p for p in REGRESSIONS
                                  if p.name.split("--")[1].startswith(REGISTER)],
                         ids=lambda p: p.name.split("--")[0])
def test_register_violations_stop_the_attempt(
    path: Path, runs: Callable[[str], LocalRuns]
) -> None:
    r = reproducer(path)
    (a,) = runs(r.target_spec).attempts(r.schedule, [r.replay_spec()])
    assert a.outcome is not None
    v = next(v for v in a.violations if v.cls in REGISTER)
    assert v.key is not None
    at = attempt(a.outcome.history, v.key)
    assert at is not None and not at.complete and not at.exhausted
    assert at.stuck and all(why for _, why in at.stuck)
    assert len(at.order) < len(at.ops)


@pytest.mark.parametrize("path", REGRESSIONS[:6], ids=lambda p: p.name.split("--")[0])
def test_correct_map_histories_linearize_on_every_key(
    path: Path, runs: Callable[[str], LocalRuns]
) -> None:
    r = reproducer(path)
    correct = replace(r.schedule, config=replace(r.schedule.config, variant=None))
    (a,) = runs(r.target_spec).attempts(correct, [r.replay_spec()])
    assert a.outcome is not None and check(a.outcome.history).status == "ok"
    h = a.outcome.history
    for key in h.keys:
        at = attempt(h, key)
        assert at is not None and at.complete, (key, at)


def test_history_json_round_trip(local: LocalRuns) -> None:
    r = reproducer(REGRESSIONS[0])
    (a,) = local.attempts(r.schedule, [r.replay_spec()])
    assert a.outcome is not None
    h = a.outcome.history
    back = history_from_json(history_to_json(h))
    assert back.ops == h.ops and back.keys == h.keys and back.values == h.values
    assert check(back).violations == check(h).violations
