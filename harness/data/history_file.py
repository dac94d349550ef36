"""Reading JSON-lines histories for ``mapfuzz check-history``.

One operation per line (docs/history.md)::

    {"thread": 0, "call": 12, "return": 15, "op": "put", "key": "k1", "value": "v7",
     "result": {"status": "replaced", "old": "v3"}}

``op`` is get, put, put_if_absent or delete; ``return`` null means the operation never
returned (its ``result`` is ignored). Keys and values are strings. Blank lines are
skipped. Anything else malformed raises :class:`HistoryFileError` naming the file, the
line and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from harness.data.history import History, Operation, ValueInfo

_STATUSES = {
    "get": ("found", "absent"),
    "put": ("inserted", "replaced"),
    "put_if_absent": ("inserted", "present"),
    "delete": ("removed", "absent"),
}
# result field carrying a value, per (op, status)
_RESULT_VALUE = {
    ("get", "found"): "value",
    ("put", "replaced"): "old",
    ("put_if_absent", "present"): "value",
    ("delete", "removed"): "old",
}


def history_lines(h: History) -> Iterator[str]:
    """``h`` as JSON lines, the form :func:`read_history` reads (operations that have a
    key: get, put, put_if_absent, delete; values by their labels)."""
    for o in h.ops:
        rec: dict[str, object] = {"thread": o.thread, "call": o.call, "return": o.ret,
                                  "op": o.kind, "key": h.keys[o.key or 0]}
        if o.arg is not None:
            rec["value"] = h.values[o.arg].label
        if o.ret is not None:
            res: dict[str, object] = {"status": o.status}
            field = _RESULT_VALUE.get((o.kind, o.status))
            if field is not None and o.out is not None:
                res[field] = h.values[o.out].label
            rec["result"] = res
        yield json.dumps(rec, separators=(",", ":"))


class HistoryFileError(ValueError):
    """A history file that cannot be read: ``path``, 1-based ``line`` and ``what``."""

    def __init__(self, path: str | os.PathLike[str], line: int, what: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.what = what
        where = f"line {line}: " if line else ""
        super().__init__(f"{self.path}: {where}{what}")


def _int(rec: dict[str, Any], name: str, path: str, line: int, *, null: bool = False) -> int | None:
    if name not in rec:
        raise HistoryFileError(path, line, f"missing '{name}'")
    v = rec[name]
    if v is None and null:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise HistoryFileError(path, line, f"'{name}' must be an integer, got {json.dumps(v)}")
    return v


def _str(v: Any, what: str, path: str, line: int) -> str:
    if not isinstance(v, str):
        raise HistoryFileError(path, line, f"{what} must be a string, got {json.dumps(v)}")
    return v


def read_history(path: str | os.PathLike[str]) -> History:
    """Parse a JSON-lines history file into a :class:`History`: straight into columns
    (harness.data.history_columns) when the file reads exactly that way, else line by
    line (:func:`read_history_lines`, which names the line of any error)."""
    from harness.data.history_columns import read_columns

    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            h = read_columns(fh)
            if h is not None:
                return h
            fh.seek(0)
            data = fh.read()
    except OSError as e:
        raise HistoryFileError(p, 0, f"cannot read: {e.strerror or e}") from None
    return _read_lines(p, data)


def read_history_lines(path: str | os.PathLike[str]) -> History:
    """Parse a JSON-lines history file line by line, one ``Operation`` per line."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise HistoryFileError(p, 0, f"cannot read: {e.strerror or e}") from None
    return _read_lines(p, data)


def _read_lines(p: str, data: bytes) -> History:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise HistoryFileError(p, 0, f"not UTF-8 text: {e}") from None
    h = History()
    key_ids: dict[str, int] = {}
    # values are interned per (key, string): the same string under two keys is two values
    val_ids: dict[tuple[int, str], int] = {}
    writes: set[int] = set()

    def key_id(k: str) -> int:
        i = key_ids.get(k)
        if i is None:
            i = key_ids[k] = len(h.keys)
            h.keys.append(k)
            h.key_known.append(True)
        return i

    def value_id(k: int, v: str) -> int:
        i = val_ids.get((k, v))
        if i is None:
            i = val_ids[(k, v)] = len(h.values)
            h.values.append(ValueInfo(None, k, v))
        return i

    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            raise HistoryFileError(p, n, f"not JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(rec, dict):
            raise HistoryFileError(p, n, "expected a JSON object")
        op = rec.get("op")
        if op not in _STATUSES:
            if op is None:
                raise HistoryFileError(p, n, "missing 'op'")
            raise HistoryFileError(
                p, n, f"unknown op {json.dumps(op).replace(chr(34), chr(39))} "
                "(expected get, put, put_if_absent, delete)")
        thread = _int(rec, "thread", p, n)
        call = _int(rec, "call", p, n)
        ret = _int(rec, "return", p, n, null=True)
        assert thread is not None and call is not None
        if ret is not None and ret < call:
            raise HistoryFileError(p, n, f"'return' {ret} is before 'call' {call}")
        if "key" not in rec:
            raise HistoryFileError(p, n, "missing 'key'")
        k = key_id(_str(rec["key"], "'key'", p, n))
        arg: int | None = None
        if op in ("put", "put_if_absent"):
            if "value" not in rec:
                raise HistoryFileError(p, n, f"missing 'value' (needed by {op})")
            arg = value_id(k, _str(rec["value"], "'value'", p, n))
        status = "pending"
        out: int | None = None
        if ret is not None:
            res = rec.get("result")
            if not isinstance(res, dict):
                raise HistoryFileError(
                    p, n, "missing 'result'" if res is None else "'result' must be an object")
            status = res.get("status")  # type: ignore[assignment]
            if status not in _STATUSES[op] and status != "error":
                raise HistoryFileError(
                    p, n, f"bad status {json.dumps(status)} for {op} "
                    f"(expected {' or '.join(_STATUSES[op])})")
            field = _RESULT_VALUE.get((op, status))
            if field is not None and res.get(field) is not None:
                out = value_id(k, _str(res[field], f"'result.{field}'", p, n))
            elif op == "get" and status == "found":
                raise HistoryFileError(p, n, "get found but 'result.value' is missing")
        idx = len(h.ops)
        h.ops.append(Operation(thread, op, k, call, ret, status, arg, out, line=n))
        if arg is not None and (ret is None or status in ("inserted", "replaced", "error")):
            vi = h.values[arg]
            if arg in writes:
                h.unique_writes = False
            else:
                writes.add(arg)
                vi.writer = idx
    if not h.ops:
        raise HistoryFileError(p, 0, "no operations (an empty history proves nothing; "
                               "expected one JSON object per line)")
    return h
