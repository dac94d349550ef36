"""The hypothesis property (harness/frontends/properties.py): no finding on the correct
map; a seeded variant fails, shrinks, and the shrunk example replays deterministically.

`nox -s fuzz_hypothesis -- N` runs this file with N examples per property
(MAPFUZZ_HYPOTHESIS_EXAMPLES) under the `mapfuzz-ci` profile.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from harness.data.plan import compile_schedule
from harness.frontends.properties import (
    CI_SETTINGS,
    FindingError,
    NoFindingProperty,
    check_schedule,
    runner_for,
)
from harness.run.execute import execute
from harness.run.reproducer import load

EXAMPLES = int(os.environ.get("MAPFUZZ_HYPOTHESIS_EXAMPLES", "60"))
SHRINK_VARIANT = "delete-absent-decrements"
"""A variant hypothesis finds within a few examples (a count drift), so the shrink
test stays quick; the shrunk example has two threads and a couple of ops."""

if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def test_correct_map_yields_no_finding() -> None:
    prop = NoFindingProperty(max_examples=EXAMPLES)
    prop.test()
    assert prop.calls >= EXAMPLES
    assert prop.last_failure is None


def test_seeded_variant_fails_shrinks_and_replays(tmp_path: object) -> None:
    prop = NoFindingProperty(variant=SHRINK_VARIANT, max_examples=max(EXAMPLES, 100))
    with pytest.raises(FindingError) as info:
        prop.test()
    shrunk = prop.last_failure
    assert shrunk is not None and shrunk is info.value
    assert prop.first_failure_call is not None and prop.calls > prop.first_failure_call
    s = shrunk.schedule
    assert s.config.variant == SHRINK_VARIANT
    assert len(s.threads) <= 2 and s.nops <= 4  # shrunk to a handful of operations
    cls = shrunk.violations[0].cls
    # deterministic replay from (schedule, seed): no FlakyFailure possible
    for _ in range(3):
        again = check_schedule(s, shrunk.spec.seed)
        assert again.violations and again.violations[0].cls == cls
        assert again.execution.trace_hash == shrunk.outcome.execution.trace_hash
    # and through a reproducer file, following the recorded decision trace
    from pathlib import Path

    saved = shrunk.save(Path(str(tmp_path)), {"engine": "hypothesis"})
    assert saved.problem is None and saved.path is not None
    r = load(saved.path)
    target, runner = runner_for("evacmap")
    out = execute(runner, target, compile_schedule(r.schedule, target.variants), r.replay_spec())
    assert out.violations and out.violations[0].cls == cls


def test_fuzz_one_input_serves_atheris() -> None:
    prop = NoFindingProperty(max_examples=1)
    fuzz_one_input = prop.test.hypothesis.fuzz_one_input
    for i in range(40):
        fuzz_one_input(bytes((i * 7 + j) % 256 for j in range(200)))  # never raises: correct map
    assert prop.calls > 0


def test_fuzz_one_input_raises_on_a_variant() -> None:
    prop = NoFindingProperty(variant=SHRINK_VARIANT, max_examples=1, settings=CI_SETTINGS)
    fuzz_one_input = prop.test.hypothesis.fuzz_one_input
    raised = 0
    for i in range(300):
        try:
            fuzz_one_input(bytes((i * 31 + j * 17) % 256 for j in range(300)))
        except FindingError:
            raised += 1
    assert raised > 0


def test_unknown_variant_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no variant 'nope'"):
        NoFindingProperty(variant="nope")
