"""Type twins on every target: int 42, MyInt(42), str "42" and bytes b"42" are four
keys, each with its own value, on evacmap and on every adapter that is available
(C adapters and the Go ones, where Go keys are int64, MyInt, string and a byte
array). A map that merged two of them would return one key's value for the other,
answer put with "replaced" for an insert, or count fewer than four: all verdicts the
oracle rejects, which the test also checks on a map that does merge them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.schedule import MapConfig, Op, Schedule
from harness.data.values import MyInt, encode_key
from harness.run import adapters
from harness.run.execute import RunSpec
from harness.run.worker import Worker
from tests.fixtures.runner_support import ROOT, build_so

TWINS = (42, MyInt(42), "42", b"42")
TARGETS = ("evacmap", *sorted(adapters.ADAPTERS))


def _schedule(target: str) -> Schedule:
    """Prefill puts one value into each twin; one thread reads each twin, deletes
    int 42, reads them again, then takes len."""
    reads = tuple(Op("get", i) for i in range(4))
    thread = (*reads, Op("delete", 0), *reads, Op("len"))
    prefill = tuple(Op("put", i, vt) for i, vt in enumerate(("int", "str", "tuple", "float")))
    return Schedule(MapConfig(target=target), TWINS, prefill, (thread,)).validate()


def _gets(outcome: object) -> list[tuple[int | None, str, int | None]]:
    h = outcome.history  # type: ignore[attr-defined]
    return [(op.key, op.status, op.out) for op in h.ops if op.kind == "get" and op.thread == 0]


@pytest.mark.parametrize("target", TARGETS)
def test_twins_are_four_keys(target: str) -> None:
    if target != "evacmap":
        st = {s.name: s for s in adapters.status()}[target]
        if st.path is None:
            pytest.skip(f"{target} adapter unavailable: {st.reason}")
    s = _schedule(target)
    with Worker(target) as worker:
        (outcome,) = worker.run(s, [RunSpec(mode="controlled", seed=1)])
    assert outcome.violations == (), outcome.violations
    assert len({encode_key(k) for k in TWINS}) == 4
    gets = _gets(outcome)
    # first round: each twin found, with four different values
    first = gets[:4]
    assert [st for _, st, _ in first] == ["found"] * 4
    assert len({out for _, _, out in first}) == 4
    # after deleting int 42: only it is gone
    assert [st for _, st, _ in gets[4:]] == ["absent", "found", "found", "found"]
    lens = [op.length for op in outcome.history.ops if op.kind == "len"]
    assert lens[0] == 3


def test_a_map_that_merges_twins_is_caught(tmp_path: Path) -> None:
    """The same schedule on a map that compares keys without their tag byte (int 42
    and MyInt(42) share a payload, so they collapse): the oracle must object, so
    the test above can fail."""
    so = build_so(ROOT / "tests" / "fixtures" / "tinymap.c", tmp_path / "tinymap.so",
                  "TINYMAP_IGNORE_TAG")
    with Worker(str(so)) as worker:
        (outcome,) = worker.run(_schedule(str(so)), [RunSpec(mode="controlled", seed=1)])
    assert outcome.violations
