"""The columnar reader of check-history gives exactly what the line-by-line reader gives.

Every file is read both ways (``read_history``: straight into columns when it can;
``read_history_lines``: one Operation per line) and checked; the verdicts must be equal
in every field (status, findings with their witnesses and sentences, unknown keys and
the counts in ``stats``), on linearizable histories, mutated ones (violations), tight
budgets (unknowns), pending operations and repeated values, small and big.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.data.history import History
from harness.data.history_columns import SMALL, OpsView, read_columns
from harness.data.history_file import (
    HistoryFileError,
    history_lines,
    read_history,
    read_history_lines,
)
from harness.data.synth import synthetic_history
from harness.oracle import check, partition
from harness.oracle.checker import check_with
from harness.oracle.vector import owned_columns


def _write(tmp: Path, h: History, name: str = "h.jsonl") -> Path:
    p = tmp / name
    p.write_text("".join(line + "\n" for line in history_lines(h)))
    return p


def _mutate(rng: random.Random, h: History, n: int) -> None:
    """Stale reads, foreign values, lost old values, unreturned writes."""
    ops = h.ops
    nvals = len(h.values)
    for _ in range(n):
        op = ops[rng.randrange(len(ops))]
        r = rng.randrange(5)
        if r == 0 and op.kind == "get" and nvals:
            op.status, op.out = "found", rng.randrange(nvals)
        elif r == 1 and op.kind == "get" and op.status == "found":
            op.status, op.out = "absent", None
        elif r == 2 and op.kind == "put" and op.status == "replaced":
            op.out = None
        elif r == 3 and op.kind != "get":
            op.ret = None
        elif r == 4 and op.kind in ("put", "put_if_absent") and nvals:
            op.arg = rng.randrange(nvals)  # a value written twice: not unique any more


def _both(p: Path, budget: int = 100_000) -> str:
    fast, slow = read_history(p), read_history_lines(p)
    with p.open("rb") as fh:
        assert read_columns(fh) is not None, "the fast path did not take the file"
    if len(fast.ops) >= SMALL:
        assert owned_columns(fast) is not None, "a big file's history is not column-backed"
    assert len(fast.ops) == len(slow.ops) and fast.keys == slow.keys
    assert fast.unique_writes == slow.unique_writes
    a, b = check(fast, budget=budget), check(slow, budget=budget)
    assert a == b, (a, b)
    return a.status


@pytest.mark.parametrize("ops", [300, SMALL + 500])
def test_same_verdicts_on_linearizable_and_mutated_files(tmp_path: Path, ops: int) -> None:
    seen = set()
    for seed in range(8):
        h = synthetic_history(ops=ops, keys=1 + seed * 3, threads=2 + seed, seed=seed,
                              pending=seed % 3)
        assert _both(_write(tmp_path, h)) == "ok"
        _mutate(random.Random(seed), h, 1 + seed % 4)
        seen.add(_both(_write(tmp_path, h)))
    assert "violation" in seen


def test_same_unknown_keys_when_the_budget_runs_out(tmp_path: Path) -> None:
    h = synthetic_history(ops=400, keys=2, threads=12, seed=3, pending=4)
    for o in h.ops[:40]:
        if o.kind == "put" and o.out is not None:
            o.out = None  # unreported old values: the exact search
    p = _write(tmp_path, h)
    assert _both(p, budget=3) == "unknown"
    assert read_history(p).ops[0].line == 1


def test_file_details_match_line_by_line(tmp_path: Path) -> None:
    h = synthetic_history(ops=SMALL + 100, keys=7, threads=5, seed=1, pending=2)
    p = _write(tmp_path, h)
    fast, slow = read_history(p), read_history_lines(p)
    assert isinstance(fast.ops, OpsView)  # big: operations made on demand
    for i in (0, 1, 17, len(slow.ops) - 1):
        assert fast.ops[i] == slow.ops[i]
    assert list(fast.ops) == slow.ops and list(fast.values) == slow.values
    with pytest.raises(TypeError, match="read-only"):
        fast.ops.append(slow.ops[0])


def test_parallel_clearing_gives_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(partition, "PARALLEL_MIN_OPS", 1000)
    for seed in range(3):
        h = synthetic_history(ops=6000, keys=40, threads=6, seed=seed, pending=2)
        _mutate(random.Random(seed), h, 3)
        fast = read_history(_write(tmp_path, h))
        one = check_with(fast, vector=True, procs=1)
        two = check_with(fast, vector=True, procs=2)
        assert one == two == check(read_history_lines(tmp_path / "h.jsonl"))


def test_files_the_fast_path_leaves_read_line_by_line(tmp_path: Path) -> None:
    h = synthetic_history(ops=200, keys=3, threads=3, seed=2)
    lines = list(history_lines(h))
    for name, text in (("blank", "\n".join([*lines[:5], "", *lines[5:]]) + "\n"),
                       ("crlf", "\r\n".join(lines) + "\r\n"),
                       ("no-final-newline", "\n".join(lines))):
        p = tmp_path / f"{name}.jsonl"
        p.write_text(text)
        fast, slow = read_history(p), read_history_lines(p)
        assert [o.line for o in fast.ops] == [o.line for o in slow.ops]
        assert check(fast) == check(slow)


def test_a_malformed_line_far_into_a_big_file_is_named(tmp_path: Path) -> None:
    h = synthetic_history(ops=60_000, keys=10, threads=4, seed=5)
    lines = list(history_lines(h))
    bad = json.loads(lines[50_000])
    bad["call"] = "late"
    lines[50_000] = json.dumps(bad)
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryFileError) as ei:
        read_history(p)
    assert ei.value.line == 50_001 and "'call' must be an integer" in str(ei.value)
