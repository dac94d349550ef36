"""JSON-lines history files: a good one parses; each malformation names its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data.history_file import HistoryFileError, read_history
from harness.oracle import check

GOOD = [
    {"thread": 0, "call": 1, "return": 3, "op": "put", "key": "k1", "value": "v1",
     "result": {"status": "inserted"}},
    {"thread": 1, "call": 2, "return": 4, "op": "get", "key": "k1",
     "result": {"status": "found", "value": "v1"}},
    {"thread": 0, "call": 5, "return": 6, "op": "put", "key": "k1", "value": "v2",
     "result": {"status": "replaced", "old": "v1"}},
    {"thread": 1, "call": 7, "return": 8, "op": "put_if_absent", "key": "k1", "value": "v3",
     "result": {"status": "present", "value": "v2"}},
    {"thread": 1, "call": 9, "return": 10, "op": "delete", "key": "k1",
     "result": {"status": "removed", "old": "v2"}},
    {"thread": 2, "call": 9, "return": None, "op": "put", "key": "k2", "value": "w1"},
]


def write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_good_file(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in GOOD]
    lines.insert(2, "   ")
    h = read_history(write(tmp_path, lines))
    assert len(h.ops) == 6 and h.keys == ["k1", "k2"] and h.unique_writes
    put, get = h.ops[0], h.ops[1]
    assert (put.kind, put.status, put.line, put.thread) == ("put", "inserted", 1, 0)
    assert get.out == put.arg and h.values[get.out].writer == 0
    assert h.values[get.out].label == "v1"
    assert h.ops[3].line == 5 and h.ops[5].ret is None and h.ops[5].line == 7
    assert h.values[h.ops[5].arg].writer == 5  # type: ignore[index]
    assert h.values[h.ops[3].arg].writer is None  # put_if_absent present wrote nothing
    assert check(h).status == "ok"


def test_repeated_writes_are_not_unique(tmp_path: Path) -> None:
    again = {"thread": 2, "call": 11, "return": 12, "op": "put", "key": "k1",
             "value": "v1", "result": {"status": "replaced", "old": "v2"}}
    recs = [*GOOD[:3], again]
    h = read_history(write(tmp_path, [json.dumps(r) for r in recs]))
    assert not h.unique_writes
    assert check(h).status == "ok"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ('["a"]', "line 2: expected a JSON object"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "upsert", "key": "k"}',
         "line 2: unknown op 'upsert' (expected get, put, put_if_absent, delete)"),
        ('{"thread": 0, "call": 5, "return": 3, "op": "get", "key": "k",'
         ' "result": {"status": "absent"}}', "line 2: 'return' 3 is before 'call' 5"),
        ('{"call": 1, "return": 2, "op": "get", "key": "k", "result": {"status": "absent"}}',
         "line 2: missing 'thread'"),
        ('{"thread": 0, "call": "1", "return": 2, "op": "get", "key": "k",'
         ' "result": {"status": "absent"}}', "line 2: 'call' must be an integer"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "get", "key": 7,'
         ' "result": {"status": "absent"}}', "line 2: 'key' must be a string"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "put", "key": "k",'
         ' "result": {"status": "inserted"}}', "line 2: missing 'value'"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k"}',
         "line 2: missing 'result'"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k",'
         ' "result": {"status": "replaced"}}', 'line 2: bad status "replaced" for get'),
        ('{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k",'
         ' "result": {"status": "found"}}', "line 2: get found but 'result.value' is missing"),
        ('{"thread": 0, "call": 1, "return": 2, "op": "delete", "key": "k",'
         ' "result": {"status": "removed", "old": 3}}', "line 2: 'result.old' must be a string"),
    ],
)
def test_malformed_line(tmp_path: Path, bad: str, message: str) -> None:
    p = write(tmp_path, [json.dumps(GOOD[0]), bad])
    with pytest.raises(HistoryFileError) as ei:
        read_history(p)
    assert message in str(ei.value)
    assert str(p) in str(ei.value) and ei.value.line == 2


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileError, match="cannot read"):
        read_history(tmp_path / "missing.jsonl")
    p = tmp_path / "bin.jsonl"
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HistoryFileError, match="not UTF-8"):
        read_history(p)
