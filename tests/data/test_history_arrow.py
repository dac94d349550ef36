"""The Arrow reader of check-history (``read_columns``) against the exact reader.

* On every file it takes, the columns, operations, values, keys and verdicts are
  exactly what the line-by-line reader gives (``read_history_lines``): non-ASCII and
  escaped strings, unknown fields at any depth, pending operations, ``error``
  statuses, CRLF, shuffled fields, values written twice, one string under two keys.
* Every file it cannot read exactly (a field given twice, ``return`` missing rather
  than null, a line break ``str.splitlines`` sees inside a string, a number with no
  int64 form, bytes that are not UTF-8, ...) it refuses, and ``read_history`` then
  gives what the line-by-line reader gives: the same history or the same error,
  naming the same line.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from harness.data import history_columns
from harness.data.history import NULL, History, build_columns
from harness.data.history_columns import SMALL, OpsView, read_columns
from harness.data.history_file import (
    HistoryFileError,
    history_lines,
    read_history,
    read_history_lines,
)
from harness.data.synth import synthetic_history
from harness.oracle import check
from harness.oracle.vector import owned_columns
from tests.data.test_history_file import GOOD as GOOD_OPS

OPS: list[dict[str, Any]] = GOOD_OPS  # every op and status, one pending


def _write(tmp: Path, text: str | bytes, name: str = "h.jsonl") -> Path:
    p = tmp / name
    if isinstance(text, str):
        text = text.encode()
    p.write_bytes(text)
    return p


def _lines(recs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def _same(fast: History, slow: History) -> None:
    """Exactly the same history, columns included."""
    assert fast.keys == slow.keys and fast.key_known == slow.key_known
    assert fast.unique_writes == slow.unique_writes
    assert list(fast.ops) == slow.ops
    assert list(fast.values) == slow.values
    if isinstance(fast.ops, OpsView):
        cols, exact = owned_columns(fast), build_columns(slow)
        assert cols is not None and exact is not None and cols.equals(exact)
    assert check(fast) == check(slow)


def _taken(p: Path) -> History:
    """The fast path reads ``p`` and gives what the exact reader gives."""
    fast = read_columns(p)
    assert fast is not None, "the fast path refused the file"
    _same(fast, read_history_lines(p))
    return fast


def test_every_op_status_and_field(tmp_path: Path) -> None:
    recs = [*OPS,
            {"thread": 3, "call": 11, "return": 12, "op": "put", "key": "k3", "value": "x",
             "result": {"status": "error"}},
            {"thread": 3, "call": 13, "return": 14, "op": "get", "key": "k3",
             "result": {"status": "error"}},
            {"thread": 4, "call": 15, "return": None, "op": "delete", "key": "k1",
             "result": {"status": "bogus", "old": "v9"}},  # pending: result ignored
            {"thread": 4, "call": 16, "return": None, "op": "get", "key": "k1"},
            {"thread": 5, "call": 17, "return": 18, "op": "put", "key": "k1", "value": "v4",
             "result": {"status": "replaced", "old": None}},
            {"thread": 5, "call": 19, "return": 20, "op": "get", "key": "k1", "value": "ignored",
             "result": {"status": "absent", "value": "also ignored", "old": "and this"}}]
    h = _taken(_write(tmp_path, _lines(recs)))
    assert [o.status for o in h.ops][6:9] == ["error", "error", "pending"]


def test_strings_of_every_kind(tmp_path: Path) -> None:
    names = ["k", "é", "ключ", "😀", "a\"b\\c", "tab\there", "nul\x00", "\u2028 escaped",
             "", " ", "k\n", "v1"]
    recs = []
    for i, name in enumerate(names):
        recs.append({"thread": i, "call": 2 * i, "return": 2 * i + 1, "op": "put",
                     "key": name, "value": names[-1 - i], "result": {"status": "inserted"}})
        recs.append({"thread": i, "call": 2 * i + 1, "return": 2 * i + 2, "op": "get",
                     "key": name, "result": {"status": "found", "value": names[-1 - i]}})
    ascii_text = _lines(recs)  # json.dumps escapes every non-ASCII character
    raw_text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs
                       if "\u2028" not in json.dumps(r, ensure_ascii=False))
    a = _taken(_write(tmp_path, ascii_text, "ascii.jsonl"))
    b = _taken(_write(tmp_path, raw_text, "utf8.jsonl"))
    assert "😀" in a.keys and "😀" in b.keys and "\u2028 escaped" in a.keys


def test_unknown_fields_order_whitespace_and_line_ends(tmp_path: Path) -> None:
    rng = random.Random(7)
    out = []
    for r in OPS:
        r = dict(r, meta={"x": [1, {"y": None}], "z": "s"}, n=1.5, flag=True)
        if isinstance(r.get("result"), dict):
            r["result"] = dict(r["result"], extra=[1, 2], note={"a": "b"})
        items = list(r.items())
        rng.shuffle(items)
        out.append("  " + json.dumps(dict(items), indent=None, separators=(" , ", " : ")) + " ")
    _taken(_write(tmp_path, "\n".join(out) + "\n", "lf.jsonl"))
    _taken(_write(tmp_path, "\r\n".join(out) + "\r\n", "crlf.jsonl"))
    _taken(_write(tmp_path, "\n".join(out), "no-final-newline.jsonl"))


def test_repeated_values_and_one_string_under_two_keys(tmp_path: Path) -> None:
    recs = [
        {"thread": 0, "call": 1, "return": 2, "op": "put", "key": "a", "value": "same",
         "result": {"status": "inserted"}},
        {"thread": 1, "call": 1, "return": 2, "op": "put", "key": "b", "value": "same",
         "result": {"status": "inserted"}},
        {"thread": 0, "call": 3, "return": 4, "op": "put", "key": "a", "value": "same",
         "result": {"status": "replaced", "old": "same"}},
        {"thread": 1, "call": 5, "return": 6, "op": "get", "key": "b",
         "result": {"status": "found", "value": "same"}},
    ]
    h = _taken(_write(tmp_path, _lines(recs)))
    assert not h.unique_writes and len(h.values) == 2  # (a, same) and (b, same)


def test_extreme_integers(tmp_path: Path) -> None:
    big = (1 << 63) - 1
    recs = [dict(OPS[0], thread=-5, call=-big, **{"return": big}),
            dict(OPS[1], thread=big, call=-1, **{"return": 0})]
    _taken(_write(tmp_path, _lines(recs)))


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_files_with_random_decoration(tmp_path: Path, seed: int) -> None:
    """Synthetic histories (pending operations, sequential phases), each line with
    its fields shuffled and unknown fields added, some values repeated."""
    rng = random.Random(seed)
    h = synthetic_history(ops=rng.choice((300, 2000)), keys=rng.choice((1, 5, 40)),
                          threads=rng.choice((2, 8, 64)), seed=seed, pending=seed % 3,
                          sequential=rng.choice((0, 20)))
    out = []
    for line in history_lines(h):
        rec = json.loads(line)
        if rng.random() < 0.3:
            rec["trace"] = {"pc": rng.randrange(1000), "tags": ["ß", None]}
        if rec.get("value") is not None and rng.random() < 0.05:
            rec["value"] = "shared"
        items = list(rec.items())
        rng.shuffle(items)
        out.append(json.dumps(dict(items), ensure_ascii=rng.random() < 0.5))
    _taken(_write(tmp_path, "\n".join(out) + "\n"))


def _refused(tmp_path: Path, text: str | bytes) -> Path:
    """A file the fast path refuses; ``read_history`` still reads it as line by line
    does (same history, or same error)."""
    p = _write(tmp_path, text)
    assert read_columns(p) is None
    try:
        slow = read_history_lines(p)
    except HistoryFileError as e:
        with pytest.raises(HistoryFileError) as ei:
            read_history(p)
        assert (ei.value.line, ei.value.what) == (e.line, e.what)
        return p
    _same(read_history(p), slow)
    return p


GOOD = json.dumps(OPS[0])


@pytest.mark.parametrize("bad", [
    '{"thread": 0, "call": 1, "op": "get", "key": "k", "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "a", "key": "b",'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1.0, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}}',
    '{"thread": true, "call": 1, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 99999999999999999999, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}}',
    f'{{"thread": 0, "call": {NULL}, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "\\ud800",'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "a\u2028b",'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k", "value": 5,'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": 7,'
    ' "result": {"status": "absent"}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "found", "value": null}}',
    '{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}} {"thread": 0}',
    '{"thread": 0,\r"call": 1, "return": 2, "op": "get", "key": "k",'
    ' "result": {"status": "absent"}}',  # JSON white space, a line break to splitlines
    '{"thread": 0, "call": 1, "return": null, "op": "put", "key": "k", "value": null}',
    '{"thread": 0, "call": 1, "return": null, "op": "get", "key": "k", "result": 5}',
    '',
    '[1, 2]',
    '{"thread": 0, "call": 1, "return": 2, "op": "frob", "key": "k",'
    ' "result": {"status": "absent"}}',
])
def test_refused_lines_read_as_line_by_line(tmp_path: Path, bad: str) -> None:
    _refused(tmp_path, "\n".join([GOOD, bad, json.dumps(OPS[1])]) + "\n")


def test_refused_bytes(tmp_path: Path) -> None:
    _refused(tmp_path, b"\xef\xbb\xbf" + (GOOD + "\n").encode())  # a BOM
    _refused(tmp_path, (GOOD + "\n").encode() + b'{"key": "\xff"}\n')  # not UTF-8
    _refused(tmp_path, "\n".join([GOOD, "   ", json.dumps(OPS[1])]))  # a blank line


def test_utf8_is_checked_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sequence's first byte ends a block, an ASCII block follows, a continuation
    byte opens the next: not UTF-8 (Arrow does not check). A sequence cut by a block
    boundary alone is fine."""
    monkeypatch.setattr(history_columns, "BLOCK_BYTES", 64)
    bad = b"a" * 63 + b"\xc3" + b"b" * 64 + b"\xa9\n"
    with pytest.raises(history_columns._Reject):
        history_columns._scan(io.BytesIO(bad))
    good = b"a" * 63 + b"\xc3\xa9" + b"b" * 64 + b"\n" + b"c\n"
    assert history_columns._scan(io.BytesIO(good)) == 2


def test_a_line_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_columns, "BLOCK_BYTES", 64)
    long = dict(OPS[0], value="x" * 500)
    _refused(tmp_path, _lines([long, OPS[1]]))


def _big(tmp: Path, edit: int, change: dict[str, Any], drop: str | None = None) -> Path:
    h = synthetic_history(ops=SMALL + 3000, keys=20, threads=8, seed=11)
    lines = list(history_lines(h))
    rec = dict(json.loads(lines[edit]), **change)
    if drop:
        del rec[drop]
    lines[edit] = json.dumps(rec)
    return _write(tmp, "\n".join(lines) + "\n")


def test_missing_return_far_into_a_big_file_is_named(tmp_path: Path) -> None:
    """Arrow reads a missing field as null; line by line a missing ``return`` is an
    error (null is a pending operation): the error names its line."""
    p = _big(tmp_path, 6000, {}, drop="return")
    with pytest.raises(HistoryFileError) as ei:
        read_history(p)
    assert ei.value.line == 6001 and "missing 'return'" in str(ei.value)
    p = _big(tmp_path, 6000, {"return": None})  # null: a pending operation, read fast
    h = read_history(p)
    assert isinstance(h.ops, OpsView) and h.ops[6000].ret is None
    _same(h, read_history_lines(p))


def test_malformed_lines_in_a_big_file_are_named(tmp_path: Path) -> None:
    for change, what in (({"key": 3}, "'key' must be a string"),
                         ({"op": "frob"}, "unknown op 'frob'"),
                         ({"thread": False}, "'thread' must be an integer")):
        p = _big(tmp_path, 5000, change)
        with pytest.raises(HistoryFileError) as ei:
            read_history(p)
        assert ei.value.line == 5001 and what in str(ei.value), str(ei.value)
